"""Whether a run's predictions cover its dataset: one finite, non-constant prediction per fold row and target.

Shared by the neural training runs (checked by rank 0 as the run ends) and the classical baselines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FOLDS = ("train", "val", "test")
PREDICTIONS_COMPLETE = "predictions_complete"  # the check name, on every model asset


def fold_rows(dataset: str | Path, split: str) -> int:
    """Rows of `dataset` assigned to train, val or test by the split column `split`."""
    table = pd.read_parquet(dataset, columns=[split])
    return int(table[split].isin(FOLDS).sum())


def prediction_completeness(
    predictions: pd.DataFrame, expected_rows: int, predicted: list[str]
) -> tuple[bool, dict[str, float | int | bool]]:
    """(passed, figures): `predictions` has `expected_rows` rows, every `predicted` column is finite and
    none is constant (a model that predicts one value for everything has not learned)."""
    values = predictions[predicted].to_numpy(dtype=float)
    finite = bool(np.isfinite(values).all())
    spread = float(np.nanmin(values.std(axis=0))) if len(values) > 1 else 0.0
    figures = {
        "rows": len(predictions),
        "expected_rows": expected_rows,
        "all_finite": finite,
        "smallest_prediction_std": spread,
    }
    return finite and spread > 0 and len(predictions) == expected_rows, figures
