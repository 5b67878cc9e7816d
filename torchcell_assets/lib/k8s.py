"""The Kubernetes configuration torchcell recommends, as data: image, environment, the shared data volume and the
GPU request, for the three ways a training step can run on a cluster:

- `executor_config`: run config for dagster-k8s's `k8s_job_executor` (each step a Job; a step's op tag
  `dagster-k8s/config`, e.g. `K8S_GPU_TAGS` of the model assets, adds its GPU limit);
- `pipes_pod_spec` / `pipes_k8s_client`: the `base_pod_spec` for `PipesK8sClient.run`, and that client set up
  with it (the asset's Pipes client starts the training pod), carrying the same op tag's container settings;
- `torchrun_job`: several nodes: an Indexed Job (one pod per node) and a headless Service that gives pod 0 a
  stable DNS name for torchrun's rendezvous.

Only plain dicts and `torchcell_core` here: dagster-k8s (extra `k8s`) is imported by whoever applies them, so
the code location loads without it. Every pod mounts the same ReadWriteMany claim at the same path as the
code location's pod (`TORCHCELL_DATA_DIR` under it), so the paths a step hands to the training agree.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

K8S_CONFIG_TAG = "dagster-k8s/config"
RENDEZVOUS_PORT = 29500


@dataclass(frozen=True)
class K8sTrainingSettings:
    """Where and with what a training pod runs; the defaults are what torchcell recommends."""

    image: str = "torchcell:0.1.0"  # an image with this project installed (`pip install .[k8s]`), pushed by the lab
    namespace: str = "torchcell"
    python: str = "python"  # the interpreter inside the image (replaces the orchestrator's sys.executable)
    data_claim: str = "torchcell-data"  # a ReadWriteMany PersistentVolumeClaim holding the data directory
    data_mount: str = "/data"
    shm_size: str = "8Gi"  # /dev/shm for DataLoader workers and NCCL (the container default is 64 MiB)
    gpus_per_pod: int = 1  # the nvidia.com/gpu limit; torchrun starts this many ranks per pod
    env: Mapping[str, str] = field(
        default_factory=lambda: {
            "TORCHCELL_DATA_DIR": "/data/torchcell",
            "PYTHONUNBUFFERED": "1",
            "WANDB_MODE": "offline",
        }
    )

    def volumes(self) -> list[dict[str, Any]]:
        """The shared data claim and a memory-backed /dev/shm."""
        return [
            {"name": "torchcell-data", "persistentVolumeClaim": {"claimName": self.data_claim}},
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": self.shm_size}},
        ]

    def volume_mounts(self) -> list[dict[str, Any]]:
        return [{"name": "torchcell-data", "mountPath": self.data_mount}, {"name": "dshm", "mountPath": "/dev/shm"}]

    def env_list(self) -> list[dict[str, str]]:
        return [{"name": name, "value": value} for name, value in self.env.items()]

    def gpu_limits(self) -> dict[str, str]:
        return {"nvidia.com/gpu": str(self.gpus_per_pod)} if self.gpus_per_pod else {}


def container_command(command: Sequence[str], settings: K8sTrainingSettings) -> list[str]:
    """`command` (e.g. `training_command(...)`, which starts with this machine's interpreter) for the image."""
    argv = list(command)
    if argv and argv[0] == sys.executable:
        argv[0] = settings.python
    return argv


def op_container_config(op_tags: Mapping[str, Any]) -> dict[str, Any]:
    """The `container_config` of an op's `dagster-k8s/config` tag (a dict or its JSON string), or {}."""
    value = op_tags.get(K8S_CONFIG_TAG) or {}
    config = json.loads(value) if isinstance(value, str) else value
    return copy.deepcopy(dict(config.get("container_config") or {}))


def executor_config(settings: K8sTrainingSettings) -> dict[str, Any]:
    """Run config for `k8s_job_executor` (`execution: {config: ...}`): image, namespace, env, volumes."""
    return {
        "job_image": settings.image,
        "job_namespace": settings.namespace,
        "image_pull_policy": "IfNotPresent",
        "env_vars": [f"{name}={value}" for name, value in settings.env.items()],
        "volumes": settings.volumes(),
        "volume_mounts": settings.volume_mounts(),
    }


def _container(settings: K8sTrainingSettings, base: dict[str, Any], gpus_from_settings: bool) -> dict[str, Any]:
    """`base` (container settings) plus the data volume, /dev/shm and the settings' env; the GPU limit is the
    settings' when `gpus_from_settings`, else `base`'s (the settings' only where `base` has none)."""
    container = copy.deepcopy(base)
    limits = container.setdefault("resources", {}).setdefault("limits", {})
    for name, value in settings.gpu_limits().items():
        limits[name] = value if gpus_from_settings else limits.get(name, value)
    container["volumeMounts"] = [
        *container.pop("volume_mounts", []),
        *container.pop("volumeMounts", []),
        *settings.volume_mounts(),
    ]
    container["env"] = [*container.get("env", []), *settings.env_list()]
    return container


def ranks_of(command: Sequence[str]) -> int:
    """How many ranks `command` starts: N of torchrun's `--nproc_per_node=N` (`training_command`), else 1."""
    for part in command:
        if part.startswith("--nproc_per_node="):
            return int(part.split("=", 1)[1])
    return 1


def pipes_pod_spec(settings: K8sTrainingSettings, op_tags: Mapping[str, Any], ranks: int = 1) -> dict[str, Any]:
    """`base_pod_spec` for `PipesK8sClient.run(image=settings.image, command=container_command(...))`: the op
    tag's container settings (its GPU limit wins, raised to `ranks` GPUs for a torchrun of that many ranks),
    the data volume and /dev/shm, and the settings' env."""
    container = _container(settings, op_container_config(op_tags), gpus_from_settings=False)
    limits = container["resources"]["limits"]
    if "nvidia.com/gpu" in limits and ranks > int(limits["nvidia.com/gpu"]):
        limits["nvidia.com/gpu"] = str(ranks)
    return {"restartPolicy": "Never", "containers": [container], "volumes": settings.volumes()}


def pipes_k8s_client(settings: K8sTrainingSettings | None = None, **client_options: Any) -> Any:
    """A dagster-k8s `PipesK8sClient` to put in place of `pipes_subprocess_client` (defs/resources.py): the
    model assets' `run(context=, command=, extras=, env=)` then starts a pod with `settings`' image, data volume
    and env, and the step's `dagster-k8s/config` op tag (its GPU limit). Needs the `k8s` extra."""
    from dagster_k8s import PipesK8sClient

    chosen = settings or K8sTrainingSettings()

    class TrainingPodClient(PipesK8sClient):
        def run(
            self,
            *,
            context: Any,
            command: str | Sequence[str],
            extras: Any = None,  # ty: ignore[invalid-method-override]
            env: Mapping[str, str] | None = None,
            **options: Any,
        ) -> Any:
            argv = container_command(command, chosen) if not isinstance(command, str) else command
            options.setdefault("image", chosen.image)
            options.setdefault("namespace", chosen.namespace)
            ranks = ranks_of(argv) if not isinstance(argv, str) else 1
            options.setdefault("base_pod_spec", pipes_pod_spec(chosen, context.op_def.tags, ranks))
            return super().run(context=context, extras=extras, command=argv, env=env, **options)

    return TrainingPodClient(**client_options)


def torchrun_argv(
    nnodes: int, nproc_per_node: int, endpoint: str, node_rank: str | int, entry: Sequence[str]
) -> list[str]:
    """`torchrun` across `nnodes` nodes with static rendezvous at `endpoint` (host:port of node 0's agent);
    `entry` is what each rank runs (`-m module argv...` or `script.py argv...`)."""
    if nnodes < 1 or nproc_per_node < 1:
        raise ValueError(f"nnodes and nproc_per_node must be at least 1, got {nnodes} and {nproc_per_node}")
    return [
        "torchrun",
        "--nnodes",
        str(nnodes),
        "--nproc_per_node",
        str(nproc_per_node),
        "--node_rank",
        str(node_rank),
        "--rdzv_backend",
        "static",
        "--rdzv_endpoint",
        endpoint,
        *entry,
    ]


def torchrun_job(
    name: str,
    nnodes: int,
    train_argv: Sequence[str],
    settings: K8sTrainingSettings | None = None,
    module: str = "torchcell_core.train.run",
    port: int = RENDEZVOUS_PORT,
) -> list[dict[str, Any]]:
    """A headless Service and an Indexed Job training on `nnodes` pods of `settings.gpus_per_pod` GPUs (ranks)
    each. Pod i (hostname `<name>-i`, subdomain the Service, so `<name>-0.<service>` resolves to pod 0) runs
    `torchrun --node_rank i` with `JOB_COMPLETION_INDEX` as i; pod 0's agent hosts the rendezvous on `port`.
    `train_argv` is the training entry point's argv (`torchcell_core.train.config.to_argv`)."""
    settings = settings or K8sTrainingSettings()
    service = f"{name}-rdzv"
    labels = {"app.kubernetes.io/name": "torchcell-train", "torchcell/job": name}
    argv = torchrun_argv(
        nnodes,
        max(settings.gpus_per_pod, 1),
        f"{name}-0.{service}:{port}",
        "$(JOB_COMPLETION_INDEX)",
        ["-m", module, *train_argv],
    )
    container = _container(settings, {}, gpus_from_settings=True)
    container.update(
        {"name": "train", "image": settings.image, "command": argv, "ports": [{"name": "rdzv", "containerPort": port}]}
    )
    # Set by the Job controller too; declared here so Kubernetes expands $(JOB_COMPLETION_INDEX) in the command.
    index = {"fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}
    container["env"] = [{"name": "JOB_COMPLETION_INDEX", "valueFrom": index}, *container["env"]]
    headless = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service, "namespace": settings.namespace, "labels": labels},
        # No cluster IP: DNS answers with the pods; published before they are ready, as rendezvous needs.
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": labels,
            "ports": [{"name": "rdzv", "port": port, "targetPort": port}],
        },
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": settings.namespace, "labels": labels},
        "spec": {
            "completionMode": "Indexed",
            "completions": nnodes,
            "parallelism": nnodes,
            "backoffLimit": 0,  # a failed node fails the run; re-running resumes from the checkpoint
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "subdomain": service,
                    "restartPolicy": "Never",
                    "containers": [container],
                    "volumes": settings.volumes(),
                },
            },
        },
    }
    return [headless, job]


def main(argv: Sequence[str] | None = None) -> int:
    """Print `torchrun_job`'s Service and Job as one JSON List for `kubectl apply -f -`."""
    import argparse

    parser = argparse.ArgumentParser(description="Print the multi-node training Job and its headless Service.")
    parser.add_argument("--name", required=True, help="the Job's name (a DNS label)")
    parser.add_argument("--nnodes", type=int, required=True)
    parser.add_argument("--gpus-per-node", type=int, default=K8sTrainingSettings.gpus_per_pod)
    parser.add_argument("--image", default=K8sTrainingSettings.image)
    parser.add_argument("--namespace", default=K8sTrainingSettings.namespace)
    parser.add_argument("train_argv", nargs=argparse.REMAINDER, help="after --: the training entry point's argv")
    args = parser.parse_args(argv)
    settings = K8sTrainingSettings(image=args.image, namespace=args.namespace, gpus_per_pod=args.gpus_per_node)
    train_argv = args.train_argv[1:] if args.train_argv[:1] == ["--"] else args.train_argv
    items = torchrun_job(args.name, args.nnodes, train_argv, settings)
    print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
