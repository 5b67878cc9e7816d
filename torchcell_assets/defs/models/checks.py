"""Checks on trained models."""

import dagster as dg
import numpy as np
import pandas as pd

from torchcell_assets.defs.models.assets import PREDICTIONS, RF_DIR, random_forest_digenic
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
