"""Neural model assets: each trains one registered model on a curated dataset through
`torchcell_core.train` (torchrun/DDP for nproc > 1; gloo on CPU, nccl on GPU) and reports its metrics."""

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from torchcell_assets.defs.cell_graphs.assets import cell_graphs
from torchcell_assets.defs.datasets.assets import DATASET_ASSETS, require_rows
from torchcell_assets.defs.features.assets import gene_features
from torchcell_assets.defs.models.partitions import MODEL_DATASETS, MODEL_PARTITIONS, RunSpec, comparison_of
from torchcell_assets.defs.sources.genome import go_dag, s288c_genome
from torchcell_assets.defs.sources.paths import GENOME_PARQUET, GO_EDGES, GO_TERMS
from torchcell_assets.lib.code_versions import code_version
from torchcell_assets.lib.config_model import config_class, to_dataclass
from torchcell_assets.lib.metadata import image, metadata_table
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.cell.graph_sets import graph_set
from torchcell_core.cell.leakage import check_no_label_leakage
from torchcell_core.datasets.curate import SPECS
from torchcell_core.hashing import file_sha256
from torchcell_core.models.base import model_specs
from torchcell_core.train.config import TrainConfig, TrainSettings, parse_hparam
from torchcell_core.train.launch import prepare_staging, promote, training_command
from torchcell_core.train.prediction_check import PREDICTIONS_COMPLETE
from torchcell_core.train.run_dir import RunDir

PIPES_MODULE = "torchcell_assets.lib.pipes_train"  # the training child, run under Dagster Pipes
CODE_VERSION = code_version(__name__, PIPES_MODULE)  # this module, the training child and the core code they run

# One model asset per registered model (torchcell_core.models: what each reads besides its partition's dataset,
# its default epochs and hyperparameters); adding a model is one module there, nothing here.
NEURAL_MODELS = model_specs()


def training_deps(
    neural_models: Iterable[str] = (), datasets: Iterable[str] = MODEL_DATASETS
) -> list[dg.AssetsDefinition]:
    """The assets a run of any of `neural_models` (none: the classical baselines) on `datasets` reads, so the
    lineage graph shows only those: the datasets, the genome's gene table, gene features (a run's
    `gene_feature` option), and the GO DAG and the cell graphs only when one of the models reads them."""
    deps = [*(DATASET_ASSETS[name] for name in datasets), s288c_genome, gene_features]
    deps += [go_dag] if any(NEURAL_MODELS[model].go for model in neural_models) else []
    return deps + ([cell_graphs] if any(NEURAL_MODELS[model].graph_set for model in neural_models) else [])


