"""Neural model assets: each trains one registered model on a curated dataset through
`torchcell_core.train` (torchrun/DDP for nproc > 1; gloo on CPU, nccl on GPU) and reports its metrics."""

import json
from pathlib import Path

import dagster as dg
import pandas as pd

from torchcell_assets.defs.cell_graphs.assets import cell_graphs, manifest_path
from torchcell_assets.defs.datasets.assets import DATASET_ASSETS, dataset_parquet
from torchcell_assets.defs.features.assets import feature_path, gene_features
from torchcell_assets.defs.sources.genome import go_dag
from torchcell_assets.defs.sources.paths import GENOME_PARQUET, GO_EDGES, GO_TERMS
from torchcell_assets.lib.metadata import image
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.cell.graph_sets import graph_set
from torchcell_core.cell.leakage import check_no_label_leakage
from torchcell_core.datasets.curate import SPECS
from torchcell_core.hashing import file_sha256
from torchcell_core.train.config import TrainConfig, parse_hparam
from torchcell_core.train.launch import launch

# What each model reads besides the dataset. The defaults keep `make demo` to minutes on 2 CPU cores: the
# graph and ontology models train on the small trigenic dataset (DCell runs ~200 samples/s on CPU); set
# `dataset`, `epochs`, `nproc` and `device` in the launchpad for real runs.
NEURAL_MODELS = {
    "mlp": {"dataset": "digenic", "graph_set": "", "go": False, "epochs": 8, "hparams": {}},
    "dcell": {"dataset": "trigenic", "graph_set": "", "go": True, "epochs": 3, "hparams": {}},
    "dango": {"dataset": "trigenic", "graph_set": "string9.1", "go": False, "epochs": 3, "hparams": {}},
    # One GATv2 layer: with two, a perturbed cell's recomputed 2-hop neighbourhood covers about half of the
    # STRING 12 graph (bench/hetero_gnn_naive.py), which on CPU costs minutes per epoch even here.
    "hetero_gnn": {
        "dataset": "trigenic",
        "graph_set": "string12",
        "go": False,
        "epochs": 3,
        "hparams": {"num_layers": 1},
    },
}
RUN_FILES = ("metrics.json", "predictions.parquet", "training_curve.png")


class TrainingConfig(dg.Config):
    """One training run. `hparams` are `key=value` strings passed to the model builder."""

    dataset: str = ""  # a curated dataset (torchcell_core.datasets.curate.SPECS); "" = the model's default
    split: str = "split_random"
    epochs: int = 0  # 0: the model's default
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-2
    patience: int = 10
    seed: int = 0
    nproc: int = 1  # ranks; > 1 launches torchrun (DDP)
    device: str = "cpu"  # cpu, cuda or auto
    gene_feature: str = ""  # a gene_features name; "" lets the model learn an embedding
    graph_set: str = ""  # "" = the model's default
    hparams: list[str] = []
    resume: bool = False  # continue an interrupted run instead of starting afresh
    bootstrap: int = 1000


def run_dir(storage: TorchcellStorage, model: str, dataset: str, split: str) -> Path:
    return storage.root() / "models" / model / f"{dataset}-{split}"


def _cell_graph_file(storage: TorchcellStorage, name: str) -> str:
    manifest = json.loads(manifest_path(storage).read_text())
    entry = manifest["graph_sets"].get(name)
    if entry is None:
        raise ValueError(f"graph set {name!r} was not built by cell_graphs; built: {sorted(manifest['graph_sets'])}")
    return str(manifest_path(storage).parent / entry["file"])


def train_config(model: str, config: TrainingConfig, storage: TorchcellStorage) -> TrainConfig:
    """The `TrainConfig` for `model` from the asset config, with the leakage rule enforced."""
    defaults = NEURAL_MODELS[model]
    dataset = config.dataset or defaults["dataset"]
    spec = SPECS[dataset]
    set_name = config.graph_set or defaults["graph_set"]
    if set_name:
        check_no_label_leakage(graph_set(set_name), spec.datasets)
    return TrainConfig(
        model=model, dataset=str(dataset_parquet(storage, dataset)),
        gene_table=str(storage.path(*GENOME_PARQUET)), out="", split=config.split,
        hparams=defaults["hparams"] | dict(parse_hparam(item) for item in config.hparams),
        gene_features=str(feature_path(storage, config.gene_feature)) if config.gene_feature else None,
        cell_graph=_cell_graph_file(storage, set_name) if set_name else None,
        go_terms=str(storage.path(*GO_TERMS)) if defaults["go"] else None,
        go_edges=str(storage.path(*GO_EDGES)) if defaults["go"] else None,
        epochs=config.epochs or defaults["epochs"], batch_size=config.batch_size, lr=config.lr,
        eval_batch_size=defaults.get("eval_batch_size", 4096),
        weight_decay=config.weight_decay, patience=config.patience, seed=config.seed, device=config.device,
        bootstrap=config.bootstrap, wandb="auto", run_name=f"{model}-{dataset}-{config.split}",
    )  # fmt: skip


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
    deps = [*DATASET_ASSETS.values(), gene_features, cell_graphs, go_dag]

    @dg.asset(
        name=f"{model}_model",
        group_name="models",
        code_version="1",
        deps=deps,
        kinds={"pytorch"},
        description=f"Train the `{model}` model (torchcell_core.models) on a curated dataset; metrics with 95% CIs.",
    )
    def _asset(context: dg.AssetExecutionContext, config: TrainingConfig, storage: TorchcellStorage):
        train = train_config(model, config, storage)
        dataset = Path(train.dataset).stem
        target = run_dir(storage, model, dataset, config.split)
        context.log.info(f"training {model} on {dataset}/{config.split} with {config.nproc} rank(s)")
        launch(train, target, nproc=config.nproc, resume=config.resume, log=context.log.info)
        metrics = json.loads((target / "metrics.json").read_text())
        table = metrics_table(metrics)
        test = metrics["splits"].get("test", {})
        scatters = {f"scatter_{label}": image(path, f"{model} {label}")
                    for label in test if (path := target / f"scatter_test_{label}.png").is_file()}  # fmt: skip
        return dg.MaterializeResult(
            metadata={
                "metrics": dg.MetadataValue.md(table.to_markdown(index=False)),
                **{f"test_{label}_pearson": float(values["pearson"]) for label, values in test.items()},
                "num_parameters": metrics["num_parameters"],
                "train_samples_per_s": metrics["train_samples_per_s"],
                "epochs_completed": metrics["epochs_completed"],
                "world_size": metrics["world_size"],
                "training_curve": image(target / "training_curve.png", f"{model} training curve"),
                **scatters,
                "dataset": dataset,
                "split": config.split,
                "dataset_sha256": file_sha256(train.dataset),
                "run_dir": dg.MetadataValue.path(str(target)),
            },
            data_version=dg.DataVersion(file_sha256(target / "predictions.parquet")[:16]),
        )

    return _asset


model_assets = [build_model_asset(model) for model in NEURAL_MODELS]
MODEL_ASSETS = {model: asset for model, asset in zip(NEURAL_MODELS, model_assets, strict=True)}
