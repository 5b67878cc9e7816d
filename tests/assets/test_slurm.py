"""Training through SLURM: the job script (fast, no cluster), and, marked `hpc`, a real one-node cluster that
`scripts/slurm_cluster.py` starts for this module: a model trained by a SLURM job (2 ranks, gloo DDP under
`srun torchrun`) against the same run trained locally, a cancelled run, and a job that fails."""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest

from tests.support.storage import small_storage
from torchcell_assets.defs.resources import ProcessGroupPipesClient, TrainingClient, training_client_from_env
from torchcell_assets.lib.slurm_pipes import SlurmJobConfig, job_info, job_script, split_command
from torchcell_core.train.config import TrainConfig
from torchcell_core.train.launch import training_command

REPO = Path(__file__).resolve().parents[2]
MODULE = "torchcell_assets.lib.pipes_train"


def fake_bin(folder: Path, scripts: dict[str, str]) -> str:
    """A PATH whose first folder holds the given stand-in commands (bash bodies)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in scripts.items():
        path = folder / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return f"{folder}:{os.environ['PATH']}"


# --- the job script, without a cluster -------------------------------------------------------------------
def config() -> TrainConfig:
    return TrainConfig(model="mlp", dataset="/data/d.parquet", gene_table="/data/g.parquet", out="/data/run")


def test_the_slurm_launcher_reuses_the_single_process_training_command():
    single = training_command(config(), 1, module=MODULE)
    assert split_command(training_command(config(), 3, module=MODULE)) == (single, 3)
    assert split_command(single) == (single, 1)
    with pytest.raises(ValueError, match="without `-m <module>`"):
        split_command([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "train.py"])


def run_script(tmp_path: Path, text: str, nodes: str, job_id: str) -> list[str]:
    """Run a job script with stand-in scontrol/srun (srun prints its argv, one per line) under SLURM's env."""
    path = fake_bin(tmp_path / "bin", {"scontrol": 'printf "%s\\n" ' + nodes, "srun": 'printf "%s\\n" "$@"'})
    (tmp_path / "job.sh").write_text(text)
    env = {
        "PATH": path,
        "SLURM_JOB_NODELIST": "gpu[07-08]",
        "SLURM_NNODES": str(len(nodes.split())),
        "SLURM_JOB_ID": job_id,
    }
    done = subprocess.run(["bash", str(tmp_path / "job.sh")], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_job_script_asks_for_what_the_run_config_says_and_torchrun_follows_the_allocation(tmp_path):
    job = SlurmJobConfig(
        nodes=2,
        gpus_per_node=4,
        cpus_per_task=8,
        time="04:00:00",
        partition="gpu",
        account="lab",
        extra_args=["--qos=high"],
    )
    env = {"DAGSTER_PIPES_CONTEXT": "eyJ4Ijog", "ODD": 'it\'s a "value" $HOME'}
    text = job_script(
        training_command(config(), 1, module=MODULE),
        1,
        job,
        env,
        "torchcell-mlp_model",
        tmp_path / "job-%j.out",
        "/repo",
    )
    options = [line.split(" ", 1)[1] for line in text.splitlines() if line.startswith("#SBATCH ")]
    assert options == [
        "--job-name=torchcell-mlp_model",
        "--nodes=2",
        "--ntasks-per-node=1",
        "--cpus-per-task=32",
        f"--output={tmp_path / 'job-%j.out'}",
        "--chdir=/repo",
        "--export=ALL",
        "--gpus-per-node=4",
        "--time=04:00:00",
        "--partition=gpu",
        "--account=lab",
        "--qos=high",
    ]
    argv = run_script(tmp_path, text, "gpu07 gpu08", "123456")
    assert argv[0].startswith("torchcell: job 123456 on gpu[07-08] (2 node(s)), rendezvous gpu07:")
    launched = argv[1:]
    assert launched[:6] == [
        "--nodes=2",
        "--ntasks-per-node=1",
        "--cpus-per-task=32",
        "--kill-on-bad-exit=1",
        "--gpus-per-node=4",
        sys.executable,
    ]
    assert launched[6:8] == ["-m", "torch.distributed.run"]
    assert launched[8:14] == [
        "--nnodes=2",
        "--nproc_per_node=4",
        "--rdzv_backend=c10d",
        f"--rdzv_endpoint=gpu07:{20000 + 123456 % 20000}",
        "--rdzv_id=123456",
        "--max_restarts=0",
    ]
    assert launched[14:] == training_command(config(), 1, module=MODULE)[1:]
    exported = subprocess.run(
        [
            "bash",
            "-c",
            "\n".join(line for line in text.splitlines() if line.startswith("export ")) + '\nprintf "%s" "$ODD"',
        ],
        capture_output=True,
        text=True,
    )
    assert exported.stdout == env["ODD"], "the step's environment reaches the job unchanged"


def test_ranks_follow_tasks_per_node_or_the_step_and_one_rank_runs_without_torchrun(tmp_path):
    two = job_script(
        training_command(config(), 2, module=MODULE)[:1] + ["-m", MODULE],
        2,
        SlurmJobConfig(rdzv_port=29400),
        {},
        "t",
        tmp_path / "o",
        "/repo",
    )
    assert "--nproc_per_node=2" in two and '--nnodes="$SLURM_NNODES"' in two and "port=29400" in two
    assert "--cpus-per-task=2" in two
    tasks = job_script(
        [sys.executable, "-m", MODULE], 1, SlurmJobConfig(nodes=3, ntasks_per_node=2), {}, "t", tmp_path / "o", "/repo"
    )
    assert "--nproc_per_node=2" in tasks and "#SBATCH --nodes=3" in tasks
    one = run_script(
        tmp_path,
        job_script([sys.executable, "-m", MODULE, "--x"], 1, SlurmJobConfig(), {}, "t", tmp_path / "o", "/repo"),
        "node1",
        "7",
    )
    assert one[1:] == [
        "--nodes=1",
        "--ntasks-per-node=1",
        "--cpus-per-task=1",
        "--kill-on-bad-exit=1",
        sys.executable,
        "-m",
        MODULE,
        "--x",
    ]


def test_a_finished_job_state_is_read_from_scontrol(tmp_path, monkeypatch):
    line = "JobId=5 JobName=t JobState=TIMEOUT Reason=TimeLimit Dependency=(null) ExitCode=0:15 DerivedExitCode=0:0"
    monkeypatch.setenv("PATH", fake_bin(tmp_path / "bin", {"scontrol": f"echo '{line}'"}))
    assert job_info("5") == {"JobState": "TIMEOUT", "Reason": "TimeLimit", "ExitCode": "0:15"}


def test_the_backend_is_chosen_by_environment_or_config(monkeypatch):
    monkeypatch.delenv("TORCHCELL_TRAINING_BACKEND", raising=False)
    assert isinstance(training_client_from_env().client(), ProcessGroupPipesClient)
    monkeypatch.setenv("TORCHCELL_TRAINING_BACKEND", "slurm")
    client = training_client_from_env().client()
    assert type(client).__name__ == "SlurmPipesClient" and client.job.nodes == 1
    monkeypatch.setenv("TORCHCELL_TRAINING_BACKEND", "lsf")
    with pytest.raises(ValueError, match="'lsf' is unknown; choose one of"):
        training_client_from_env()
    with pytest.raises(ValueError, match="training backend 'pbs' is unknown"):
        TrainingClient(backend="pbs").client()


def test_a_run_selects_slurm_and_its_request_in_resource_config():
    chosen = {}

    @dg.asset
    def training(pipes_subprocess_client: TrainingClient) -> None:
        chosen["client"] = pipes_subprocess_client.client()

    slurm = {"backend": "slurm", "slurm": {"nodes": 2, "gpus_per_node": 4, "partition": "gpu"}}
    dg.materialize(
        [training],
        resources={"pipes_subprocess_client": TrainingClient()},
        run_config={"resources": {"pipes_subprocess_client": {"config": slurm}}},
    )
    job = chosen["client"].job
    assert (type(chosen["client"]).__name__, job.nodes, job.gpus_per_node, job.partition) == (
        "SlurmPipesClient",
        2,
        4,
        "gpu",
    )
    dg.materialize([training], resources={"pipes_subprocess_client": TrainingClient()})
    assert isinstance(chosen["client"], ProcessGroupPipesClient)


# --- against a real local cluster -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A one-node SLURM cluster (scripts/slurm_cluster.py) for this module; SLURM_CONF points at it."""
    if not shutil.which("slurmctld") and (os.geteuid() != 0 or not shutil.which("apt-get")):
        pytest.skip("SLURM is not installed and cannot be here (installing slurm-wlm and munge needs apt-get and root)")
    root = tmp_path_factory.mktemp("slurm")
    script = [sys.executable, str(REPO / "scripts" / "slurm_cluster.py")]
    started = subprocess.run([*script, "start", "--dir", str(root)], capture_output=True, text=True, timeout=900)
    assert started.returncode == 0, started.stdout + started.stderr
    before = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(root / "slurm.conf")
    try:
        yield root
    finally:
        subprocess.run([*script, "stop", "--dir", str(root)], capture_output=True, timeout=120)
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before


def squeue() -> list[list[str]]:
    """(job id, name, state) of every job squeue lists."""
    listed = subprocess.run(["squeue", "-h", "-o", "%i %j %T"], capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0, listed.stderr
    return [row.split() for row in listed.stdout.splitlines()]


TRAINING = {
    "epochs": 3,
    "batch_size": 32,
    "bootstrap": 100,
    "nproc": 2,
    "seed": 3,
    "device": "cpu",
    "hparams": ["hidden_dim=32", "embedding_dim=16"],
}


def train_mlp(root: Path, client) -> tuple[dg.ExecuteInProcessResult, float, list[str]]:
    """Materialize mlp_model[digenic|split_random] on the small data with `client`; (result, seconds, the run
    log's messages)."""
    from torchcell_assets.defs.models.partitions import partition_key
    from torchcell_assets.defs.models.training import MODEL_ASSETS

    storage = small_storage(root)
    instance = dg.DagsterInstance.ephemeral()
    started = time.monotonic()
    result = dg.materialize(
        [MODEL_ASSETS["mlp"]],
        partition_key=partition_key("digenic", "split_random"),
        resources={"storage": storage, "pipes_subprocess_client": client},
        instance=instance,
        run_config={"ops": {"mlp_model": {"config": TRAINING}}},
    )
    seconds = time.monotonic() - started
    return result, seconds, [entry.user_message for entry in instance.all_logs(result.run_id)]


@pytest.mark.hpc
def test_a_model_trained_by_a_slurm_job_matches_the_local_run(cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    slurm = TrainingClient(backend="slurm", slurm=SlurmJobConfig(ntasks_per_node=2, poll_seconds=0.5))
    remote, remote_seconds, logs = train_mlp(tmp_path / "slurm", slurm)
    local, local_seconds, _ = train_mlp(tmp_path / "local", TrainingClient())
    print(
        f"\nmlp_model digenic|split_random, 2 ranks, 3 epochs: SLURM job {remote_seconds:.1f} s, "
        f"local torchrun {local_seconds:.1f} s"
    )
    metadata = {
        name: r.get_asset_materialization_events()[0].materialization.metadata
        for name, r in (("slurm", remote), ("local", local))
    }
    job_id = metadata["slurm"]["slurm_job_id"].value
    assert isinstance(job_id, int) and job_id > 0 and "slurm_job_id" not in metadata["local"]
    assert metadata["slurm"]["world_size"].value == metadata["local"]["world_size"].value == 2
    for name in ("test_fitness_pearson", "test_interaction_pearson", "epochs_completed", "best_epoch"):
        assert metadata["slurm"][name].value == pytest.approx(metadata["local"][name].value, abs=1e-6), name
    checks = [e.passed for r in (remote, local) for e in r.get_asset_check_evaluations()]
    assert checks == [True, True]  # predictions_complete, reported by rank 0 of each
    assert any(f"SLURM job {job_id}: COMPLETED" in message for message in logs)
    assert any(f"[slurm {job_id}] torchcell: job {job_id}" in message for message in logs), "the output is streamed"
    assert any(message.startswith("torchcell_core.train.run: training mlp") for message in logs), "logs via Pipes"
    run = tmp_path / "slurm" / "models" / "mlp" / "digenic-nograph-split_random"
    assert json.loads((run / "metrics.json").read_text())["world_size"] == 2
    assert list(run.glob("slurm-*/job.sh")), "the job script is kept with the run"


INTERRUPTED_TRAINING = """
    import json, sys
    import dagster as dg
    from torchcell_assets.defs.models.partitions import partition_key
    from torchcell_assets.defs.models.training import MODEL_ASSETS
    from torchcell_assets.defs.resources import TrainingClient
    from torchcell_assets.lib.slurm_pipes import SlurmJobConfig
    from torchcell_assets.lib.storage import TorchcellStorage

    client = TrainingClient(backend="slurm", slurm=SlurmJobConfig(ntasks_per_node=2, poll_seconds=0.5))
    resources = {"storage": TorchcellStorage(data_dir=sys.argv[1]), "pipes_subprocess_client": client}
    result = dg.materialize([MODEL_ASSETS["mlp"]], partition_key=partition_key("digenic", "split_random"),
                            resources=resources, run_config={"ops": {"mlp_model": {"config": json.loads(sys.argv[2])}}},
                            raise_on_error=False)
    print("success" if result.success else "failure", flush=True)
"""


@pytest.mark.hpc
def test_a_rerun_resumes_the_interrupted_slurm_job_from_its_checkpoint(cluster, tmp_path, monkeypatch):
    from torchcell_assets.defs.models.partitions import partition_key
    from torchcell_assets.defs.models.training import MODEL_ASSETS
    from torchcell_assets.lib.storage import TorchcellStorage

    monkeypatch.setenv("WANDB_MODE", "disabled")
    small_storage(tmp_path)
    training = {**TRAINING, "epochs": 30, "patience": 30}
    last = tmp_path / "models" / "mlp" / "digenic-nograph-split_random.training" / "checkpoints" / "last.pt"
    step = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(INTERRUPTED_TRAINING), str(tmp_path), json.dumps(training)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(last.is_file, 120), "the SLURM job wrote no checkpoint"
        step.send_signal(signal.SIGINT)
        out, _ = step.communicate(timeout=90)
    finally:
        if step.poll() is None:
            step.kill()
    assert out.strip().splitlines()[-1] == "failure" and last.is_file()
    assert not [j for j in squeue() if j[1] == "torchcell-mlp_model"]
    client = TrainingClient(backend="slurm", slurm=SlurmJobConfig(ntasks_per_node=2, poll_seconds=0.5))
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [MODEL_ASSETS["mlp"]],
        partition_key=partition_key("digenic", "split_random"),
        resources={"storage": TorchcellStorage(data_dir=str(tmp_path)), "pipes_subprocess_client": client},
        instance=instance,
        run_config={"ops": {"mlp_model": {"config": {**training, "resume": True}}}},
    )
    logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    resumed = [m for m in logs if "torchcell_core.train.loop: train (epochs " in m and "[slurm" not in m]
    assert resumed and not resumed[0].split("(epochs ")[1].startswith("1-"), resumed
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["epochs_completed"].value == 30


CANCELLED_STEP = """
    import sys
    import dagster as dg
    from torchcell_assets.lib.slurm_pipes import SlurmJobConfig, SlurmPipesClient

    @dg.asset
    def long_training(context: dg.AssetExecutionContext, pipes_subprocess_client: dg.PipesSubprocessClient):
        command = [sys.executable, "-c", "import time; time.sleep(600)"]
        return pipes_subprocess_client.run(context=context, command=command).get_materialize_result()

    client = SlurmPipesClient(SlurmJobConfig(shared_dir=sys.argv[1], poll_seconds=0.5, cancel_seconds=30))
    result = dg.materialize([long_training], resources={"pipes_subprocess_client": client}, raise_on_error=False)
    print("success" if result.success else "failure", flush=True)
"""


def wait_for(condition, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.5)
    return condition()


@pytest.mark.hpc
def test_cancelling_the_run_cancels_the_slurm_job(cluster, tmp_path):
    step = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CANCELLED_STEP), str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        running = wait_for(
            lambda: [j for j in squeue() if j[1] == "torchcell-long_training" and j[2] == "RUNNING"], 120
        )
        assert running, f"the job did not start: {squeue()}"
        job_id = running[0][0]
        step.send_signal(signal.SIGINT)  # what cancelling a run does to its step process
        out, _ = step.communicate(timeout=90)
    finally:
        if step.poll() is None:
            step.kill()
    assert out.strip().splitlines()[-1] == "failure"
    assert job_id not in [j[0] for j in squeue()], "the job is gone from squeue"
    assert job_info(job_id)["JobState"] == "CANCELLED"


@pytest.mark.hpc
def test_a_job_that_exits_non_zero_fails_the_step_with_slurms_reason(cluster, tmp_path):
    from torchcell_assets.lib.slurm_pipes import SlurmPipesClient

    @dg.asset
    def failing_training(context: dg.AssetExecutionContext, pipes_subprocess_client: dg.PipesSubprocessClient):
        command = [sys.executable, "-c", "import sys; print('loss is nan', flush=True); sys.exit(3)"]
        return pipes_subprocess_client.run(context=context, command=command).get_materialize_result()

    client = SlurmPipesClient(SlurmJobConfig(shared_dir=str(tmp_path), poll_seconds=0.5))
    result = dg.materialize([failing_training], resources={"pipes_subprocess_client": client}, raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.error.to_string()
    assert "ended FAILED (reason NonZeroExitCode, exit code 3:0)" in message, message
    assert "loss is nan" in message, "the job's last output lines are quoted"
