"""Per-split, per-label metrics with seeded bootstrap 95% confidence intervals.

Regression metrics (Pearson, Spearman, MSE, R²) for every label; for the interaction label also
AUROC and AUPRC of the strong-negative class (measured ε or τ below −0.08, with p < 0.05 where a
p-value is given; the score is −prediction, so a more negative prediction ranks higher). The bootstrap
draws every resample at once (an index matrix [R, n]) and computes each metric along axis 1, in chunks
that bound memory, so 1,000 resamples of a test split cost a few array passes, not 1,000 Python calls.
`regression_metrics` in metrics.py is left as it is for the code that already uses it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# A strong interaction: |ε| > 0.08 (digenic) or τ < −0.08 (trigenic), with p < 0.05 (Costanzo 2016, Kuzmin 2018).
# Defined here, the lower layer, and shared with the dataset cards (datasets/card.py).
STRONG_CUTOFF = 0.08
STRONG_P_VALUE = 0.05
INTERACTION_LABEL = "interaction"
REGRESSION_METRICS = ("pearson", "spearman", "mse", "r2")
CLASSIFICATION_METRICS = ("auroc", "auprc")
CHUNK_ELEMENTS = 4_000_000  # resamples × samples per bootstrap chunk (≈ 32 MB per float64 array)


def strong_negative(measured: np.ndarray, p_value: np.ndarray | None = None) -> np.ndarray:
    """Bool [n]: measured < −0.08, and p < 0.05 where a p-value is given (a NaN p-value does not veto)."""
    measured = np.asarray(measured, dtype=np.float64)
    strong = measured < -STRONG_CUTOFF
    if p_value is not None:
        p_value = np.asarray(p_value, dtype=np.float64)
        if p_value.shape != measured.shape:
            raise ValueError(f"p_value has shape {p_value.shape}, measured has {measured.shape}")
        strong &= np.isnan(p_value) | (p_value < STRONG_P_VALUE)
    return strong


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair; x, y [R, n] → [R] (NaN where a row is constant)."""
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    denominator = np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * yc).sum(axis=1) / denominator
    return np.where(denominator > 0, np.clip(r, -1.0, 1.0), np.nan)


