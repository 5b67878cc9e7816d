#!/bin/bash
# GPU proof of the training path (torchrun → nccl, every neural model on CUDA), for a machine with a GPU.
#   bash scripts/gpu_check.sh prepare [DATA_DIR]      # here, after `make demo`: copy the inputs into .device/
#   bash scripts/gpu_check.sh run cuda OUT_DIR [EPOCHS] [DATASET]   # there (or `run cpu` here, to rehearse)
# Optional, after the short proof: LONG_SECONDS=N trains each model again for as many epochs as fit in about
# N seconds (from the proof's seconds per epoch, 3 to 60, early stopping on), into OUT_DIR/long_<model>;
# LONG_MODELS picks and orders them; DCELL_BENCH=1 runs bench/dcell_reference.py on the same device (packed vs per-term loop).
# `prepare` needs the demo's outputs (datasets, genome, cell graphs, GO); .device/ is ~14 MB, small enough
# to copy to a GPU machine that has torch and torch_geometric but not this project's venv.
set -u
D=.device
if [ "${1:-}" = prepare ]; then
  DATA=${2:-data}; mkdir -p $D
  cp "$DATA"/datasets/digenic.parquet "$DATA"/datasets/trigenic.parquet $D/
  cp "$DATA"/sources/s288c_genes.parquet $D/genes.parquet
  cp "$DATA"/sources/go/terms.parquet $D/go_terms.parquet; cp "$DATA"/sources/go/edges.parquet $D/go_edges.parquet
  cp "$DATA"/cell_graphs/string9_1-*.pt $D/string9_1.pt; cp "$DATA"/cell_graphs/string12-*.pt $D/string12.pt
  du -sh $D; exit 0
fi
DEV=${2:-cuda}; OUT_DIR=${3:-/tmp/gpu_check}; EPOCHS=${4:-2}; DATASET=${5:-digenic}
mkdir -p "$OUT_DIR"; export OUT_DIR PYTHONPATH=$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
PY=${PY:-python3}
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi") | tee "$OUT_DIR"/env.txt
$PY -c "import torch, torch_geometric as g; print('torch', torch.__version__, 'pyg', g.__version__, 'cuda', torch.cuda.is_available())" \
  | tee -a "$OUT_DIR"/env.txt
declare -A ARGS=([mlp]="" [dcell]="--go-terms $D/go_terms.parquet --go-edges $D/go_edges.parquet"
                 [dango]="--cell-graph $D/string9_1.pt" [hetero_gnn]="--cell-graph $D/string12.pt --hparam num_layers=1")
MODELS="mlp dcell dango hetero_gnn"
train() {  # prefix, model, epochs: one rank under torchrun, so the process group (nccl on a GPU) and DDP are used
  local prefix=$1 model=$2 epochs=$3; local start; start=$(date +%s)
  # shellcheck disable=SC2086
  $PY -m torch.distributed.run --standalone --nproc_per_node=1 -m torchcell_core.train.run --model "$model" \
    --dataset $D/"$DATASET".parquet --gene-table $D/genes.parquet --out "$OUT_DIR"/"$prefix"_"$model" \
    --epochs "$epochs" --device "$DEV" --wandb disabled --bootstrap 200 ${ARGS[$model]} \
    > "$OUT_DIR"/log_"$prefix"_"$model".txt 2>&1
  echo "$prefix $model epochs=$epochs rc=$? seconds=$(( $(date +%s) - start ))" | tee -a "$OUT_DIR"/summary.txt
}
report() {  # prefix: one line per finished run
  PREFIX=$1 $PY - <<'PY' | tee -a "$OUT_DIR"/summary.txt
import glob, json, os
for path in sorted(glob.glob(os.environ["OUT_DIR"] + "/" + os.environ["PREFIX"] + "_*/metrics.json")):
    m = json.load(open(path))
    print(m["model"], "world", m["world_size"], "parameters", m["num_parameters"], "samples/s",
          round(m["train_samples_per_s"] or 0), "epochs", m["epochs_completed"], "stopped early", m["stopped_early"],
          "test pearson", {k: round(v["pearson"], 3) for k, v in m["splits"]["test"].items()})
PY
}
epochs_within() {  # model, seconds: epochs of the proof run's pace that fit
  $PY -c "import json, sys; h = json.load(open(sys.argv[1]))['history']; s = max(r['seconds'] for r in h)
print(max(3, min(60, int(float(sys.argv[2]) / s))))" "$OUT_DIR"/run_"$1"/metrics.json "$2" 2>/dev/null || echo 0
}
for model in $MODELS; do train run "$model" "$EPOCHS"; done
report run
if [ "${DCELL_BENCH:-0}" = 1 ]; then
  $PY bench/dcell_reference.py --device "$DEV" --genotypes "${DCELL_GENOTYPES:-20000}" --threads 4 \
    --go-files $D/go_terms.parquet $D/go_edges.parquet $D/genes.parquet 2>&1 | tee "$OUT_DIR"/dcell_bench.txt
fi
if [ -n "${LONG_SECONDS:-}" ]; then
  for model in ${LONG_MODELS:-$MODELS}; do
    epochs=$(epochs_within "$model" "$LONG_SECONDS")
    [ "$epochs" -gt 0 ] && train long "$model" "$epochs"
  done
  report long
fi
grep -h "backend\|device" "$OUT_DIR"/log_*.txt | grep -i "training" | head -4
