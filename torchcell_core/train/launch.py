"""Launch a training run in child processes (torchrun for several ranks) and swap its outputs in atomically.

Used by the Dagster model assets, and usable from a shell script: the run trains into
`<run_dir>.training`; only when it finished is the previous `<run_dir>` replaced, so a failed or
interrupted run never destroys the last good model.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from torchcell_core.train.config import TrainConfig, to_argv

RUN_MODULE = "torchcell_core.train.run"


def training_command(config: TrainConfig, nproc: int = 1) -> list[str]:
    """`python -m torchcell_core.train.run …` for one process, `python -m torch.distributed.run
    --standalone --nproc_per_node=N -m torchcell_core.train.run …` (torchrun) for several."""
    if nproc < 1:
        raise ValueError(f"nproc must be at least 1, got {nproc}")
    launcher = [sys.executable, "-m", RUN_MODULE]
    if nproc > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                    "-m", RUN_MODULE]  # fmt: skip
    return [*launcher, *to_argv(config)]


def staging_dir(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    return run_dir.with_name(run_dir.name + ".training")


def launch(
    config: TrainConfig, run_dir: str | Path, nproc: int = 1, resume: bool = False,
    log: Callable[[str], None] = print, env: dict[str, str] | None = None,
) -> Path:  # fmt: skip
    """Train `config` (its `out` is replaced by the staging directory) and swap the result into `run_dir`.

    `resume=True` continues an interrupted run left in the staging directory; otherwise it starts
    afresh. Streams the children's output to `log`; a failed run raises `RuntimeError` with the
    command and the last lines of output, and leaves `run_dir` untouched."""
    run_dir = Path(run_dir)
    staging = staging_dir(run_dir)
    if staging.exists() and not resume:
        shutil.rmtree(staging)
    config.out = str(staging)
    command = training_command(config, nproc)
    log(" ".join(command))
    tail: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, **(env or {})}) as process:  # fmt: skip
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            tail = [*tail[-39:], line]
            log(line)
        code = process.wait()
    if code != 0:
        raise RuntimeError(f"training exited with status {code}: {' '.join(command)}\n" + "\n".join(tail))
    previous = run_dir.with_name(run_dir.name + ".previous")
    shutil.rmtree(previous, ignore_errors=True)
    if run_dir.exists():
        run_dir.rename(previous)
    staging.rename(run_dir)
    shutil.rmtree(previous, ignore_errors=True)
    return run_dir
