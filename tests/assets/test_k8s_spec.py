"""Kubernetes without a cluster: dagster-k8s itself (its `PipesK8sClient` and `k8s_job_executor`, talking to a
stand-in API) builds the pod and Job a training step gets from torchcell's settings (`torchcell_assets.lib.k8s`)
and the model assets' op tags; a model trains through the pod-log Pipes protocol with that stand-in running the
pod here; the multi-node Indexed Job + headless Service is checked against the Kubernetes API models, and its
torchrun arguments form a two-"node" process group on this machine."""

import base64
import datetime
import json
import os
import socket
import subprocess
import sys
import zlib

import dagster as dg
import pytest

from tests.support.storage import small_storage
from torchcell_assets.defs.models.training import K8S_GPU_TAGS, MODEL_ASSETS, PIPES_MODULE
from torchcell_assets.lib.k8s import (
    K8sTrainingSettings,
    executor_config,
    pipes_k8s_client,
    torchrun_argv,
    torchrun_job,
)
from torchcell_core.train.config import TrainConfig, to_argv

kubernetes = pytest.importorskip("kubernetes", reason="dagster-k8s missing: pip install -e '.[k8s]'")
dagster_k8s = pytest.importorskip("dagster_k8s", reason="dagster-k8s missing: pip install -e '.[k8s]'")

SETTINGS = K8sTrainingSettings(image="registry.example.org/lab/torchcell:0.1.0")
TRAIN = TrainConfig(
    model="mlp",
    dataset="/data/torchcell/datasets/digenic.parquet",
    gene_table="/data/torchcell/sources/s288c_genome/genes.parquet",
    out="/data/torchcell/models/mlp/digenic-split_random.training",
    epochs=3,
)


def _api_dict(model) -> dict:
    """A kubernetes client model as the API server receives it (camelCase, no nulls)."""
    return kubernetes.client.ApiClient().sanitize_for_serialization(model)


def _as_model(kind: str, manifest: dict):
    """`manifest` parsed into the Kubernetes client's model `kind`: an unknown or misspelt field raises."""
    from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict

    model_class = getattr(kubernetes.client, kind)
    return k8s_model_from_dict(model_class, k8s_snake_case_dict(model_class, manifest))


def _decode(value: str) -> dict:
    """A DAGSTER_PIPES_* value (zlib-compressed base64 JSON)."""
    return json.loads(zlib.decompress(base64.b64decode(value)))


def _env(container: dict) -> dict[str, str]:
    return {item["name"]: item.get("value") for item in container.get("env") or []}


def _mounts(container: dict) -> dict[str, str]:
    return {item["name"]: item["mountPath"] for item in container["volumeMounts"]}


def test_model_assets_carry_the_gpu_tag():
    tags = MODEL_ASSETS["mlp"].op.tags
    value = tags["dagster-k8s/config"]
    assert (json.loads(value) if isinstance(value, str) else value) == K8S_GPU_TAGS["dagster-k8s/config"]


KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""


class Refused(Exception):
    """Raised by the stand-in API once it has kept what it was sent: there is no cluster behind it."""


class FakeKubernetes:
    """Stands in for the Kubernetes API dagster-k8s talks to (`DagsterKubernetesClient` and its core and batch
    APIs): keeps every pod and Job it is sent. With `execute`, it plays the kubelet for a pod: runs the first
    container's command here (the image's `python` is this interpreter) with the container's env, and serves
    the process's output as the pod log; else creating anything raises `Refused`."""

    def __init__(self, execute: bool = False) -> None:
        self.execute, self.pods, self.jobs, self.deleted = execute, [], [], []
        self.core_api = self.batch_api = self
        self.process: subprocess.Popen | None = None

    def create_namespaced_job_with_retries(self, body, namespace, **_) -> None:
        self.jobs.append((namespace, body))
        raise Refused(f"no cluster: Job {body.metadata.name} kept")

    def create_namespaced_pod(self, namespace, body) -> None:
        self.pods.append((namespace, body))
        if not self.execute:
            raise Refused(f"no cluster: pod {body.metadata.name} kept")
        container = body.spec.containers[0]
        command = [sys.executable if part == "python" else part for part in container.command]
        env = {**os.environ, **{item.name: item.value for item in container.env if item.value is not None}}
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def wait_for_pod(self, pod_name, namespace, wait_for_state, **_) -> None:
        if wait_for_state.value == "TERMINATED" and self.process.wait() != 0:
            raise RuntimeError(f"pod {pod_name}: container exited with {self.process.returncode}")

    def read_namespaced_pod_log(self, name, namespace, **_):
        for line in self.process.stdout:  # `timestamps=True`: every line starts with its time
            stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            yield stamp.encode() + b" " + line

    def delete_namespaced_pod(self, name, namespace) -> None:
        self.deleted.append(name)

    def delete_job(self, job_name, namespace, **_) -> None:  # the executor cleans up a step it failed to start
        self.deleted.append(job_name)


