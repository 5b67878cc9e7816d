"""Baselines of one comparison (a dataset × split partition): the simple ones every model is set beside (train
mean, query identity, additive ridge on one-hot genes) and the classical models (ElasticNet, SVR, random forest
on pooled gene features, grid-searched on val), all fitted on the partition's train fold."""

import json
import time

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from torchcell_assets.defs.datasets.assets import require_rows
from torchcell_assets.defs.models.partitions import MODEL_PARTITIONS, comparison_of
from torchcell_assets.defs.models.training import metrics_table, training_deps
from torchcell_assets.defs.sources.paths import GENOME_PARQUET
from torchcell_assets.lib.code_versions import code_version
from torchcell_assets.lib.config_model import config_class
from torchcell_assets.lib.metadata import metadata_table
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.benchmarks import baselines
from torchcell_core.datasets.loader import PerturbationDataset
from torchcell_core.features.store import load_gene_feature
from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.hashing import file_sha256
from torchcell_core.models.classical import baseline_metrics, design_matrix, drop_unused_columns, fit_baseline
from torchcell_core.train.config import TrainSettings
from torchcell_core.train.prediction_check import PREDICTIONS_COMPLETE, fold_rows, prediction_completeness
from torchcell_core.train.run_dir import RunDir

CODE_VERSION = code_version(__name__)  # the source of this module and the core code it runs

FOLDS = ("train", "val", "test")
LABELS = ("fitness", "interaction")


class BaselinesConfig(config_class(TrainSettings, "BaselineSettingsConfig", include=("seed", "bootstrap"))):
    """The classical models' settings; `seed` and `bootstrap` are the neural runs' (`TrainSettings`), so a
    comparison's CIs are drawn alike."""

    gene_feature: str = "one_hot"  # the classical models' features (the reference report's SVR/RF: one-hot)
    pooling: str = "sum"
    models: list[str] = ["elastic_net", "random_forest", "svr"]
    max_train_rows: int = 5_000  # a seeded subset: SVR grows quadratically with rows; raise it for real runs
    n_jobs: int = 2  # random forest trees in parallel


def _frame(model: str, rows: np.ndarray, folds: np.ndarray, labels: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": model,
            "row": rows,
            "split": folds,
            "fitness_measured": labels[:, 0],
            "fitness_predicted": predicted[:, 0],
            "interaction_measured": labels[:, 1],
            "interaction_predicted": predicted[:, 1],
        }
    )


def _simple_baselines(table: pd.DataFrame, split: str, config: BaselinesConfig) -> tuple[dict, list[pd.DataFrame]]:
    """Train mean, query identity and additive ridge: their summaries and prediction frames."""
    held = table[split].isin(FOLDS).to_numpy()
    part = table[held].reset_index(drop=True)
    metrics, predictions = baselines.baseline_metrics(part, split, LABELS, config.bootstrap, config.seed)
    rows, folds = np.flatnonzero(held), part[split].to_numpy()
    labels = part[list(LABELS)].to_numpy(dtype=np.float64)
    frames = [_frame(name, rows, folds, labels, predicted) for name, predicted in predictions.items()]
    return metrics, frames


def _classical(context, table_path, split: str, config: BaselinesConfig, storage) -> tuple[dict, list[pd.DataFrame]]:
    """The scikit-learn models on pooled gene features: their summaries and prediction frames."""
    genes = GeneIndex.from_gene_table(storage.path(*GENOME_PARQUET))
    feature_genes, features = load_gene_feature(storage.feature_file(config.gene_feature))
    if feature_genes != genes.genes:
        raise ValueError(f"{config.gene_feature}: feature rows do not follow the genome's gene index")
    table = pq.read_table(table_path)
    p_values = np.asarray(table.column("interaction_p_value").to_numpy(zero_copy_only=False), dtype=float)
    designs = drop_unused_columns(
        {
            fold: design_matrix(PerturbationDataset(table, genes, split, fold), features, config.pooling)
            for fold in FOLDS
        }
    )
    fold_p = {fold: p_values[design.rows] for fold, design in designs.items()}
    summaries, frames = {}, []
    for name in config.models:
        started = time.perf_counter()
        result = fit_baseline(
            name,
            designs["train"],
            designs["val"],
            designs,
            LABELS,
            seed=config.seed,
            n_jobs=config.n_jobs,
            max_train_rows=config.max_train_rows,
        )
        metrics = baseline_metrics(result, designs, fold_p, n_resamples=config.bootstrap, seed=config.seed)
        context.log.info(f"{name}: {time.perf_counter() - started:.1f} s; chosen {result.summary()['targets']}")
        summaries[name] = result.summary() | {"splits": metrics, "gene_feature": config.gene_feature}
        frames += [
            _frame(name, design.rows, np.full(len(design.rows), fold), design.labels, result.predictions[fold])
            for fold, design in designs.items()
        ]
    return summaries, frames


