"""The training's processes: one trainer per run folder (lock), and no trainer outliving its Dagster step
(process group under a guard that dies with the step, stopped when the step ends, fails or is cancelled)."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.support.training import GENES, synthetic_table
from torchcell_core.train.launch import (
    LOCK_NAME,
    TrainingLocked,
    prepare_staging,
    promote,
    running_group,
    staging_dir,
)
from torchcell_core.train.run import main

REPO = Path(__file__).resolve().parents[2]
# A stand-in trainer: starts a grandchild, writes "<own pid> <grandchild pid>" to argv[1], waits argv[2] seconds
# and exits with status argv[3], leaving the grandchild behind.
TRAINER = (
    "import os, subprocess, sys, time; g = subprocess.Popen(['sleep', '300']); "
    "open(sys.argv[1] + '.tmp', 'w').write(f'{os.getpid()} {g.pid}'); "
    "os.replace(sys.argv[1] + '.tmp', sys.argv[1]); "
    "time.sleep(float(sys.argv[2])); sys.exit(int(sys.argv[3]))"
)


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped by its new parent, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def trainer_pids(path: Path, seconds: float = 30) -> list[int]:
    assert wait_for(path.is_file, seconds), "the stand-in trainer did not start"
    return [int(pid) for pid in path.read_text().split()]


def python(code: str, *args: str, env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args], env=env, cwd=REPO, stdout=subprocess.PIPE, text=True
    )


# --- (a) one trainer per folder -------------------------------------------------------------------------
@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock of `<tmp>/run.training` (with a file inside), as a live trainer does."""
    staging = staging_dir(tmp_path / "run")
    staging.mkdir()
    (staging / "checkpoints").mkdir()
    (staging / "checkpoints" / "last.pt").write_bytes(b"epoch 3")
    process = python(
        """
        import sys, time
        from torchcell_core.train.launch import folder_lock
        with folder_lock(sys.argv[1]):
            print("locked", flush=True)
            time.sleep(120)
    """,
        str(staging),
    )
    assert process.stdout.readline().strip() == "locked"
    yield process, staging
    process.kill()
    process.wait()


def test_a_second_trainer_refuses_a_locked_folder_and_names_the_holder(holder, tmp_path):
    process, staging = holder
    table, _ = synthetic_table()
    pq.write_table(table, tmp_path / "data.parquet")
    (tmp_path / "genes.txt").write_text("\n".join(GENES) + "\n")
    argv = [
        "--model",
        "mlp",
        "--dataset",
        str(tmp_path / "data.parquet"),
        "--gene-table",
        str(tmp_path / "genes.txt"),
        "--out",
        str(staging),
        "--wandb",
        "disabled",
        "--epochs",
        "1",
        "--bootstrap",
        "0",
    ]
    started = time.monotonic()
    with pytest.raises(TrainingLocked) as refused:
        main(argv)
    assert time.monotonic() - started < 5
    message = str(refused.value)
    assert str(staging) in message and f"PID {process.pid}" in message and LOCK_NAME in message
    assert f"PID {process.pid}" in (staging / LOCK_NAME).read_text()
    assert not (staging / "config.json").exists() and not (staging / "metrics.json").exists()


@pytest.mark.parametrize("resume", [False, True])
def test_prepare_staging_and_promote_leave_a_locked_folder_alone(holder, resume):
    process, staging = holder
    with pytest.raises(TrainingLocked, match=f"PID {process.pid}"):
        prepare_staging(staging.with_name("run"), resume=resume)
    with pytest.raises(TrainingLocked, match=f"PID {process.pid}"):
        promote(staging.with_name("run"))
    assert (staging / "checkpoints" / "last.pt").read_bytes() == b"epoch 3"
    process.kill()  # however the holder dies, the kernel drops its lock
    process.wait()
    assert prepare_staging(staging.with_name("run"), resume=resume) == staging
    assert (staging / "checkpoints" / "last.pt").exists() == resume


# --- (b) the step process killed with SIGKILL -----------------------------------------------------------
STEP = """
    import sys, time
    from torchcell_core.train.launch import start_group
    process = start_group(sys.argv[1:], grace=3)
    print(process.pid, flush=True)
    time.sleep(300)
"""