@pytest.fixture
def kubernetes_api(monkeypatch, tmp_path):
    """A kubeconfig naming no reachable cluster, and dagster-k8s's client replaced by a `FakeKubernetes`."""
    from dagster_k8s.client import DagsterKubernetesClient

    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    fake = FakeKubernetes()
    monkeypatch.setattr(DagsterKubernetesClient, "production_client", staticmethod(lambda *a, **k: fake))
    return fake, str(tmp_path / "kubeconfig")


TRAINING = {
    "epochs": 2,
    "batch_size": 32,
    "bootstrap": 50,
    "seed": 3,
    "device": "cpu",
    "hparams": ["hidden_dim=16", "embedding_dim=8"],
}


def materialize_mlp(storage, client) -> dg.ExecuteInProcessResult:
    from torchcell_assets.defs.models.partitions import partition_key

    return dg.materialize(
        [MODEL_ASSETS["mlp"]],
        partition_key=partition_key("digenic", "split_random"),
        resources={"storage": storage, "pipes_subprocess_client": client},
        run_config={"ops": {"mlp_model": {"config": TRAINING}}},
        raise_on_error=False,
    )


def test_pipes_training_pod(kubernetes_api, tmp_path):
    """The pod dagster-k8s's `PipesK8sClient` creates when `mlp_model` trains through `pipes_k8s_client`."""
    fake, kubeconfig = kubernetes_api
    result = materialize_mlp(small_storage(tmp_path / "data"), pipes_k8s_client(SETTINGS, kubeconfig_file=kubeconfig))
    assert not result.success
    ((namespace, pod),) = fake.pods
    assert namespace == SETTINGS.namespace
    spec = _api_dict(pod)["spec"]
    (container,) = spec["containers"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert container["image"] == SETTINGS.image
    assert container["command"][:3] == ["python", "-m", PIPES_MODULE]
    argv = container["command"][3:]
    assert argv[argv.index("--model") + 1] == "mlp" and argv[argv.index("--epochs") + 1] == "2"
    assert argv[argv.index("--dataset") + 1] == str(tmp_path / "data" / "datasets" / "digenic.parquet")
    env = _env(container)
    assert env["TORCHCELL_DATA_DIR"] == "/data/torchcell" and env["PYTHONUNBUFFERED"] == "1"
    assert _decode(env["DAGSTER_PIPES_MESSAGES"]) == {"stdio": "stderr"}  # messages come back in the pod log
    context = _decode(env["DAGSTER_PIPES_CONTEXT"])["data"]  # the context itself, inline
    assert context["asset_keys"] == ["mlp_model"] and context["partition_key"] == "digenic|split_random"
    assert context["extras"]["run_dir"] == "models/mlp/digenic-nograph-split_random"
    assert _mounts(container) == {"torchcell-data": "/data", "dshm": "/dev/shm"}
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert volumes["torchcell-data"]["persistentVolumeClaim"] == {"claimName": "torchcell-data"}
    assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
    assert spec["restartPolicy"] == "Never"


def test_a_torchrun_step_asks_for_a_gpu_per_rank():
    from torchcell_assets.lib.k8s import pipes_pod_spec, ranks_of
    from torchcell_core.train.launch import training_command

    assert ranks_of(training_command(TRAIN, 4)) == 4 and ranks_of(training_command(TRAIN, 1)) == 1
    limits = pipes_pod_spec(SETTINGS, MODEL_ASSETS["mlp"].op.tags, ranks=4)["containers"][0]["resources"]["limits"]
    assert limits == {"nvidia.com/gpu": "4"}


def _k8s_training_job():
    """`mlp_model` in a job whose steps run through dagster-k8s's `k8s_job_executor` (reconstructable)."""
    from dagster_k8s import k8s_job_executor

    from torchcell_assets.defs.resources import ProcessGroupPipesClient
    from torchcell_assets.lib.storage import TorchcellStorage

    job = dg.define_asset_job("train_on_k8s", selection=["mlp_model"], executor_def=k8s_job_executor)
    resources = {"storage": TorchcellStorage(), "pipes_subprocess_client": ProcessGroupPipesClient()}
    defs = dg.Definitions(assets=[MODEL_ASSETS["mlp"]], jobs=[job], resources=resources)
    return defs.resolve_job_def("train_on_k8s")


def test_k8s_job_executor_step_job(kubernetes_api, tmp_path):
    """The Job the `k8s_job_executor` (configured by `executor_config`) submits for the `mlp_model` step, on an
    instance with dagster-k8s's `K8sRunLauncher`, as the Helm chart sets it up."""
    fake, kubeconfig = kubernetes_api
    launcher = {
        "module": "dagster_k8s",
        "class": "K8sRunLauncher",
        "config": {
            "service_account_name": "dagster",
            "instance_config_map": "dagster-instance",
            "dagster_home": "/opt/dagster/dagster_home",
            "job_namespace": SETTINGS.namespace,
            "load_incluster_config": False,
            "kubeconfig_file": kubeconfig,
        },
    }
    with dg.instance_for_test(overrides={"run_launcher": launcher}) as instance:
        result = dg.execute_job(
            dg.reconstructable(_k8s_training_job),
            instance,
            run_config={"execution": {"config": executor_config(SETTINGS)}},
            tags={"dagster/partition": "digenic|split_random"},
        )
        assert not result.success
        failure = "\n".join(str(event.event_specific_data) for event in result.all_events if event.is_failure)
    assert "no cluster: Job dagster-step-" in failure
    ((namespace, job),) = fake.jobs
    assert namespace == SETTINGS.namespace
    pod = _api_dict(job)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "1"}  # from the op tag
    assert container["image"] == SETTINGS.image and container["imagePullPolicy"] == "IfNotPresent"
    assert container["args"][:3] == ["dagster", "api", "execute_step"]  # the step worker; it then trains
    env = _env(container)
    assert env["DAGSTER_RUN_STEP_KEY"] == "mlp_model" and env["TORCHCELL_DATA_DIR"] == "/data/torchcell"
    assert env["DAGSTER_HOME"] == "/opt/dagster/dagster_home"  # the instance, from the chart's config map
    mounts = _mounts(container)
    assert mounts["torchcell-data"] == "/data" and mounts["dshm"] == "/dev/shm"
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["torchcell-data"]["persistentVolumeClaim"] == {"claimName": "torchcell-data"}


