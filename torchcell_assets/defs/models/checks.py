"""Checks on trained models (the neural models' `predictions_complete` is reported by their training run)."""

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from torchcell_assets.defs.datasets.assets import dataset_parquet
from torchcell_assets.defs.models.assets import PREDICTIONS, RF_DIR, random_forest_digenic
from torchcell_assets.defs.models.baselines import classical_baselines
from torchcell_assets.lib.metadata import latest_metadata
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.train.prediction_check import PREDICTIONS_COMPLETE, fold_rows, prediction_completeness


@dg.asset_check(asset=random_forest_digenic, name=PREDICTIONS_COMPLETE)
def predictions_complete(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Every dataset row has one finite prediction, and predictions are not all equal."""
    predictions = pd.read_parquet(storage.path(*RF_DIR, PREDICTIONS))
    finite = bool(np.isfinite(predictions["predicted"]).all())
    spread = float(predictions["predicted"].std())
    return dg.AssetCheckResult(
        passed=finite and spread > 0 and len(predictions) > 0,
        metadata={"rows": len(predictions), "all_finite": finite, "prediction_std": spread},
    )


@dg.asset_check(asset=classical_baselines, name=PREDICTIONS_COMPLETE)
def baselines_predictions_complete(
    context: dg.AssetCheckExecutionContext, storage: TorchcellStorage
) -> dg.AssetCheckResult:
    """Every fold row has a finite prediction of each target from every classical model."""
    metadata = latest_metadata(context.instance, classical_baselines.key)
    if metadata is None:
        return dg.AssetCheckResult(passed=False, metadata={"reason": "not materialized yet"})
    predictions = pd.read_parquet(Path(metadata["run_dir"]) / "predictions.parquet")
    rows = fold_rows(dataset_parquet(storage, metadata["dataset"]), metadata["split"])
    passed, figures = prediction_completeness(predictions, rows * predictions["model"].nunique(),
                                              ["fitness_predicted", "interaction_predicted"])  # fmt: skip
    return dg.AssetCheckResult(passed=passed, metadata=figures)
