"""Resource instances for every domain, chosen in this one place; and the run launcher of the instance
(`dagster_home/dagster.yaml`), whose run workers the run-monitoring daemon can check."""

import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

import dagster as dg
from dagster._core.errors import DagsterPipesExecutionError
from dagster._core.events import DagsterEventType
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster_pipes import PipesExtras

from torchcell_assets.defs.graph.resources import GraphDatabase
from torchcell_assets.lib.slurm_pipes import SlurmJobConfig, SlurmPipesClient
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.train.launch import running_group


class ProcessGroupPipesClient(dg.PipesSubprocessClient):
    """`dg.PipesSubprocessClient` whose command runs in its own process group under a guard that dies with the
    step (`torchcell_core.train.launch.start_group`): when the step ends, fails or is cancelled, the whole group
    (torchrun and its ranks included) gets SIGTERM, then SIGKILL after `termination_timeout_seconds`; when the
    step process itself is killed, even with SIGKILL, the guard does the same."""

    def run(  # ty: ignore[invalid-method-override]
        self, *, context: dg.OpExecutionContext | dg.AssetExecutionContext, extras: PipesExtras | None = None,
        command: str | Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None,
    ) -> dg.PipesClientCompletedInvocation:  # fmt: skip
        """Run `command` (a list; a string is split by the shell rules of `shlex`) in a Pipes session."""
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        with dg.open_pipes_session(context=context, context_injector=self.context_injector,
                                   message_reader=self.message_reader, extras=extras) as session:  # fmt: skip
            environment = {**os.environ, **self.env, **(env or {}), **session.get_bootstrap_env_vars()}
            with running_group(argv, env=environment, cwd=cwd or self.cwd, quiet=not self.forward_stdio,
                               grace=float(self.termination_timeout_seconds)) as process:  # fmt: skip
                try:
                    code = process.wait()
                except BaseException:  # a cancelled run raises DagsterExecutionInterruptedError here
                    context.log.info(f"[pipes] step interrupted: stopping process group {process.pid}")
                    raise
            if code != 0:
                raise DagsterPipesExecutionError(f"External execution process failed with code {code}")
        return dg.PipesClientCompletedInvocation(session)


BACKENDS = ("subprocess", "slurm")
BACKEND_ENV = "TORCHCELL_TRAINING_BACKEND"


class TrainingClient(dg.ConfigurableResource):
    """Where the model steps train: `subprocess` (child processes of the step, `ProcessGroupPipesClient`) or
    `slurm` (a batch job, `SlurmPipesClient`, with `slurm`'s request). The default comes from
    `$TORCHCELL_TRAINING_BACKEND`; a run overrides it and the request in its resource config."""

    backend: str = "subprocess"
    slurm: SlurmJobConfig = SlurmJobConfig()

    def client(self) -> dg.PipesClient:
        """The Pipes client of the chosen backend; an unknown backend is refused, naming the choices."""
        if self.backend not in BACKENDS:
            raise ValueError(f"training backend {self.backend!r} is unknown; choose one of {BACKENDS}")
        return SlurmPipesClient(self.slurm) if self.backend == "slurm" else ProcessGroupPipesClient()

    def run(
        self, *, context: dg.OpExecutionContext | dg.AssetExecutionContext, extras: PipesExtras | None = None,
        command: str | Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None,
    ) -> dg.PipesClientCompletedInvocation:  # fmt: skip
        """Run the training command through the chosen backend's client (same arguments as theirs)."""
        client = self.client()
        context.log.info(f"training backend: {self.backend}")
        return client.run(context=context, extras=extras, command=command, env=env, cwd=cwd)


def training_client_from_env() -> TrainingClient:
    """The `TrainingClient` that `$TORCHCELL_TRAINING_BACKEND` (read once, when definitions load) selects."""
    backend = os.environ.get(BACKEND_ENV, "") or "subprocess"
    if backend not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV}={backend!r} is unknown; choose one of {BACKENDS}")
    return TrainingClient(backend=backend)


def process_started_at(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), or None when it is gone or a zombie (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))  # fmt: skip
    except (OSError, IndexError, StopIteration):
        return None
    if fields[0] in ("Z", "X"):  # state
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat: start time in clock ticks


class LocalRunLauncher(dg.DefaultRunLauncher):
    """`dg.DefaultRunLauncher` that tells the run-monitoring daemon whether a run's process still lives: the
    process that reported the run's start (its run worker; for in-process runs, e.g. `make demo`, that process)
    on this machine. A STARTED run whose process is gone (killed with `kill -9`, out of memory) is then marked
    failed instead of staying STARTED forever. For one machine: the daemon must see the runs' processes."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        records = self._instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_START, limit=1,
                                                     ascending=False).records  # fmt: skip
        event = records[0].event_log_entry.dagster_event if records else None
        pid = event.pid if event is not None else None
        if pid is None or not Path("/proc").is_dir():
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no process to check")
        started = process_started_at(pid)
        if started is None or started > records[0].event_log_entry.timestamp + 1.0:  # gone, or the PID reused
            return CheckRunHealthResult(WorkerStatus.FAILED, f"the run's process {pid} is gone")
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"process {pid} runs")


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "storage": TorchcellStorage(),
            "graph": GraphDatabase(),
            # Model assets launch their training through it: child processes (default) or a SLURM job
            # (TORCHCELL_TRAINING_BACKEND=slurm, or the run's resource config); README "Running on a cluster".
            "pipes_subprocess_client": training_client_from_env(),
        }
    )