def test_a_model_trains_through_the_pod_log_protocol(kubernetes_api, tmp_path, monkeypatch):
    """`mlp_model` through `pipes_k8s_client` with the stand-in API running the pod here: the metrics, data
    version and `predictions_complete` check come back through the pod log, as on a cluster."""
    monkeypatch.setenv("WANDB_MODE", "disabled")
    fake, kubeconfig = kubernetes_api
    fake.execute = True
    settings = K8sTrainingSettings(
        image=SETTINGS.image, env={"TORCHCELL_DATA_DIR": str(tmp_path / "data"), "WANDB_MODE": "disabled"}
    )
    result = materialize_mlp(small_storage(tmp_path / "data"), pipes_k8s_client(settings, kubeconfig_file=kubeconfig))
    assert result.success, [str(e.event_specific_data) for e in result.all_events if e.is_failure]
    materialization = result.asset_materializations_for_node("mlp_model")[0]
    assert materialization.metadata["world_size"].value == 1
    assert -1.0 <= materialization.metadata["test_interaction_pearson"].value <= 1.0
    assert materialization.tags["dagster/data_version"]
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.check_name == "predictions_complete"
    assert len(fake.pods) == 1 and fake.deleted == [fake.pods[0][1].metadata.name]


def test_multinode_indexed_job_and_headless_service():
    settings = K8sTrainingSettings(image=SETTINGS.image, gpus_per_pod=4)
    service, job = torchrun_job("mlp-digenic", 3, to_argv(TRAIN), settings)
    parsed_service, parsed_job = _as_model("V1Service", service), _as_model("V1Job", job)
    assert parsed_service.spec.cluster_ip == "None" and parsed_service.spec.publish_not_ready_addresses
    spec = parsed_job.spec
    assert spec.completion_mode == "Indexed" and spec.completions == spec.parallelism == 3
    pod = spec.template.spec
    assert pod.subdomain == service["metadata"]["name"] == "mlp-digenic-rdzv"
    assert parsed_service.spec.selector.items() <= spec.template.metadata.labels.items()
    (container,) = pod.containers
    assert container.resources.limits == {"nvidia.com/gpu": "4"}
    argv = container.command
    assert argv[:1] == ["torchrun"]
    flags = dict(zip(argv[1:11:2], argv[2:11:2], strict=True))
    assert flags == {
        "--nnodes": "3",
        "--nproc_per_node": "4",
        "--node_rank": "$(JOB_COMPLETION_INDEX)",
        "--rdzv_backend": "static",
        "--rdzv_endpoint": "mlp-digenic-0.mlp-digenic-rdzv:29500",
    }
    assert argv[11:] == ["-m", "torchcell_core.train.run", *to_argv(TRAIN)]
    # $(JOB_COMPLETION_INDEX) is expanded by Kubernetes only for a variable declared in the container's env.
    index = next(item for item in container.env if item.name == "JOB_COMPLETION_INDEX")
    assert index.value_from.field_ref.field_path == "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    assert {item.name: item.value for item in container.env}["TORCHCELL_DATA_DIR"] == "/data/torchcell"
    assert {m.name: m.mount_path for m in container.volume_mounts} == {"torchcell-data": "/data", "dshm": "/dev/shm"}
    assert pod.volumes[0].persistent_volume_claim.claim_name == "torchcell-data"
    assert container.ports[0].container_port == service["spec"]["ports"][0]["port"] == 29500


