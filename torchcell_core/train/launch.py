"""The command that trains a run in child processes (torchrun for several ranks), and the atomic swap of its
outputs: a run trains into `<run_dir>.training`; only when it finished is the previous `<run_dir>` replaced,
so a failed or interrupted run never destroys the last good model. Used by the Dagster model assets."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from torchcell_core.train.config import TrainConfig, to_argv

RUN_MODULE = "torchcell_core.train.run"


def training_command(config: TrainConfig, nproc: int = 1, module: str = RUN_MODULE) -> list[str]:
    """`python -m <module> …` for one process, `python -m torch.distributed.run --standalone
    --nproc_per_node=N -m <module> …` (torchrun) for several; `module` parses the training argv
    (`torchcell_core.train.run`, or a wrapper that reports to an orchestrator)."""
    if nproc < 1:
        raise ValueError(f"nproc must be at least 1, got {nproc}")
    launcher = [sys.executable, "-m", module]
    if nproc > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                    "-m", module]  # fmt: skip
    return [*launcher, *to_argv(config)]


def staging_dir(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    return run_dir.with_name(run_dir.name + ".training")


def prepare_staging(run_dir: str | Path, resume: bool = False) -> Path:
    """The directory a run trains into: kept when `resume` (an interrupted run continues), else emptied."""
    staging = staging_dir(run_dir)
    if staging.exists() and not resume:
        shutil.rmtree(staging)
    return staging


def promote(run_dir: str | Path) -> Path:
    """Swap a finished staging directory in as `run_dir`; the previous run is removed only after the swap."""
    run_dir = Path(run_dir)
    staging = staging_dir(run_dir)
    previous = run_dir.with_name(run_dir.name + ".previous")
    shutil.rmtree(previous, ignore_errors=True)
    if run_dir.exists():
        run_dir.rename(previous)
    staging.rename(run_dir)
    shutil.rmtree(previous, ignore_errors=True)
    return run_dir