@dg.asset(
    group_name="models",
    code_version=CODE_VERSION,
    deps=training_deps(),
    kinds={"scikitlearn"},
    partitions_def=MODEL_PARTITIONS,
    check_specs=[
        dg.AssetCheckSpec(
            PREDICTIONS_COMPLETE,
            asset="classical_baselines",
            description="every fold row has a finite prediction of each target from every model",
        )
    ],
)
def classical_baselines(
    context: dg.AssetExecutionContext, config: BaselinesConfig, storage: TorchcellStorage
) -> dg.MaterializeResult:
    """On the partition's dataset and split: train mean, query identity (train mean of the row's query strain or
    query pair), additive ridge on one-hot genes, and ElasticNet/SVR/random forest on the sum of the perturbed
    genes' feature vectors ⊕ genotype size ⊕ environment (grid chosen by validation Pearson); 95% CIs on test.
    Fails at once, naming the dataset, on a partition whose dataset is empty."""
    dataset, split = comparison_of(context)
    require_rows(storage, dataset)
    dataset_path = storage.dataset_parquet(dataset)
    table = pd.read_parquet(dataset_path)
    started = time.perf_counter()
    summaries, frames = _simple_baselines(table, split, config)
    context.log.info(f"train mean, query identity, additive ridge: {time.perf_counter() - started:.1f} s")
    classical, more = _classical(context, dataset_path, split, config, storage)
    summaries |= classical
    frames += more
    out_dir = storage.classical_run_dir(dataset, split)
    out_dir.mkdir(parents=True, exist_ok=True)
    RunDir(out_dir).metrics.write_text(json.dumps(summaries, indent=2, default=float))
    predictions = pd.concat(frames)
    pq.write_table(pa.Table.from_pandas(predictions, preserve_index=False), RunDir(out_dir).predictions)
    predicted = ["fitness_predicted", "interaction_predicted"]
    varying = predictions[predictions["model"] != "train_mean"]  # the train mean is constant by definition
    passed, figures = prediction_completeness(varying, fold_rows(dataset_path, split) * (len(summaries) - 1), predicted)
    mean_finite = bool(np.isfinite(predictions.loc[predictions["model"] == "train_mean", predicted]).all(axis=None))
    passed, figures = passed and mean_finite, figures | {"train_mean_finite": mean_finite}
    tables = [metrics_table({"splits": s["splits"]}).assign(model=name) for name, s in summaries.items()]
    table_md = pd.concat(tables)[["model", *tables[0].columns.drop("model")]]
    test = {name: s["splits"]["test"] for name, s in summaries.items()}
    return dg.MaterializeResult(
        metadata={
            "metrics": metadata_table(table_md),
            **{
                f"{name}_test_{label}_pearson": float(v["pearson"])
                for name, labels in test.items()
                for label, v in labels.items()
            },
            "gene_feature": config.gene_feature,
            "dataset": dataset,
            "split": split,
            "dataset_sha256": file_sha256(dataset_path),
            "run_dir": dg.MetadataValue.path(storage.relative(out_dir)),
        },
        data_version=dg.DataVersion(file_sha256(RunDir(out_dir).predictions)[:16]),
        check_results=[dg.AssetCheckResult(check_name=PREDICTIONS_COMPLETE, passed=passed, metadata=figures)],
    )