def _regression_rows(measured: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    """Pearson, Spearman, MSE and R² of each row; measured, predicted [R, n] → each [R]."""
    from scipy import stats  # here, not at import: scipy.stats costs the code location ~1 s to load

    error = measured - predicted
    sse = (error * error).sum(axis=1)
    sst = ((measured - measured.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(sst > 0, 1.0 - sse / sst, np.nan)
    return {
        "pearson": _pearson_rows(measured, predicted),
        "spearman": _pearson_rows(stats.rankdata(measured, axis=1), stats.rankdata(predicted, axis=1)),
        "mse": sse / measured.shape[1],
        "r2": r2,
    }


def _auroc_rows(positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """AUROC of each row by the Mann-Whitney rank sum (ties averaged, as scikit-learn);
    positive bool [R, n], score [R, n] → [R] (NaN where a row has one class only)."""
    from scipy import stats

    ranks = stats.rankdata(score, axis=1)
    n_pos = positive.sum(axis=1)
    n_neg = positive.shape[1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * positive).sum(axis=1) - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def _auprc_rows(positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Average precision of each row, tied scores sharing one threshold (scikit-learn's definition);
    positive bool [R, n], score [R, n] → [R] (NaN where a row has no positive)."""
    order = np.argsort(-score, axis=1, kind="stable")
    sorted_score = np.take_along_axis(score, order, axis=1)
    true_positives = np.cumsum(np.take_along_axis(positive, order, axis=1), axis=1)
    group_end = np.ones_like(sorted_score, dtype=bool)
    group_end[:, :-1] = sorted_score[:, :-1] != sorted_score[:, 1:]
    at_end = np.where(group_end, true_positives, 0)
    before = np.zeros_like(at_end)
    before[:, 1:] = np.maximum.accumulate(at_end, axis=1)[:, :-1]  # true positives at the previous threshold
    precision = true_positives / np.arange(1, score.shape[1] + 1)
    n_pos = positive.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = (np.where(group_end, true_positives - before, 0) * precision).sum(axis=1) / n_pos
    return np.where(n_pos > 0, ap, np.nan)


def label_metrics(
    measured: np.ndarray, predicted: np.ndarray, strong: np.ndarray | None = None
) -> dict[str, float | int]:
    """Point estimates for one label over its measured rows: measured, predicted [n] float; `strong` [n]
    bool marks the strong-negative class (interaction label only), adding AUROC and AUPRC."""
    measured, predicted = _checked_pair(measured, predicted)
    result: dict[str, float | int] = {"n": int(measured.size)}
    if measured.size == 0:
        names = REGRESSION_METRICS + (CLASSIFICATION_METRICS if strong is not None else ())
        return result | {name: float("nan") for name in names}
    rows = _regression_rows(measured[None, :], predicted[None, :])
    result |= {name: float(values[0]) for name, values in rows.items()}
    if strong is not None:
        strong = np.asarray(strong, dtype=bool)
        if strong.shape != measured.shape:
            raise ValueError(f"strong has shape {strong.shape}, measured has {measured.shape}")
        result["n_strong"] = int(strong.sum())
        result["auroc"] = float(_auroc_rows(strong[None, :], -predicted[None, :])[0])
        result["auprc"] = float(_auprc_rows(strong[None, :], -predicted[None, :])[0])
    return result


def bootstrap_intervals(
    measured: np.ndarray,
    predicted: np.ndarray,
    strong: np.ndarray | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, list[float]]:
    """Percentile bootstrap interval [low, high] of every metric `label_metrics` reports.

    One seeded index matrix [n_resamples, n] resamples the rows (paired: every metric sees the same
    resamples); resamples where a metric is undefined (constant values, one class) are left out of its
    percentiles. Same inputs and seed give the same intervals.
    """
    measured, predicted = _checked_pair(measured, predicted)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    n = measured.size
    names = REGRESSION_METRICS + (CLASSIFICATION_METRICS if strong is not None else ())
    if n == 0:
        return {name: [float("nan"), float("nan")] for name in names}
    if strong is not None:
        strong = np.asarray(strong, dtype=bool)
        if strong.shape != measured.shape:
            raise ValueError(f"strong has shape {strong.shape}, measured has {measured.shape}")
    rng = np.random.default_rng(seed)
    draws: dict[str, list[np.ndarray]] = {name: [] for name in names}
    chunk = max(1, CHUNK_ELEMENTS // n)
    for start in range(0, n_resamples, chunk):
        index = rng.integers(0, n, size=(min(chunk, n_resamples - start), n))
        for name, values in _regression_rows(measured[index], predicted[index]).items():
            draws[name].append(values)
        if strong is not None:
            positive, score = strong[index], -predicted[index]
            draws["auroc"].append(_auroc_rows(positive, score))
            draws["auprc"].append(_auprc_rows(positive, score))
    tail = 100.0 * (1.0 - confidence) / 2.0
    intervals = {}
    for name, parts in draws.items():
        values = np.concatenate(parts)
        values = values[~np.isnan(values)]
        if values.size == 0:
            intervals[name] = [float("nan"), float("nan")]
        else:
            low, high = np.percentile(values, [tail, 100.0 - tail])
            intervals[name] = [float(low), float(high)]
    return intervals


def split_metrics(
    labels: np.ndarray,
    mask: np.ndarray,
    predictions: np.ndarray,
    label_names: Sequence[str],
    p_value: np.ndarray | None = None,
    n_resamples: int = 0,
    seed: int = 0,
) -> dict[str, dict]:
    """Metrics of one split, per label, over the rows where that label is measured.

    labels, predictions [N, L] float; mask [N, L] bool; `p_value` [N] of the interaction (NaN where
    unknown) or None. The label named "interaction" also gets AUROC/AUPRC of the strong-negative class.
    `n_resamples > 0` adds `ci` {metric: [low, high]} (95% percentile bootstrap, seeded).
    """
    labels = np.asarray(labels, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if not (labels.shape == predictions.shape == mask.shape) or labels.ndim != 2:
        raise ValueError(
            f"labels, predictions and mask must share one [N, L] shape, got "
            f"{labels.shape}, {predictions.shape} and {mask.shape}"
        )
    if labels.shape[1] != len(label_names):
        raise ValueError(f"{labels.shape[1]} label columns but {len(label_names)} label names {list(label_names)}")
    result = {}
    for j, name in enumerate(label_names):
        keep = mask[:, j]
        measured, predicted = labels[keep, j], predictions[keep, j]
        strong = None
        if name == INTERACTION_LABEL:
            strong = strong_negative(measured, None if p_value is None else np.asarray(p_value, float)[keep])
        metrics = label_metrics(measured, predicted, strong)
        if n_resamples > 0:
            metrics["ci"] = bootstrap_intervals(measured, predicted, strong, n_resamples=n_resamples, seed=seed)
        result[name] = metrics
    return result


def _checked_pair(measured: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two equal 1-d float64 vectors without NaN, or a ValueError saying what is wrong."""
    measured = np.asarray(measured, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    if measured.shape != predicted.shape or measured.ndim != 1:
        raise ValueError(f"expected two equal 1-d vectors, got {measured.shape} and {predicted.shape}")
    for what, values in (("measured", measured), ("predicted", predicted)):
        if not np.isfinite(values).all():
            raise ValueError(f"{what} values hold {int((~np.isfinite(values)).sum())} NaN or infinite value(s)")
    return measured, predicted
