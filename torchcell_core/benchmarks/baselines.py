"""Baselines every model is compared with, fitted on the train fold of the same dataset and split.

- `train_mean`: the train mean of the label (Pearson is undefined for a constant: NaN, shown as such);
- `query_identity`: the train mean of the row's query (its query strain's gene, or a Kuzmin query pair),
  the train mean where the query is unseen. On a random split it knows every query; on the query split
  it knows none, so it falls to the constant: how much of a model's score is query identity;
- `additive`: ridge regression on one-hot genes (plus the environment vector), its penalty chosen by
  validation Pearson: everything a sum of per-gene effects explains.
The one-hot MLP is the `mlp` model with a learned gene embedding (`torchcell_core.models.mlp`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from torchcell_core.evaluation.metrics import pearson_or_nan
from torchcell_core.evaluation.metrics_ci import split_metrics

BASELINES = ("train_mean", "query_identity", "additive")
RIDGE_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)
LABELS = ("fitness", "interaction")
FOLDS = ("train", "val", "test")


def _one_hot(gene_lists: Sequence[Sequence[str]], environment: np.ndarray) -> sp.csr_matrix:
    """[N, genes + E] sparse design: one column per gene seen in `gene_lists`, then the environment vector."""
    flat = np.concatenate([np.asarray(g, dtype=object) for g in gene_lists])
    genes, columns = np.unique(flat, return_inverse=True)
    rows = np.repeat(np.arange(len(gene_lists)), [len(g) for g in gene_lists])
    one_hot = sp.csr_matrix((np.ones(len(flat)), (rows, columns)), shape=(len(gene_lists), len(genes)))
    return sp.hstack([one_hot, sp.csr_matrix(environment)], format="csr")


def query_identity(queries: np.ndarray, values: np.ndarray, train: np.ndarray) -> np.ndarray:
    """[N] the train mean of each row's query, the overall train mean where the query has no train row."""
    frame = pd.DataFrame({"query": queries[train], "value": values[train]})
    means = frame.groupby("query")["value"].mean()
    return pd.Series(queries).map(means).fillna(float(values[train].mean())).to_numpy(dtype=np.float64)


def additive_ridge(
    design: sp.csr_matrix, values: np.ndarray, train: np.ndarray, val: np.ndarray
) -> tuple[np.ndarray, float]:
    """([N] ridge predictions, chosen alpha): fitted on `train`, alpha by validation Pearson."""
    from sklearn.linear_model import Ridge

    best: tuple[float, float, np.ndarray] | None = None
    for alpha in RIDGE_ALPHAS:
        model = Ridge(alpha=alpha).fit(design[train], values[train])
        predicted = model.predict(design)
        score = pearson_or_nan(values[val], predicted[val])
        score = -np.inf if np.isnan(score) else score
        if best is None or score > best[0]:
            best = (score, alpha, predicted)
    assert best is not None
    return best[2], best[1]


def baseline_predictions(
    table: pd.DataFrame, split: str, labels: Sequence[str] = LABELS
) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """({baseline: [N, L] predictions for every row}, {baseline: chosen settings}) for a curated dataset
    (columns `genes`, `query`, `split`, the labels and `env_*`)."""
    folds = table[split].to_numpy()
    env = table[[c for c in table.columns if c.startswith("env_")]].to_numpy(dtype=np.float64)
    design = _one_hot(table["genes"].tolist(), env)
    queries = table["query"].astype(str).to_numpy()
    predictions = {name: np.full((len(table), len(labels)), np.nan) for name in BASELINES}
    chosen: dict[str, dict] = {name: {} for name in BASELINES}
    for j, label in enumerate(labels):
        values = table[label].to_numpy(dtype=np.float64)
        measured = np.isfinite(values)
        train, val = measured & (folds == "train"), measured & (folds == "val")
        if not train.any():
            continue
        predictions["train_mean"][:, j] = values[train].mean()
        predictions["query_identity"][:, j] = query_identity(queries, values, train)
        predictions["additive"][:, j], chosen["additive"][label] = additive_ridge(design, values, train, val)
    return predictions, chosen


def _undefined_correlations(metrics: dict) -> None:
    """A constant prediction has no Pearson or Spearman (not 0, and not a rounding error's sign): NaN."""
    for name in ("pearson", "spearman"):
        metrics[name] = float("nan")
        if "ci" in metrics and name in metrics["ci"]:
            metrics["ci"][name] = [float("nan"), float("nan")]


def baseline_metrics(
    table: pd.DataFrame, split: str, labels: Sequence[str] = LABELS, n_resamples: int = 1000, seed: int = 0
) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """({baseline: {"splits": {fold: metrics per label}, "chosen": ...}}, {baseline: [N, L] predictions}),
    bootstrap 95% CIs on test."""
    predictions, chosen = baseline_predictions(table, split, labels)
    values = table[list(labels)].to_numpy(dtype=np.float64)
    p_value = table["interaction_p_value"].to_numpy(dtype=np.float64) if "interaction_p_value" in table else None
    folds = table[split].to_numpy()
    out = {}
    for name, predicted in predictions.items():
        splits = {}
        for fold in FOLDS:
            rows = folds == fold
            mask = np.isfinite(values[rows]) & np.isfinite(predicted[rows])
            splits[fold] = split_metrics(
                np.nan_to_num(values[rows]),
                mask,
                np.nan_to_num(predicted[rows]),
                labels,
                None if p_value is None else p_value[rows],
                n_resamples=n_resamples if fold == "test" else 0,
                seed=seed,
            )
            for j, label in enumerate(labels):
                if np.ptp(predicted[rows][mask[:, j], j]) == 0 and label in splits[fold]:
                    _undefined_correlations(splits[fold][label])
        out[name] = {"splits": splits, "chosen": chosen[name]}
    return out, predictions
