"""Regression metrics reported in benchmark tables."""

from __future__ import annotations

import numpy as np
from scipy import stats


def regression_metrics(measured: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Pearson, Spearman, MSE and n for two equal-length vectors."""
    measured = np.asarray(measured, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    if measured.shape != predicted.shape or measured.ndim != 1:
        raise ValueError(f"expected two equal 1-d vectors, got {measured.shape} and {predicted.shape}")
    constant = np.ptp(predicted) == 0 or np.ptp(measured) == 0
    return {
        "pearson": float("nan") if constant else float(stats.pearsonr(measured, predicted)[0]),
        "spearman": float("nan") if constant else float(stats.spearmanr(measured, predicted)[0]),
        "mse": float(np.mean((measured - predicted) ** 2)),
        "n": int(measured.size),
    }
