"""Regression metrics reported in benchmark tables."""

from __future__ import annotations

import numpy as np


def pearson_or_nan(x: np.ndarray, y: np.ndarray, min_size: int = 3) -> float:
    """Pearson r over the pairs where both values are finite; NaN when fewer than `min_size` pairs remain or
    either side is constant there (a constant predictor has no correlation, not a zero one)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < min_size or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def regression_metrics(measured: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Pearson, Spearman, MSE and n for two equal-length vectors."""
    from scipy import stats  # here, not at import: scipy.stats costs the code location ~1 s to load

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
