"""The code location's default executor: steps forked from a server that preloaded the code location (what a
click in the UI runs), with in-process and spawn still selectable by run config; and its benchmark's CLI."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from torchcell_assets.definitions import DEFS_MODULES, FORK_SERVER_PRELOAD, defs

REPO = Path(__file__).resolve().parents[2]
SPAWN = {"multiprocess": {"start_method": {"spawn": {}}}}
STORAGE = "dagster._core.storage.runs.sqlite.sqlite_run_storage"  # what opening a Dagster instance loads


@pytest.fixture(scope="module")
def job() -> dg.JobDefinition:
    return defs().resolve_implicit_global_asset_job_def()


def executor_config(job: dg.JobDefinition, config: dict) -> dict:
    """The executor's own config after the code location's mapping, as a run with `config` would get it."""
    assert dg.validate_run_config(job, {"execution": {"config": config}} if config else {})
    result = job.executor_def.apply_config_mapping({"config": config})
    assert result.success, result.errors
    return result.value["config"]


def test_default_executor_forks_steps_from_a_server_holding_the_code_location(job):
    start = executor_config(job, {})["multiprocess"]["start_method"]

    assert list(start) == ["forkserver"]
    preload = start["forkserver"]["preload_modules"]
    assert preload == FORK_SERVER_PRELOAD
    assert set(DEFS_MODULES) <= set(preload)
    assert {"torchcell_assets.defs.models.training", "torchcell_assets.defs.graph.assets"} <= set(preload)
    assert {"torch", "torch_geometric"} <= set(preload)  # steps that train or build cell graphs use them
    assert preload[-1] == "torchcell_assets.fork_server"  # builds the definitions once the modules are in


def test_every_preloaded_module_exists():
    # The fork server skips a preload module it cannot import without a word: a renamed module would slow
    # every step down silently.
    missing = [name for name in FORK_SERVER_PRELOAD if importlib.util.find_spec(name) is None]
    assert not missing


def test_in_process_and_spawn_stay_selectable(job):
    assert list(executor_config(job, {"in_process": {}})) == ["in_process"]
    assert executor_config(job, SPAWN)["multiprocess"]["start_method"] == {"spawn": {}}
    chosen = executor_config(job, {"multiprocess": {"max_concurrent": 1}})["multiprocess"]
    assert chosen["max_concurrent"] == 1 and list(chosen["start_method"]) == ["forkserver"]


def test_the_fork_server_readies_definitions_and_instance_for_every_step(tmp_path):
    # In a fresh interpreter: importing `fork_server` (what the fork server does last) must make `defs()`
    # return one object with its repository already built, and load the instance's storage code, so that a
    # forked step neither rebuilds the one nor imports the other.
    code = (
        "import sys\n"
        "import torchcell_assets.definitions as d\n"
        "assert d.defs() is not d.defs()\n"
        f"assert {STORAGE!r} not in sys.modules\n"
        "import torchcell_assets.fork_server\n"
        "built = d.defs()\n"
        "assert built is d.defs()\n"
        "from dagster_shared.utils.cached_method import get_cached_method_cache\n"
        "assert get_cached_method_cache(built, 'get_repository_def')\n"
        f"assert {STORAGE!r} in sys.modules\n"
    )
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_ui_path_bench_help_runs():
    proc = subprocess.run(
        [sys.executable, "bench/ui_path.py", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "--modes" in proc.stdout and "--quick" in proc.stdout
