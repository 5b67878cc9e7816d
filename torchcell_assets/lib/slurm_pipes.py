"""Training as a SLURM batch job under Dagster Pipes, for the model assets (`TrainingClient(backend="slurm")`).

The step gets the same command the local client runs (`torchcell_core.train.launch.training_command`), keeps its
single-process form (`python -m torchcell_assets.lib.pipes_train <argv>`) and writes a job script that starts it
with `srun` on every node of the allocation: one process per node for one rank, else `torchrun` (as
`python -m torch.distributed.run`, like the local launcher) with `--nnodes=$SLURM_NNODES`, the ranks per node
the request asks for and the c10d rendezvous on the allocation's first host. Pipes context and messages travel
as files in a job folder on the shared filesystem (next to the run's output), so rank 0 reports metrics, data
version and the `predictions_complete` check exactly as it does locally. The step logs the job id (also in the
materialization's metadata) and the job's state changes, streams the job's output into the run log, `scancel`s
the job when the step is interrupted or fails, and fails when SLURM ends the job other than COMPLETED, quoting
SLURM's state, reason and exit code. Resuming is the trainer's: `resume=True` keeps the staging folder, whose
checkpoint the next job continues from.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import dagster as dg
from dagster._core.definitions.resource_annotation import TreatAsResourceParam
from dagster._core.errors import DagsterPipesExecutionError
from dagster_pipes import PipesExtras

from torchcell_assets.lib.storage import DEFAULT_DATA_DIR

TORCHRUN = "torch.distributed.run"
# Job states in which SLURM has finished with a job (squeue/scontrol `JobState`, sacct `State`).
ENDED = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "TIMEOUT",
        "PREEMPTED",
        "CANCELLED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "BOOT_FAIL",
        "DEADLINE",
        "REVOKED",
        "SPECIAL_EXIT",
    }
)
SHOWN_OUTPUT_LINES = 15  # lines of the job's output quoted in the failure of a job that ended badly


class SlurmJobConfig(dg.Config):
    """The SLURM request of a training step (sbatch options) and how the step follows the job."""

    nodes: int = 1
    ntasks_per_node: int = 0  # training ranks per node; 0: gpus_per_node when set, else the step's nproc / nodes
    gpus_per_node: int = 0  # --gpus-per-node; one rank per GPU
    cpus_per_task: int = 1  # CPUs per rank (the node's launcher task asks for ranks × this)
    time: str = ""  # --time, e.g. "04:00:00"; "" leaves the partition's default
    partition: str = ""
    account: str = ""
    extra_args: list[str] = []  # more sbatch options, one per item, e.g. "--qos=high", "--constraint=a100"
    shared_dir: str = ""  # job folders; "" = next to the run's output (its --out), else <data dir>/slurm
    rdzv_port: int = 0  # torchrun rendezvous port on the first host; 0: 20000 + job id % 20000
    poll_seconds: float = 2.0
    cancel_seconds: float = 60.0  # how long an interrupted step waits for scancel to take the job away


def split_command(command: Sequence[str]) -> tuple[list[str], int]:
    """(single-process form `python -m module argv`, number of ranks) of a `training_command`: its torchrun
    launcher options are dropped, since under SLURM the allocation decides them."""
    argv = list(command)
    if argv[1:3] != ["-m", TORCHRUN]:
        return argv, 1
    try:
        module_at = argv.index("-m", 3)
    except ValueError:
        raise ValueError(f"a torchrun command without `-m <module>`: {shlex.join(argv)}") from None
    ranks = [int(o.split("=", 1)[1]) for o in argv[3:module_at] if o.startswith("--nproc_per_node=")]
    return [argv[0], *argv[module_at:]], ranks[0] if ranks else 1


def ranks_per_node(job: SlurmJobConfig, nproc: int) -> int:
    """Training ranks on each node: one per GPU when GPUs are asked for, else `ntasks_per_node`, else the
    step's `nproc` spread over the nodes."""
    if job.nodes < 1:
        raise ValueError(f"nodes must be at least 1, got {job.nodes}")
    return job.gpus_per_node or job.ntasks_per_node or max(1, math.ceil(nproc / job.nodes))


def sbatch_options(job: SlurmJobConfig, ranks: int, name: str, output: Path, cwd: str) -> list[str]:
    """The `#SBATCH` options: one launcher task per node holding the CPUs (and GPUs) of its ranks."""
    options = [
        f"--job-name={name}",
        f"--nodes={job.nodes}",
        "--ntasks-per-node=1",
        f"--cpus-per-task={job.cpus_per_task * ranks}",
        f"--output={output}",
        f"--chdir={cwd}",
        "--export=ALL",
    ]
    options += [f"--gpus-per-node={job.gpus_per_node}"] if job.gpus_per_node else []
    options += [f"--{key}={value}" for key in ("time", "partition", "account") if (value := getattr(job, key))]
    return options + list(job.extra_args)