def torchrun_ranks(torchrun: int) -> list[int]:
    """The PIDs of the processes torchrun `torchrun` started (each rank runs in its own session)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == torchrun:
            children.append(int(stat.parent.name))
    return children


def test_killing_the_step_process_ends_the_trainer_and_its_children(tmp_path):
    step = python(STEP, sys.executable, "-c", TRAINER, str(tmp_path / "pids"), "300", "0")
    guard = int(step.stdout.readline())
    trainer, grandchild = trainer_pids(tmp_path / "pids")
    assert all(map(alive, (guard, trainer, grandchild)))
    step.kill()  # kill -9 of the Dagster step process
    step.wait()
    assert wait_for(lambda: not any(map(alive, (guard, trainer, grandchild))), 5)


def test_killing_the_step_process_ends_torchrun_and_its_ranks(tmp_path):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "--no-python",
        "sleep",
        "300",
    ]
    step = python(STEP, *command)
    guard = int(step.stdout.readline())
    torchrun = wait_for(lambda: torchrun_ranks(guard), 30) and torchrun_ranks(guard)[0]
    assert wait_for(lambda: len(torchrun_ranks(torchrun)) == 2, 60), "torchrun did not start its two ranks"
    ranks = torchrun_ranks(torchrun)
    step.kill()
    step.wait()
    assert wait_for(lambda: not any(map(alive, (guard, torchrun, *ranks))), 10)


# --- (c) the step ends, fails or is cancelled -----------------------------------------------------------
def test_leaving_the_group_by_an_exception_stops_it(tmp_path):
    with (
        pytest.raises(KeyError),
        running_group([sys.executable, "-c", TRAINER, str(tmp_path / "pids"), "300", "0"], grace=3) as process,
    ):
        pids = [process.pid, *trainer_pids(tmp_path / "pids")]
        raise KeyError("the step failed")
    assert not any(map(alive, pids))


DAGSTER_STEP = """
    import sys
    import dagster as dg
    from torchcell_assets.defs.resources import ProcessGroupPipesClient

    @dg.asset
    def training(context: dg.AssetExecutionContext, pipes_subprocess_client: dg.PipesSubprocessClient):
        command = [sys.executable, "-c", *sys.argv[1:]]
        return pipes_subprocess_client.run(context=context, command=command).get_materialize_result()

    client = ProcessGroupPipesClient(termination_timeout_seconds=3)
    result = dg.materialize([training], resources={"pipes_subprocess_client": client}, raise_on_error=False)
    print("success" if result.success else "failure", flush=True)
"""


@pytest.mark.parametrize("ending", ["cancelled", "failed"])
def test_a_dagster_step_that_fails_or_is_cancelled_stops_the_whole_group(tmp_path, ending):
    # failed: the trainer exits 1 at once and leaves its child behind; cancelled: the step gets SIGINT
    seconds, status = ("300", "0") if ending == "cancelled" else ("0", "1")
    step = python(DAGSTER_STEP, TRAINER, str(tmp_path / "pids"), seconds, status)
    pids = trainer_pids(tmp_path / "pids", 60)
    if ending == "cancelled":
        assert all(map(alive, pids))
        step.send_signal(signal.SIGINT)
    out, _ = step.communicate(timeout=60)
    assert out.strip().splitlines()[-1] == "failure"
    assert wait_for(lambda: not any(map(alive, pids)), 2)


# --- run monitoring: a run whose process was killed does not stay STARTED -------------------------------
def test_the_instance_of_dagster_home_monitors_runs(tmp_path):
    import dagster as dg

    from torchcell_assets.defs.resources import LocalRunLauncher

    shutil.copy(REPO / "dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_monitoring_enabled and "MONITORING" in instance.get_required_daemon_types()
        assert instance.run_monitoring_max_resume_run_attempts == 0  # the default launcher cannot resume
        assert 0 < instance.run_monitoring_poll_interval_seconds <= 60
        assert instance.run_monitoring_start_timeout_seconds > 0 and instance.run_monitoring_cancel_timeout_seconds > 0
        assert isinstance(instance.run_launcher, LocalRunLauncher)
        assert instance.run_launcher.supports_check_run_worker_health


IN_PROCESS_RUN = """
    import time
    import dagster as dg

    @dg.asset
    def slow() -> None:
        print("started", flush=True)
        time.sleep(300)

    dg.materialize([slow], instance=dg.DagsterInstance.get())
"""


def test_a_started_run_whose_process_was_killed_is_marked_failed_by_the_monitor(tmp_path):
    import logging

    import dagster as dg
    from dagster._daemon.monitoring.run_monitoring import monitor_started_run

    shutil.copy(REPO / "dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    step = python(IN_PROCESS_RUN, env_extra={"DAGSTER_HOME": str(tmp_path)})
    assert step.stdout.readline().strip() == "started"
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        (run,) = instance.get_runs()
        assert instance.run_launcher.check_run_worker_health(run).status.value == "RUNNING"
        monitor_started_run(instance, None, instance.get_run_record_by_id(run.run_id), logging.getLogger(__name__))
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
        step.kill()  # kill -9 of the process that runs it
        step.wait()
        monitor_started_run(instance, None, instance.get_run_record_by_id(run.run_id), logging.getLogger(__name__))
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        failure = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[-1]
        assert f"process {step.pid} is gone" in failure.message
