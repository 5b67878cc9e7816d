"""Model assets: fit on the train split, predict every row, keep the fitted model."""

import json
import pickle
import time

import dagster as dg
import pandas as pd

from torchcell_assets.defs.datasets.assets import DATASET_ASSETS, dataset_parquet
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.evaluation.metrics import regression_metrics
from torchcell_core.features.one_hot import GeneIndex, one_hot_genotypes
from torchcell_core.hashing import file_sha256
from torchcell_core.models.random_forest import RandomForestConfig, train_random_forest

RF_DIR = ("models", "random_forest_digenic")
PREDICTIONS = "predictions.parquet"
MODEL_CARD = "model_card.json"


class RandomForestAssetConfig(dg.Config):
    n_estimators: int = RandomForestConfig.n_estimators
    max_features: float = RandomForestConfig.max_features
    min_samples_leaf: int = RandomForestConfig.min_samples_leaf
    seed: int = RandomForestConfig.seed
    n_jobs: int = RandomForestConfig.n_jobs


@dg.asset(group_name="models", code_version="1", deps=[DATASET_ASSETS["digenic"]], kinds={"scikitlearn"})
def random_forest_digenic(
    context: dg.AssetExecutionContext, config: RandomForestAssetConfig, storage: TorchcellStorage
) -> dg.MaterializeResult:
    """Random forest on one-hot gene features (sum over the pair) predicting ε."""
    dataset_path = dataset_parquet(storage, "digenic")
    data = pd.read_parquet(dataset_path)
    data = data[data["interaction"].notna()].reset_index(drop=True)
    data["gene_a"], data["gene_b"] = data["genes"].str[0], data["genes"].str[1]
    data["split"] = data["split_random"]
    index = GeneIndex(pd.concat([data["gene_a"], data["gene_b"]]).unique())
    x = one_hot_genotypes(index, data["gene_a"], data["gene_b"])  # [num_pairs, num_genes]
    y = data["interaction"].to_numpy()
    train = (data["split"] == "train").to_numpy()
    rf_config = RandomForestConfig(**config.model_dump())
    started = time.perf_counter()
    model = train_random_forest(x[train], y[train], rf_config)
    seconds = time.perf_counter() - started
    predicted = model.predict(x)
    context.log.info(f"fitted {rf_config.n_estimators} trees on {int(train.sum())} pairs in {seconds:.1f}s")

    out_dir = storage.directory(*RF_DIR)
    predictions = data[["gene_a", "gene_b", "split"]].assign(measured=y, predicted=predicted)
    predictions.to_parquet(out_dir / PREDICTIONS, index=False)
    with open(out_dir / "model.pkl", "wb") as handle:
        pickle.dump({"model": model, "genes": index.genes}, handle)
    by_split = {
        split: regression_metrics(y[mask], predicted[mask])
        for split in ("train", "val")
        if (mask := (data["split"] == split).to_numpy()).any()
    }
    card = {
        "model": "random_forest",
        "features": "one_hot",
        "target": "epsilon",
        "config": config.model_dump(),
        "dataset": str(dataset_path),
        "dataset_sha256": file_sha256(dataset_path),
        "train_seconds": seconds,
        "train_samples_per_second": float(train.sum() / seconds),
        "parameters": int(sum(tree.tree_.node_count for tree in model.estimators_)),
        "metrics": by_split,
        "simulated": bool(data["simulated"].any()),
    }
    (out_dir / MODEL_CARD).write_text(json.dumps(card, indent=2))
    return dg.MaterializeResult(
        metadata={
            "train_pearson": by_split["train"]["pearson"],
            "val_pearson": by_split.get("val", {}).get("pearson", float("nan")),
            "n_train": int(train.sum()),
            "n_features": len(index),
            "tree_nodes": card["parameters"],
            "train_seconds": round(seconds, 2),
            "dataset_sha256": card["dataset_sha256"],
            "simulated": card["simulated"],
            "model_dir": dg.MetadataValue.path(str(out_dir)),
        },
        data_version=dg.DataVersion(file_sha256(out_dir / PREDICTIONS)[:16]),
    )