def launch_line(single: Sequence[str], job: SlurmJobConfig, ranks: int) -> str:
    """The job script's `srun` line: `single` on each node for one rank in all, else torchrun with the
    rendezvous on the allocation's first host (`$head`, `$port`, set earlier in the script)."""
    srun = [
        "srun",
        f"--nodes={job.nodes}",
        "--ntasks-per-node=1",
        f"--cpus-per-task={job.cpus_per_task * ranks}",
        "--kill-on-bad-exit=1",
    ]
    srun += [f"--gpus-per-node={job.gpus_per_node}"] if job.gpus_per_node else []
    if job.nodes * ranks == 1:
        return f"srun {shlex.join(srun[1:])} {shlex.join(single)}"
    torchrun = [single[0], "-m", TORCHRUN]
    rendezvous = (
        '--nnodes="$SLURM_NNODES"',
        f"--nproc_per_node={ranks}",
        "--rdzv_backend=c10d",
        '--rdzv_endpoint="$head:$port"',
        '--rdzv_id="$SLURM_JOB_ID"',
        "--max_restarts=0",
    )
    return f"{shlex.join(srun)} {shlex.join(torchrun)} {' '.join(rendezvous)} {shlex.join(single[1:])}"


def job_script(
    single: Sequence[str], nproc: int, job: SlurmJobConfig, env: Mapping[str, str], name: str, output: Path, cwd: str
) -> str:
    """The batch script: sbatch options, the step's environment (Pipes bootstrap included), the rendezvous
    endpoint from the allocation, and the `srun` line."""
    ranks = ranks_per_node(job, nproc)
    lines = ["#!/bin/bash", *(f"#SBATCH {option}" for option in sbatch_options(job, ranks, name, output, cwd))]
    lines += ["set -euo pipefail", *(f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items()))]
    port = str(job.rdzv_port) if job.rdzv_port else "$((20000 + SLURM_JOB_ID % 20000))"
    lines += [
        'hosts=($(scontrol show hostnames "$SLURM_JOB_NODELIST")); head=${hosts[0]}',
        f"port={port}",
        'echo "torchcell: job $SLURM_JOB_ID on $SLURM_JOB_NODELIST ($SLURM_NNODES node(s)), rendezvous '
        f'$head:$port, {ranks} rank(s) per node"',
        launch_line(single, job, ranks),
    ]
    return "\n".join(lines) + "\n"