def test_k8s_module_loads_without_the_extra():
    """The code location (and `lib/k8s.py`) must load where dagster-k8s / dagster-postgres are not installed."""
    code = (
        "import sys; sys.modules['dagster_k8s'] = None; sys.modules['dagster_postgres'] = None; "
        "import torchcell_assets.lib.k8s, torchcell_assets.definitions as d; d.defs(); print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]


RANK_SCRIPT = """
import os, torch.distributed as dist
dist.init_process_group("gloo")
t = __import__("torch").ones(1) * (dist.get_rank() + 1)
dist.all_reduce(t)
print(f"RANK {dist.get_rank()} WORLD {dist.get_world_size()} SUM {int(t.item())}", flush=True)
dist.destroy_process_group()
"""


def test_torchrun_argv_trains_across_two_nodes(tmp_path):
    """The Job's torchrun arguments, run here as two "nodes" (node_rank 0 and 1) meeting at 127.0.0.1: one
    process group of world size 2 forms (gloo all-reduce of 1 + 2)."""
    script = tmp_path / "ranks.py"
    script.write_text(RANK_SCRIPT)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    nodes = []
    for rank in (0, 1):
        argv = torchrun_argv(2, 1, f"127.0.0.1:{port}", rank, [str(script)])
        argv = [sys.executable, "-m", "torch.distributed.run", *argv[1:]]  # the `torchrun` console script
        nodes.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [node.communicate(timeout=180)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs
    joined = "\n".join(outputs)
    assert "RANK 0 WORLD 2 SUM 3" in joined and "RANK 1 WORLD 2 SUM 3" in joined, joined
