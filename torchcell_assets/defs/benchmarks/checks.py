"""Checks on benchmark results."""

import dagster as dg
import pandas as pd

from torchcell_assets.defs.benchmarks.assets import BENCHMARK_CSV, benchmark_table
from torchcell_assets.lib.storage import TorchcellStorage

MODEL_BEATS_MEAN = "model_beats_mean"


@dg.asset_check(asset=benchmark_table, name=MODEL_BEATS_MEAN)
def model_beats_mean(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """The trained model has lower test MSE than predicting the training mean, and Pearson > 0."""
    rows = pd.read_csv(storage.path(*BENCHMARK_CSV)).set_index("model")
    model = rows.drop(index=[m for m in rows.index if m == "train_mean" or m.startswith("noise_ceiling")])
    baseline_mse = float(rows.loc["train_mean", "mse"])
    passed = bool(((model["mse"] < baseline_mse) & (model["pearson"] > 0)).all())
    return dg.AssetCheckResult(
        passed=passed,
        metadata={"baseline_mse": baseline_mse, "model_mse": dg.MetadataValue.json(model["mse"].to_dict())},
    )
