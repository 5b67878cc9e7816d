# torchcell: `make demo` runs the whole default asset graph; `make test` runs the tests.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/dagster_home

.PHONY: install demo test test-slow test-ui test-hpc ui daemon lint clean

install: $(STAMP)

# torch 2.13.0 (CPU build on this machine's disk) goes in first unless a torch is already
# there, so a GPU user's CUDA build is kept; pyproject allows a range.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m torchcell_assets.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The whole default graph in process (every model on both comparison splits, sweeps): tests marked `slow`, kept out
# of `make test`, whose tests/assets/test_smoke.py runs the same path with one model.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# The browser test: dagster dev on a free 127.0.0.1 port, runs launched through GraphQL as the UI's buttons
# launch them (default executor, checks included), a model run that the benchmarks follow, headless chromium
# screenshots into artifacts/ui/ (chromium is installed with apt if missing).
test-ui: $(STAMP)
	$(BIN)/python -m pytest -q -m ui tests/assets/test_ui.py

# The cluster tests: a one-node SLURM cluster (slurm-wlm and munge installed with apt if missing, run as root
# under a temporary folder) and the services of the other `hpc` tests, started and stopped by the tests.
test-hpc: $(STAMP)
	$(BIN)/python -m pytest -q -m hpc

ui: $(STAMP)
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

daemon: $(STAMP)
	$(BIN)/dagster-daemon run -w workspace.yaml

lint: $(STAMP)
	$(BIN)/ruff check torchcell_core torchcell_assets tests bench scripts
	$(BIN)/ruff format --check torchcell_core torchcell_assets tests bench scripts

clean:
	rm -rf data dagster_home/history dagster_home/storage dagster_home/schedules dagster_home/logs