# Read by the dagster-k8s executor / run launcher (ignored elsewhere): one GPU per training step. The `gpu`
# pool bounds how many training steps run at once (`dagster instance concurrency set gpu N`).
GPU_POOL = "gpu"
K8S_GPU_TAGS = {"dagster-k8s/config": {"container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}}}}


class TrainingConfig(config_class(TrainSettings, "TrainSettingsConfig")):
    """One training run on the partition's dataset and split: the core's `TrainSettings` (same names, defaults
    and meaning as the CLI's flags; `epochs: 0` is the model's default, `resume` continues an interrupted run
    from its checkpoint) plus what only the orchestrator chooses. `hparams` are `key=value` strings."""

    nproc: int = 1  # ranks; > 1 launches torchrun (DDP)
    gene_feature: str = ""  # a gene_features name; "" lets the model learn an embedding
    graph_set: str = ""  # graph models: a cell_graphs set (string9.1, string12, physical+regulatory); "" = default
    hparams: list[str] = []


def _cell_graph_file(storage: TorchcellStorage, name: str) -> str:
    """The file of graph set `name`, as the latest `cell_graphs` manifest lists it."""
    manifest = json.loads(storage.cell_graphs_manifest().read_text())
    entry = manifest["graph_sets"].get(name)
    if entry is None:
        raise ValueError(f"graph set {name!r} was not built by cell_graphs; built: {sorted(manifest['graph_sets'])}")
    return str(storage.cell_graphs_manifest().parent / entry["file"])


def run_spec(model: str, dataset: str, config: TrainingConfig) -> RunSpec:
    """The dataset and graph set `model` trains on (a graph set only for the models that read a cell graph)."""
    default = NEURAL_MODELS[model].graph_set
    if config.graph_set and not default:
        raise ValueError(f"{model} reads no cell graph; leave graph_set empty (got {config.graph_set!r})")
    return RunSpec(dataset, config.graph_set or default)


def train_config(
    model: str, spec: RunSpec, split: str, config: TrainingConfig, storage: TorchcellStorage
) -> TrainConfig:
    """The `TrainConfig` for `model` on `spec` and `split`, with the leakage rule enforced."""
    defaults = NEURAL_MODELS[model]
    if spec.dataset not in SPECS:
        raise ValueError(f"unknown dataset {spec.dataset!r}; curated datasets: {sorted(SPECS)}")
    if spec.graph_set:
        check_no_label_leakage(graph_set(spec.graph_set), SPECS[spec.dataset].datasets)
    return TrainConfig.from_settings(
        to_dataclass(config, TrainSettings),
        model=model,
        dataset=str(storage.dataset_parquet(spec.dataset)),
        gene_table=str(storage.path(*GENOME_PARQUET)),
        out="",
        split=split,
        hparams=defaults.hparams | dict(parse_hparam(item) for item in config.hparams),
        gene_features=str(storage.feature_file(config.gene_feature)) if config.gene_feature else None,
        cell_graph=_cell_graph_file(storage, spec.graph_set) if spec.graph_set else None,
        go_terms=str(storage.path(*GO_TERMS)) if defaults.go else None,
        go_edges=str(storage.path(*GO_EDGES)) if defaults.go else None,
        go_dataset_genes=defaults.go,
        run_name=f"{model}-{spec.label}-{split}",
    ).resolved()


def metrics_table(metrics: dict) -> pd.DataFrame:
    """One row per fold and label: Pearson, Spearman, MSE, R² (test: with 95% CIs), AUROC/AUPRC."""
    rows = []
    for fold, labels in metrics["splits"].items():
        for label, values in labels.items():
            row = {"fold": fold, "label": label, "n": values.get("n")}
            for name in ("pearson", "spearman", "mse", "r2", "auroc", "auprc"):
                if name in values:
                    ci = values.get("ci", {}).get(name)
                    row[name] = f"{values[name]:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
            rows.append(row)
    return pd.DataFrame(rows)


def build_model_asset(model: str) -> dg.AssetsDefinition:
    deps = training_deps([model])

    @dg.asset(
        name=f"{model}_model",
        group_name="models",
        code_version=CODE_VERSION,
        deps=deps,
        kinds={"pytorch"},
        partitions_def=MODEL_PARTITIONS,
        pool=GPU_POOL,
        op_tags=K8S_GPU_TAGS,
        check_specs=[
            dg.AssetCheckSpec(
                PREDICTIONS_COMPLETE,
                asset=f"{model}_model",
                description="one finite, non-constant prediction per fold row and target",
            )
        ],
        description=f"Train `{model}` (torchcell_core.models) on the partition's dataset through Dagster Pipes "
        "(torchrun/DDP for nproc > 1); metrics with 95% CIs.",
    )
    def _asset(
        context: dg.AssetExecutionContext,
        config: TrainingConfig,
        storage: TorchcellStorage,
        pipes_subprocess_client: dg.PipesSubprocessClient,
    ):
        dataset, split = comparison_of(context)
        require_rows(storage, dataset)
        spec = run_spec(model, dataset, config)
        train = train_config(model, spec, split, config, storage)
        target = storage.model_run_dir(model, spec.label, split)
        context.log.info(f"training {model} on {spec.label}/{split} with {config.nproc} rank(s)")
        shown = {"dataset": spec.dataset, "graph_set": spec.graph_set, "split": split}
        return train_through_pipes(
            context, pipes_subprocess_client, train, target, config.nproc, shown, recorded_dir=storage.relative(target)
        )

    return _asset


def train_through_pipes(
    context: dg.AssetExecutionContext,
    client: dg.PipesSubprocessClient,
    train: TrainConfig,
    target: Path,
    nproc: int,
    metadata: dict[str, Any],
    recorded_dir: str = "",
) -> dg.MaterializeResult:
    """Train `train` into `target`'s staging directory in child processes under Pipes (kept when `train.resume`,
    so an interrupted run continues from its checkpoint; else emptied first), swap it in, and return
    what rank 0 reported (metrics, run directory, data version, the predictions check) plus the pictures and
    tables the UI shows and `metadata`. The run directory is recorded as `recorded_dir` (the data directory's
    `relative(target)`, so a moved data directory still finds it), else as `target`."""
    train.out = str(prepare_staging(target, train.resume))
    invocation = client.run(
        context=context,
        command=training_command(train, nproc, module=PIPES_MODULE),
        extras={"run_dir": recorded_dir or str(target)},
        env={"PYTHONUNBUFFERED": "1"},
    )
    results = invocation.get_results()
    reported = next(r for r in results if isinstance(r, dg.MaterializeResult))
    checks = [r for r in results if isinstance(r, dg.AssetCheckResult)]
    promote(target)
    metrics = RunDir(target).read_metrics()
    test = metrics["splits"].get("test", {})
    scatters = {
        f"scatter_{label}": image(path, f"{train.model} {label}")
        for label in test
        if (path := RunDir(target).scatter("test", label)).is_file()
    }
    return dg.MaterializeResult(
        metadata={
            **(reported.metadata or {}),
            "metrics": metadata_table(metrics_table(metrics)),
            "training_curve": image(RunDir(target).training_curve, f"{train.model} training curve"),
            **scatters,
            **metadata,
            "dataset_sha256": file_sha256(train.dataset),
        },
        data_version=reported.data_version,
        check_results=checks,
    )


model_assets = [build_model_asset(model) for model in NEURAL_MODELS]
MODEL_ASSETS = {model: asset for model, asset in zip(NEURAL_MODELS, model_assets, strict=True)}
