"""Resource instances for every domain, chosen in this one place; and the run launcher of the instance
(`dagster_home/dagster.yaml`), whose run workers the run-monitoring daemon can check.

This is the one place the asset side reads its configuration from the environment (`ENVIRONMENT`, README
"Configuration"): each value is read through `dg.EnvVar` when the definitions load and passed to a resource's
plain field, an unset or empty variable giving the documented default. Only the Neo4j password stays a
`dg.EnvVar` field (resolved when a run starts), so it never appears in the definitions or the UI. The training
child's environment is built here too: the inherited one plus wandb's cache folders under the data directory."""

import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

import dagster as dg
from dagster._core.errors import DagsterPipesExecutionError
from dagster._core.events import DagsterEventType
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster_pipes import PipesExtras

from torchcell_assets.defs.graph.resources import DEFAULT_GRAPH_DIR, GraphDatabase
from torchcell_assets.lib.slurm_pipes import SlurmJobConfig, SlurmPipesClient
from torchcell_assets.lib.storage import DEFAULT_DATA_DIR, TorchcellStorage
from torchcell_core.train.launch import running_group
from torchcell_core.train.tracking import cache_environment

# Every variable this module reads (README "Configuration" lists these and the ones other programs read).
ENVIRONMENT = (
    "TORCHCELL_DATA_DIR",
    "TORCHCELL_RAW_DIR",
    "TORCHCELL_GRAPH_DIR",
    "DAGSTER_HOME",
    "NEO4J_URI",
    "NEO4J_USER",
    "NEO4J_PASSWORD",
    "NEO4J_DATABASE",
    "TORCHCELL_TRAINING_BACKEND",
)


def setting(name: str, default: str = "") -> str:
    """The value of environment variable `name` (one of `ENVIRONMENT`) read through `dg.EnvVar`; unset or
    empty: `default`."""
    if name not in ENVIRONMENT:
        raise ValueError(f"{name} is not a torchcell setting; add it to ENVIRONMENT and the README's table")
    return dg.EnvVar(name).get_value() or default


def secret(name: str) -> str:
    """`dg.EnvVar(name)` when the variable is set, resolved only when a run starts (so its value is never part of
    the definitions), else "" (an `EnvVar` of an unset variable would fail every run, even one not using it)."""
    return dg.EnvVar(name) if setting(name) else ""


class ProcessGroupPipesClient(dg.PipesSubprocessClient):
    """`dg.PipesSubprocessClient` whose command runs in its own process group under a guard that dies with the
    step (`torchcell_core.train.launch.start_group`): when the step ends, fails or is cancelled, the whole group
    (torchrun and its ranks included) gets SIGTERM, then SIGKILL after `termination_timeout_seconds`; when the
    step process itself is killed, even with SIGKILL, the guard does the same."""

    def run(  # ty: ignore[invalid-method-override]
        self,
        *,
        context: dg.OpExecutionContext | dg.AssetExecutionContext,
        extras: PipesExtras | None = None,
        command: str | Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> dg.PipesClientCompletedInvocation:
        """Run `command` (a list; a string is split by the shell rules of `shlex`) in a Pipes session."""
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        with dg.open_pipes_session(
            context=context, context_injector=self.context_injector, message_reader=self.message_reader, extras=extras
        ) as session:
            environment = {**os.environ, **self.env, **(env or {}), **session.get_bootstrap_env_vars()}
            with running_group(
                argv,
                env=environment,
                cwd=cwd or self.cwd,
                quiet=not self.forward_stdio,
                grace=float(self.termination_timeout_seconds),
            ) as process:
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
    `$TORCHCELL_TRAINING_BACKEND`; a run overrides it and the request in its resource config. `child_env` is
    added to every training child's environment (wandb's cache folders); `data_dir` is the storage's."""

    backend: str = "subprocess"
    slurm: SlurmJobConfig = SlurmJobConfig()
    data_dir: str = DEFAULT_DATA_DIR
    child_env: dict[str, str] = {}

    def client(self) -> dg.PipesClient:
        """The Pipes client of the chosen backend; an unknown backend is refused, naming the choices."""
        if self.backend not in BACKENDS:
            raise ValueError(f"training backend {self.backend!r} is unknown; choose one of {BACKENDS}")
        if self.backend == "slurm":
            return SlurmPipesClient(self.slurm, data_dir=self.data_dir)
        return ProcessGroupPipesClient()

    def run(
        self,
        *,
        context: dg.OpExecutionContext | dg.AssetExecutionContext,
        extras: PipesExtras | None = None,
        command: str | Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> dg.PipesClientCompletedInvocation:
        """Run the training command through the chosen backend's client (same arguments as theirs)."""
        client = self.client()
        context.log.info(f"training backend: {self.backend}")
        return client.run(
            context=context, extras=extras, command=command, env={**self.child_env, **(env or {})}, cwd=cwd
        )


def training_client_from_env(data_dir: str = DEFAULT_DATA_DIR) -> TrainingClient:
    """The `TrainingClient` that `$TORCHCELL_TRAINING_BACKEND` (read once, when definitions load) selects, for
    the data directory `data_dir`: its children keep wandb's caches under `<data_dir>/cache/` (a cache variable
    already set is inherited as it is)."""
    backend = setting(BACKEND_ENV, "subprocess")
    if backend not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV}={backend!r} is unknown; choose one of {BACKENDS}")
    caches = cache_environment(data_dir, os.environ)
    wandb = {name: value for name, value in caches.items() if name.startswith("WANDB_")}
    return TrainingClient(backend=backend, data_dir=data_dir, child_env=wandb)


def build_resources() -> dict[str, dg.ConfigurableResource]:
    """The resources of every domain, configured from the environment (`ENVIRONMENT`) as it is now."""
    data_dir = setting("TORCHCELL_DATA_DIR", DEFAULT_DATA_DIR)
    home = setting("DAGSTER_HOME")
    graph_dir = setting("TORCHCELL_GRAPH_DIR", str(Path(home) / "graph") if home else DEFAULT_GRAPH_DIR)
    return {
        "storage": TorchcellStorage(data_dir=data_dir, raw_dir=setting("TORCHCELL_RAW_DIR")),
        "graph": GraphDatabase(
            path=graph_dir,
            neo4j_uri=setting("NEO4J_URI"),
            neo4j_user=setting("NEO4J_USER"),
            neo4j_password=secret("NEO4J_PASSWORD"),
            neo4j_database=setting("NEO4J_DATABASE"),
        ),
        # Model assets launch their training through it: child processes (default) or a SLURM job
        # (TORCHCELL_TRAINING_BACKEND=slurm, or the run's resource config); README "Running on a cluster".
        "pipes_subprocess_client": training_client_from_env(data_dir),
    }


def process_started_at(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), or None when it is gone or a zombie (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime ")
        )
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
        records = self._instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.RUN_START, limit=1, ascending=False
        ).records
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
    return dg.Definitions(resources=build_resources())
