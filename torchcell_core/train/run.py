"""Entry point: `python -m torchcell_core.train.run --model mlp --dataset d.parquet --gene-table g.parquet --out run/`.

The same command runs one process or, under `torchrun --standalone --nproc_per_node=N -m
torchcell_core.train.run ...` (or `--nnodes`/`--rdzv-endpoint` across machines), one DDP rank per process;
every rank parses the same argv. A second run with the same `--out` resumes from `checkpoints/last.pt`
(`--no-resume` starts afresh).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torchcell_core.hashing import file_sha256, json_digest
from torchcell_core.models.base import build_model
from torchcell_core.train.config import TrainConfig, parse_args
from torchcell_core.train.data import load_run_data
from torchcell_core.train.distributed import barrier, init_distributed, shutdown
from torchcell_core.train.launch import folder_lock
from torchcell_core.train.loop import fit
from torchcell_core.train.report import final_report
from torchcell_core.train.run_dir import RunDir
from torchcell_core.train.tracking import make_tracker

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all CUDA devices too)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build(config: TrainConfig, context: Any) -> torch.nn.Module:
    """The registered model `config.model` from `context` and `config.hparams`, seeded by `config.seed`."""
    seed_everything(config.seed)
    try:
        return build_model(config.model, context, **config.hparams)
    except TypeError as error:
        raise ValueError(f"model {config.model!r} rejected hyperparameters {config.hparams}: {error}") from error


def inputs_digest(config: TrainConfig) -> str:
    """A digest of the contents of the run's input files (those that exist), kept in config.json and in every
    checkpoint: resuming on a dataset, gene table, feature or graph file that changed since is refused."""
    names = ("dataset", "gene_table", "gene_features", "cell_graph", "go_terms", "go_edges")
    paths = {name: Path(path) for name in names if (path := getattr(config, name))}
    return json_digest({name: file_sha256(path) for name, path in paths.items() if path.is_file()}, length=64)


def train(config: TrainConfig) -> dict[str, Any] | None:
    """Run `config` in this process (a DDP rank under torchrun); rank 0 returns the metrics document,
    other ranks and an interrupted run (`stop_after_epochs`) return None. Rank 0 holds the lock of `out`
    (`launch.folder_lock`) throughout: a second trainer of the same folder raises `TrainingLocked` at once.
    `epochs: 0` becomes the model's default here (`TrainConfig.resolved`), so config.json and the
    checkpoints record the count that was trained; the input files' digest is recorded alongside (`inputs_digest`)."""
    config = config.resolved()
    config = replace(config, inputs_sha256=inputs_digest(config))
    dist = init_distributed(config.device)
    tracker, finished = None, False
    with contextlib.ExitStack() as held:
        try:
            out = Path(config.out)
            if dist.is_main:
                held.enter_context(folder_lock(out))
                RunDir(out).config.write_text(config.to_json())
            barrier(dist)
            data = load_run_data(config)
            model = build(config, data.context)
            if dist.is_distributed:  # the same weights everywhere (DDP also broadcasts them), own random streams
                seed_everything(config.seed + 1_000_003 * dist.rank)
            tracker = make_tracker(
                out,
                dist.is_main,
                config.wandb,
                config.wandb_dir,
                config.wandb_project,
                config.run_name or out.name,
                config.wandb_group,
                os.environ,
            )
            num_parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
            tracker.log_config(
                config.to_dict()
                | {
                    "num_parameters": num_parameters,
                    "world_size": dist.world_size,
                    "device": str(dist.device),
                    "backend": dist.backend,
                }
            )
            if dist.is_main:
                logger.info(
                    "training %s (%d parameters) on %d rank(s), %s, backend %s; folds %s",
                    config.model,
                    num_parameters,
                    dist.world_size,
                    dist.device,
                    dist.backend,
                    {fold: len(ds) for fold, ds in data.folds.items()},
                )
            result = fit(model, data, config, dist, tracker, out)
            document = None if result.interrupted else final_report(model, data, config, dist, tracker, out, result)
            finished = True
            return document
        finally:
            if tracker is not None:
                tracker.finish()
            shutdown(dist, wait=finished)


def main(argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    """Parse argv (default: sys.argv[1:]) and train; prints the test metrics on rank 0."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    document = train(parse_args(argv))
    if document is not None:
        fold = "test" if "test" in document["splits"] else "val"
        summary = {
            label: {k: v for k, v in metrics.items() if k != "ci"}
            for label, metrics in document["splits"][fold].items()
        }
        logger.info("%s metrics: %s", fold, json.dumps(summary, default=float))
    return document


if __name__ == "__main__":
    main(sys.argv[1:])
