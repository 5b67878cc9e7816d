"""The command that trains a run in child processes (torchrun for several ranks), the process group it runs in,
the lock that keeps one trainer per folder, and the atomic swap of its outputs: a run trains into
`<run_dir>.training`; only when it finished is the previous `<run_dir>` replaced, so a failed or interrupted run
never destroys the last good model. Used by the Dagster model assets.

Process group: `start_group` launches a command under a small guard (`python -m torchcell_core.train.launch
--parent-pid P -- command…`) in a new session, so the guard, the trainer and everything they start share one
process group. The guard asks the kernel for SIGTERM when its parent dies (`prctl(PR_SET_PDEATHSIG)`), and on
SIGTERM, SIGINT or SIGHUP it sends SIGTERM to the group once, then SIGKILL after a grace period; so a killed
(even `kill -9`) Dagster step never leaves a trainer behind. `stop_group` is the parent's side of the same.

Lock: a trainer holds `fcntl.flock` on `<out>/train.lock` (its PID written inside) while it trains; a second
trainer, or `prepare_staging` about to empty the folder, refuses at once with `TrainingLocked`. The kernel drops
the lock when the holder dies, however it dies.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

from torchcell_core.train.config import TrainConfig, to_argv

RUN_MODULE = "torchcell_core.train.run"
LOCK_NAME = "train.lock"
GRACE_SECONDS = 20.0  # SIGTERM → SIGKILL: torchrun passes SIGTERM to its ranks and waits for them
PR_SET_PDEATHSIG = 1  # linux/prctl.h
POLL_SECONDS = 0.1


class TrainingLocked(RuntimeError):
    """Another live process trains into (or holds) this run folder."""


def training_command(config: TrainConfig, nproc: int = 1, module: str = RUN_MODULE) -> list[str]:
    """`python -m <module> …` for one process, `python -m torch.distributed.run --standalone
    --nproc_per_node=N -m <module> …` (torchrun) for several; `module` parses the training argv
    (`torchcell_core.train.run`, or a wrapper that reports to an orchestrator)."""
    if nproc < 1:
        raise ValueError(f"nproc must be at least 1, got {nproc}")
    launcher = [sys.executable, "-m", module]
    if nproc > 1:
        launcher = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            "-m",
            module,
        ]
    return [*launcher, *to_argv(config)]


# --- one trainer per folder --------------------------------------------------------------------------------
def _lock_or_refuse(directory: Path, handle: IO[str], action: str) -> None:
    """Take the exclusive lock of `handle` without waiting; a held lock raises `TrainingLocked`."""
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        raise TrainingLocked(
            f"cannot {action} {directory}: another trainer is training into it ({holder}, lock "
            f"{directory / LOCK_NAME}); wait for it to finish or stop it first"
        ) from None


@contextlib.contextmanager
def folder_lock(directory: str | Path, action: str = "train into", record_pid: bool = True) -> Iterator[Path]:
    """Hold the exclusive lock of `directory` (created if missing) for the `with` block; `record_pid` writes
    this process's PID and host into the lock file, which a refused process quotes. Raises `TrainingLocked`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    with path.open("a+") as handle:
        _lock_or_refuse(directory, handle, action)
        try:
            if record_pid:
                handle.seek(0)
                handle.truncate()
                handle.write(f"PID {os.getpid()} on {socket.gethostname()}\n")
                handle.flush()
            yield path
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def staging_dir(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    return run_dir.with_name(run_dir.name + ".training")


def prepare_staging(run_dir: str | Path, resume: bool = False) -> Path:
    """The directory a run trains into: kept when `resume` (the run's `TrainSettings.resume`: an interrupted run
    continues from the checkpoint it holds), else emptied; pass the run config's own value, so the folder and
    the trainer agree. A folder a live trainer holds is left alone and `TrainingLocked` raised."""
    staging = staging_dir(run_dir)
    if staging.exists():
        with folder_lock(staging, "resume" if resume else "clear", record_pid=False):
            if not resume:
                shutil.rmtree(staging)
    return staging


def promote(run_dir: str | Path) -> Path:
    """Swap a finished staging directory in as `run_dir`; the previous run is removed only after the swap."""
    run_dir = Path(run_dir)
    staging = staging_dir(run_dir)
    previous = run_dir.with_name(run_dir.name + ".previous")
    shutil.rmtree(previous, ignore_errors=True)
    with folder_lock(staging, "promote", record_pid=False):
        if run_dir.exists():
            run_dir.rename(previous)
        staging.rename(run_dir)
    (run_dir / LOCK_NAME).unlink(missing_ok=True)
    shutil.rmtree(previous, ignore_errors=True)
    return run_dir


# --- the training's process group --------------------------------------------------------------------------
def supervised_command(command: Sequence[str], parent_pid: int, grace: float = GRACE_SECONDS) -> list[str]:
    """`command` under the guard of this module (see the module docstring)."""
    return [
        sys.executable,
        "-m",
        "torchcell_core.train.launch",
        "--parent-pid",
        str(parent_pid),
        "--grace",
        str(grace),
        "--",
        *command,
    ]


def start_group(
    command: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    grace: float = GRACE_SECONDS,
    quiet: bool = False,
) -> subprocess.Popen:
    """Start `command` under the guard, in a new session whose process group id is the returned PID."""
    output = subprocess.DEVNULL if quiet else None
    return subprocess.Popen(
        supervised_command(command, os.getpid(), grace),
        env=None if env is None else dict(env),
        cwd=cwd,
        start_new_session=True,
        stdout=output,
        stderr=output,
    )


def group_alive(group: int) -> bool:
    """Whether any process of process group `group` is still running (zombies do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == group:  # state, ppid, pgrp
            return True
    return False


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def stop_group(process: subprocess.Popen, grace: float = GRACE_SECONDS) -> int | None:
    """End the guard started by `start_group` and every process of its group: SIGTERM to the guard (which
    passes it on once), SIGKILL to the whole group after `grace` seconds. Returns the guard's exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    if process.poll() is None or group_alive(process.pid):
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
    return process.returncode


@contextlib.contextmanager
def running_group(command: Sequence[str], **options) -> Iterator[subprocess.Popen]:
    """`start_group` for the `with` block; on leaving it, normally or by an exception, `stop_group`."""
    process = start_group(command, **options)
    try:
        yield process
    finally:
        stop_group(process, options.get("grace", GRACE_SECONDS))


def set_parent_death_signal(signum: int) -> bool:
    """Ask Linux to send `signum` to this process when its parent dies; False where prctl is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0


def supervise(command: Sequence[str], parent_pid: int, grace: float = GRACE_SECONDS) -> int:
    """The guard: run `command` in this process group and stop the whole group (SIGTERM once, SIGKILL after
    `grace` s) when this process is told to stop or its parent dies. Returns the command's exit status."""
    set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        return 128 + signal.SIGTERM
    deadline: list[float] = []

    def stop(signum: int, _frame: object) -> None:
        if deadline:
            return
        deadline.append(time.monotonic() + grace)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the guard outlives its own SIGTERM to the group
        _signal_group(0, signal.SIGTERM)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    child = subprocess.Popen(list(command))
    if deadline:  # told to stop while the child was starting
        _signal_group(0, signal.SIGTERM)
    while (code := child.poll()) is None:
        time.sleep(POLL_SECONDS)
        if deadline and time.monotonic() > deadline[0]:
            _signal_group(0, signal.SIGKILL)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _signal_group(0, signal.SIGTERM)  # what the command left behind in the group
    return code if code >= 0 else 128 - code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m torchcell_core.train.launch", description=supervise.__doc__)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--grace", type=float, default=GRACE_SECONDS)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run after --")
    return supervise(command, args.parent_pid, args.grace)


if __name__ == "__main__":
    sys.exit(main())
