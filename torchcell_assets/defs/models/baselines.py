"""Classical baselines (random forest, SVR, ElasticNet) on pooled gene features, grid-searched on val."""

import json
import time

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from torchcell_assets.defs.datasets.assets import DATASET_ASSETS, dataset_parquet
from torchcell_assets.defs.features.assets import feature_path, gene_features
from torchcell_assets.defs.models.training import metrics_table
from torchcell_assets.defs.sources.paths import GENOME_PARQUET
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.datasets.loader import PerturbationDataset
from torchcell_core.features.store import load_gene_feature
from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.hashing import file_sha256
from torchcell_core.models.classical import baseline_metrics, design_matrix, fit_baseline

FOLDS = ("train", "val", "test")


class BaselinesConfig(dg.Config):
    dataset: str = "digenic"
    split: str = "split_random"
    gene_feature: str = "codon_frequency"  # GO annotation vectors (1,985 columns) make SVR/ElasticNet slow
    pooling: str = "sum"
    models: list[str] = ["elastic_net", "random_forest", "svr"]
    max_train_rows: int = 2_000  # a seeded subset: SVR grows quadratically with rows; raise it for real runs
    seed: int = 0
    bootstrap: int = 1000


@dg.asset(group_name="models", code_version="1", deps=[*DATASET_ASSETS.values(), gene_features], kinds={"scikitlearn"})
def classical_baselines(
    context: dg.AssetExecutionContext, config: BaselinesConfig, storage: TorchcellStorage
) -> dg.MaterializeResult:
    """Each classical model on the sum (or mean) of the perturbed genes' feature vectors ⊕ genotype size ⊕
    environment, one regressor per target, its grid chosen by validation Pearson; metrics with 95% CIs."""
    dataset_path = dataset_parquet(storage, config.dataset)
    genes = GeneIndex.from_gene_table(storage.path(*GENOME_PARQUET))
    feature_genes, features = load_gene_feature(feature_path(storage, config.gene_feature))
    if feature_genes != genes.genes:
        raise ValueError(f"{config.gene_feature}: feature rows do not follow the genome's gene index")
    table = pq.read_table(dataset_path)
    p_values = np.asarray(table.column("interaction_p_value").to_numpy(zero_copy_only=False), dtype=float)
    designs = {fold: design_matrix(PerturbationDataset(table, genes, config.split, fold), features, config.pooling)
               for fold in FOLDS}  # fmt: skip
    fold_p = {fold: p_values[design.rows] for fold, design in designs.items()}
    out_dir = storage.directory("models", "classical", f"{config.dataset}-{config.split}")
    summaries, tables, frames = {}, [], []
    for name in config.models:
        started = time.perf_counter()
        result = fit_baseline(name, designs["train"], designs["val"], designs, ("fitness", "interaction"),
                              seed=config.seed, max_train_rows=config.max_train_rows)  # fmt: skip
        metrics = baseline_metrics(result, designs, fold_p, n_resamples=config.bootstrap, seed=config.seed)
        context.log.info(f"{name}: {time.perf_counter() - started:.1f} s; chosen {result.summary()['targets']}")
        summaries[name] = result.summary() | {"splits": metrics}
        tables.append(metrics_table({"splits": metrics}).assign(model=name))
        for fold, design in designs.items():
            predicted = result.predictions[fold]
            frames.append(pd.DataFrame({"model": name, "row": design.rows, "split": fold,
                                        "fitness_measured": design.labels[:, 0], "fitness_predicted": predicted[:, 0],
                                        "interaction_measured": design.labels[:, 1],
                                        "interaction_predicted": predicted[:, 1]}))  # fmt: skip
    (out_dir / "metrics.json").write_text(json.dumps(summaries, indent=2, default=float))
    pq.write_table(pa.Table.from_pandas(pd.concat(frames), preserve_index=False), out_dir / "predictions.parquet")
    table_md = pd.concat(tables)[["model", *tables[0].columns.drop("model")]]
    test = {name: s["splits"]["test"] for name, s in summaries.items()}
    return dg.MaterializeResult(
        metadata={
            "metrics": dg.MetadataValue.md(table_md.to_markdown(index=False)),
            **{
                f"{name}_test_{label}_pearson": float(v["pearson"])
                for name, labels in test.items()
                for label, v in labels.items()
            },  # fmt: skip
            "gene_feature": config.gene_feature,
            "dataset": config.dataset,
            "split": config.split,
            "dataset_sha256": file_sha256(dataset_path),
            "run_dir": dg.MetadataValue.path(str(out_dir)),
        },
        data_version=dg.DataVersion(file_sha256(out_dir / "predictions.parquet")[:16]),
    )