def job_folder(job: SlurmJobConfig, command: Sequence[str], stamp: str, data_dir: str = DEFAULT_DATA_DIR) -> Path:
    """Where the step's job script, Pipes files and job output go: `shared_dir`, else the folder the run
    trains into (`--out`, on the filesystem every node shares), else `<data_dir>/slurm`."""
    argv = list(command)
    out = argv[argv.index("--out") + 1] if "--out" in argv[:-1] else ""
    base = Path(job.shared_dir) if job.shared_dir else Path(out) if out else Path(data_dir) / "slurm"
    folder = base.resolve() / f"slurm-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def job_info(job_id: str) -> dict[str, str] | None:
    """JobState, Reason and ExitCode of `job_id` from `scontrol show job` (kept `MinJobAge` seconds after the
    end), else from `sacct` (clusters with accounting); None when neither knows the job."""
    shown = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, timeout=60)
    if shown.returncode == 0 and "JobState=" in shown.stdout:
        fields = dict(re.findall(r"\b(JobState|Reason|ExitCode)=(\S+)", shown.stdout))
        return {
            "JobState": fields.get("JobState", "UNKNOWN"),
            "Reason": fields.get("Reason", "None"),
            "ExitCode": fields.get("ExitCode", ""),
        }
    accounted = subprocess.run(
        ["sacct", "-j", job_id, "-X", "-n", "-P", "-o", "State,ExitCode,Reason"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = [row.split("|") for row in accounted.stdout.splitlines() if row.strip()]
    if accounted.returncode == 0 and rows and len(rows[0]) == 3:
        state, code, reason = rows[0]
        return {"JobState": state.split()[0], "Reason": reason or "None", "ExitCode": code}
    return None


def active_jobs() -> set[str]:
    """Ids of the jobs squeue lists (pending, running, completing...)."""
    listed = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, timeout=60)
    if listed.returncode != 0:
        raise RuntimeError(f"squeue failed ({listed.returncode}): {listed.stderr.strip()}")
    return set(listed.stdout.split())


def cancel(job_id: str, seconds: float, log: Callable[[str], None]) -> bool:
    """scancel `job_id` and wait up to `seconds` until squeue no longer lists it; whether it went."""
    done = subprocess.run(["scancel", job_id], capture_output=True, text=True, timeout=60)
    log(f"scancel {job_id}: {'sent' if done.returncode == 0 else done.stderr.strip()}")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if job_id not in active_jobs():
                return True
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:  # keep the step's own error
            log(f"could not check that SLURM job {job_id} is gone: {error}")
            return False
        time.sleep(0.5)
    log(f"SLURM job {job_id} is still listed by squeue {seconds:.0f} s after scancel")
    return False


class OutputTail:
    """The lines a job has added to its output file since the last call, for the run log."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.partial = path, 0, b""

    def read(self) -> list[str]:
        if not self.path.is_file():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
        self.offset += len(chunk)
        *lines, self.partial = (self.partial + chunk).split(b"\n")
        return [line.decode(errors="replace") for line in lines]

    def last(self, count: int) -> list[str]:
        text = self.path.read_text(errors="replace") if self.path.is_file() else ""
        return text.splitlines()[-count:]


class SlurmPipesClient(dg.PipesClient, TreatAsResourceParam):
    """Runs a training command as a SLURM batch job in a Dagster Pipes session (see the module docstring)."""

    def __init__(
        self, job: SlurmJobConfig | None = None, env: Mapping[str, str] | None = None, data_dir: str = DEFAULT_DATA_DIR
    ) -> None:
        self.job = job or SlurmJobConfig()
        self.env = dict(env or {})
        self.data_dir = data_dir  # the storage's, for job files of a command without --out

    def run(  # ty: ignore[invalid-method-override]
        self,
        *,
        context: dg.OpExecutionContext | dg.AssetExecutionContext,
        extras: PipesExtras | None = None,
        command: str | Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> dg.PipesClientCompletedInvocation:
        """Submit `command` (a list; a string is split by `shlex`) with sbatch, follow the job to its end."""
        single, nproc = split_command(shlex.split(command) if isinstance(command, str) else command)
        name = f"torchcell-{context.op_def.name}"
        folder = job_folder(self.job, single, f"{context.run_id[:8]}-{uuid.uuid4().hex[:6]}", self.data_dir)
        with dg.open_pipes_session(
            context=context,
            extras=extras,
            context_injector=dg.PipesFileContextInjector(str(folder / "context.json")),
            message_reader=dg.PipesFileMessageReader(str(folder / "messages.jsonl")),
        ) as session:
            environment = {**self.env, **(env or {}), **session.get_bootstrap_env_vars()}
            output = folder / "job-%j.out"
            script = folder / "job.sh"
            script.write_text(job_script(single, nproc, self.job, environment, name, output, cwd or os.getcwd()))
            job_id = submit(script)
            context.log.info(
                f"submitted SLURM job {job_id} ({script}): {self.job.nodes} node(s), "
                f"{ranks_per_node(self.job, nproc)} rank(s) per node"
            )
            tail = OutputTail(folder / f"job-{job_id}.out")
            try:
                info = self.follow(context, job_id, tail)
            except BaseException:  # a cancelled run raises DagsterExecutionInterruptedError here
                context.log.info(f"[slurm] step interrupted or failed: cancelling SLURM job {job_id}")
                cancel(job_id, self.job.cancel_seconds, context.log.info)
                raise
            if info["JobState"] != "COMPLETED":
                shown = "\n".join(tail.last(SHOWN_OUTPUT_LINES))
                raise DagsterPipesExecutionError(
                    f"SLURM job {job_id} ended {info['JobState']} (reason {info['Reason']}, exit code "
                    f"{info['ExitCode']}); output {tail.path}, last lines:\n{shown}"
                )
        return dg.PipesClientCompletedInvocation(
            session, metadata={"slurm_job_id": int(job_id), "slurm_job_script": str(script)}
        )

    def follow(
        self, context: dg.OpExecutionContext | dg.AssetExecutionContext, job_id: str, tail: OutputTail
    ) -> dict[str, str]:
        """Poll the job until SLURM ends it, logging its state changes and output lines; its final info."""
        seen, unknown_since = "", None
        while True:
            info = job_info(job_id)
            for line in tail.read():
                context.log.info(f"[slurm {job_id}] {line}")
            if info is None:
                unknown_since = unknown_since or time.monotonic()
                if time.monotonic() - unknown_since > max(30.0, 5 * self.job.poll_seconds):
                    raise DagsterPipesExecutionError(f"SLURM job {job_id} is unknown to scontrol and sacct")
            else:
                unknown_since = None
                state = f"{info['JobState']} (reason {info['Reason']})"
                if state != seen:
                    context.log.info(f"SLURM job {job_id}: {state}")
                    seen = state
                if info["JobState"] in ENDED:
                    for line in tail.read():
                        context.log.info(f"[slurm {job_id}] {line}")
                    return info
            time.sleep(self.job.poll_seconds)


def submit(script: Path) -> str:
    """sbatch `script`; the job id. A refusal raises with sbatch's message (and where SLURM_CONF points)."""
    done = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise DagsterPipesExecutionError(
            f"sbatch {script} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()} "
            f"(SLURM_CONF={os.environ.get('SLURM_CONF', 'unset')})"
        )
    return done.stdout.strip().split(";")[0]
