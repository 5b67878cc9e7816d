"""Checks on trained models."""

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from torchcell_assets.defs.datasets.assets import dataset_parquet
from torchcell_assets.defs.models.assets import PREDICTIONS, RF_DIR, random_forest_digenic
from torchcell_assets.defs.models.baselines import classical_baselines
from torchcell_assets.defs.models.training import MODEL_ASSETS
from torchcell_assets.lib.metadata import latest_metadata
from torchcell_assets.lib.storage import TorchcellStorage

PREDICTIONS_COMPLETE = "predictions_complete"


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


def _fold_rows(storage: TorchcellStorage, dataset: str, split: str) -> int:
    table = pd.read_parquet(dataset_parquet(storage, dataset), columns=[split])
    return int(table[split].isin(["train", "val", "test"]).sum())


def _prediction_check(predictions: pd.DataFrame, expected_rows: int, predicted: list[str]) -> dg.AssetCheckResult:
    """One finite prediction per fold row for every target, and predictions that are not all equal."""
    finite = bool(np.isfinite(predictions[predicted].to_numpy()).all())
    spread = float(np.nanmin(predictions[predicted].std().to_numpy())) if len(predictions) > 1 else 0.0
    return dg.AssetCheckResult(
        passed=finite and spread > 0 and len(predictions) == expected_rows,
        metadata={"rows": len(predictions), "expected_rows": expected_rows, "all_finite": finite,
                  "smallest_prediction_std": spread},
    )  # fmt: skip


def build_model_check(asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset, name=PREDICTIONS_COMPLETE)
    def _check(context: dg.AssetCheckExecutionContext, storage: TorchcellStorage) -> dg.AssetCheckResult:
        """Every train/val/test row of the dataset has a finite, non-constant prediction of each target."""
        metadata = latest_metadata(context.instance, asset.key)
        if metadata is None:
            return dg.AssetCheckResult(passed=False, metadata={"reason": "not materialized yet"})
        predictions = pd.read_parquet(Path(metadata["run_dir"]) / "predictions.parquet")
        predicted = [c for c in predictions.columns if c.startswith("predicted_")]
        expected = _fold_rows(storage, metadata["dataset"], metadata["split"])
        return _prediction_check(predictions, expected, predicted)

    return _check


model_checks = [build_model_check(asset) for asset in MODEL_ASSETS.values()]


@dg.asset_check(asset=classical_baselines, name=PREDICTIONS_COMPLETE)
def baselines_predictions_complete(
    context: dg.AssetCheckExecutionContext, storage: TorchcellStorage
) -> dg.AssetCheckResult:
    """Every fold row has a finite prediction of each target from every classical model."""
    metadata = latest_metadata(context.instance, classical_baselines.key)
    if metadata is None:
        return dg.AssetCheckResult(passed=False, metadata={"reason": "not materialized yet"})
    predictions = pd.read_parquet(Path(metadata["run_dir"]) / "predictions.parquet")
    expected = _fold_rows(storage, metadata["dataset"], metadata["split"]) * predictions["model"].nunique()
    return _prediction_check(predictions, expected, ["fitness_predicted", "interaction_predicted"])
