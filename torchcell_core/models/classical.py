"""Classical baselines (scikit-learn): random forest, SVR and ElasticNet on pooled gene features.

A genotype becomes one row: the sum (or mean) of its perturbed genes' feature vectors, a one-hot of its
size (1, 2 or 3 genes; with mean pooling the size is otherwise lost) and the environment vector. One
regressor per target is fitted on the training rows where that target is measured, a small grid per
model is scored by Pearson r on the validation rows, and the best grid point (the model already fitted
on train; `refit="train+val"` refits it on both) predicts every fold. These are plain functions over
numpy arrays, not a `PerturbationModel`; scikit-learn is imported inside them, so importing
`torchcell_core.models` (which imports every module here) stays cheap for the training ranks.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from torchcell_core.datasets.loader import PerturbationDataset
from torchcell_core.evaluation.metrics import pearson_or_nan
from torchcell_core.evaluation.metrics_ci import split_metrics

POOLINGS = ("sum", "mean")
MAX_GENOTYPE_SIZE = 3
REFITS = ("train", "train+val")
DEFAULT_GRIDS: dict[str, list[dict[str, Any]]] = {
    "random_forest": [
        {"n_estimators": 100, "max_features": features, "min_samples_leaf": leaf}
        for features in (1.0,)
        for leaf in (1, 5)
    ],  # chosen over 0.3 on val (demo trigenic, one-hot)
    "svr": [{"C": c, "epsilon": 0.01} for c in (0.1, 1.0, 10.0)],
    "elastic_net": [{"alpha": alpha, "l1_ratio": ratio} for alpha in (1e-4, 1e-3, 1e-2) for ratio in (0.2, 0.8)],
}
BASELINES = tuple(DEFAULT_GRIDS)


@dataclass(frozen=True)
class DesignMatrix:
    """One fold as arrays: `x` [N, d + 3 + E] float32, `labels` [N, L] float64 (NaN where unmeasured),
    `mask` [N, L] bool, `rows` [N] int64 row numbers of the source table."""

    x: np.ndarray
    labels: np.ndarray
    mask: np.ndarray
    rows: np.ndarray


def design_matrix(
    dataset: PerturbationDataset, gene_features: np.ndarray | torch.Tensor, pooling: str = "sum"
) -> DesignMatrix:
    """Pooled features of every sample of `dataset`; `gene_features` [num_genes, d] in gene-index order.

    Vectorised: `np.add.reduceat` over the dataset's CSR perturbation array (each sample has ≥ 1 gene).
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    features = gene_features.detach().cpu().numpy() if isinstance(gene_features, torch.Tensor) else gene_features
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or features.shape[0] != len(dataset.genes):
        raise ValueError(f"gene_features must be [num_genes={len(dataset.genes)}, d], got {features.shape}")
    offsets = dataset.offsets.numpy()
    counts = np.diff(offsets)
    pooled = np.add.reduceat(features[dataset.gene_index.numpy()], offsets[:-1], axis=0)  # [N, d]
    if pooling == "mean":
        pooled /= counts[:, None]
    size = np.eye(MAX_GENOTYPE_SIZE, dtype=np.float32)[np.clip(counts, 1, MAX_GENOTYPE_SIZE) - 1]  # [N, 3]
    x = np.concatenate([pooled, size, dataset.environment.numpy()], axis=1)
    mask = dataset.mask.numpy()
    labels = np.where(mask, dataset.labels.numpy().astype(np.float64), np.nan)
    return DesignMatrix(x=x, labels=labels, mask=mask, rows=dataset.rows.numpy())


def drop_unused_columns(designs: Mapping[str, DesignMatrix]) -> dict[str, DesignMatrix]:
    """The designs without the columns that are zero in every fold (e.g. one-hot genes the dataset never
    perturbs): the same fits (a zero column carries nothing, standardised or not) at a fraction of the cost."""
    used = np.zeros(next(iter(designs.values())).x.shape[1], dtype=bool)
    for design in designs.values():
        used |= (design.x != 0).any(axis=0)
    return {fold: DesignMatrix(d.x[:, used], d.labels, d.mask, d.rows) for fold, d in designs.items()}


def make_estimator(name: str, params: Mapping[str, Any], seed: int = 0, n_jobs: int = 1):
    """A fresh scikit-learn regressor `name` with `params`; SVR and ElasticNet standardise x first."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import ElasticNet
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    if name == "random_forest":
        return RandomForestRegressor(random_state=seed, n_jobs=n_jobs, **params)
    if name == "svr":
        return make_pipeline(StandardScaler(), SVR(**params))
    if name == "elastic_net":
        return make_pipeline(StandardScaler(), ElasticNet(random_state=seed, max_iter=5000, **params))
    raise ValueError(f"unknown baseline {name!r}; choose from {BASELINES}")


@dataclass(frozen=True)
class TargetFit:
    """How one target was fitted: the chosen grid point (None when train has no measured row), the
    validation Pearson of every grid point in grid order, rows used and seconds spent."""

    params: dict[str, Any] | None
    val_pearson: list[float]
    n_train: int
    fit_seconds: float


@dataclass
class BaselineResult:
    """Predictions {fold: [N, L]} (NaN for a target that could not be trained), one `TargetFit` per
    label, the refit rule and the total seconds (grid search, refit and prediction)."""

    model: str
    label_names: tuple[str, ...]
    predictions: dict[str, np.ndarray]
    targets: dict[str, TargetFit]
    refit: str
    seconds: float
    grid: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-ready: chosen hyperparameters, validation scores and timing per target."""
        return {
            "model": self.model,
            "refit": self.refit,
            "seconds": self.seconds,
            "grid": self.grid,
            "targets": {name: vars(fit) for name, fit in self.targets.items()},
        }


def _subsample(rows: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """At most `limit` of `rows` (seeded, order kept); all of them when `limit` is None."""
    if limit is None or rows.size <= limit:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, size=limit, replace=False))


def fit_baseline(
    name: str,
    train: DesignMatrix,
    val: DesignMatrix,
    predict: Mapping[str, DesignMatrix],
    label_names: Sequence[str],
    grid: Sequence[Mapping[str, Any]] | None = None,
    refit: str = "train",
    seed: int = 0,
    n_jobs: int = 1,
    max_train_rows: int | None = None,
) -> BaselineResult:
    """Grid-search baseline `name` per target on `val` (Pearson), then predict every fold of `predict`.

    Ties and undefined scores (NaN ranks last) keep the earlier grid point. `refit="train"` (default)
    predicts with the model fitted on train, so validation stays a pure selection set as it is for the
    neural models; "train+val" refits the chosen point on both. `max_train_rows` fits on a seeded subset
    (SVR grows quadratically with rows).
    """
    if name not in DEFAULT_GRIDS:
        raise ValueError(f"unknown baseline {name!r}; choose from {BASELINES}")
    if refit not in REFITS:
        raise ValueError(f"refit must be one of {REFITS}, got {refit!r}")
    grid = [dict(point) for point in (DEFAULT_GRIDS[name] if grid is None else grid)]
    if not grid:
        raise ValueError(f"{name}: the hyperparameter grid is empty")
    label_names = tuple(label_names)
    for fold, design in {"train": train, "val": val, **predict}.items():
        if design.labels.shape[1] != len(label_names) or design.x.shape[1] != train.x.shape[1]:
            raise ValueError(
                f"{fold}: x {design.x.shape} / labels {design.labels.shape} do not match train "
                f"x {train.x.shape} and labels {list(label_names)}"
            )
    started = time.perf_counter()
    predictions = {fold: np.full((design.x.shape[0], len(label_names)), np.nan) for fold, design in predict.items()}
    targets: dict[str, TargetFit] = {}
    for j, label in enumerate(label_names):
        fit_started = time.perf_counter()
        train_rows = _subsample(np.flatnonzero(train.mask[:, j]), max_train_rows, seed)
        if train_rows.size == 0:
            targets[label] = TargetFit(None, [], 0, 0.0)
            continue
        val_rows = np.flatnonzero(val.mask[:, j])
        best, best_score, scores = None, -np.inf, []
        for point in grid:
            estimator = make_estimator(name, point, seed, n_jobs).fit(train.x[train_rows], train.labels[train_rows, j])
            predicted = estimator.predict(val.x[val_rows]) if val_rows.size else None
            score = pearson_or_nan(val.labels[val_rows, j], predicted, 2) if val_rows.size else np.nan
            scores.append(score)
            if best is None or (not np.isnan(score) and score > best_score):
                best, best_score, chosen = estimator, (score if not np.isnan(score) else -np.inf), point
        if refit == "train+val":
            x = np.concatenate([train.x[train_rows], val.x[val_rows]])
            y = np.concatenate([train.labels[train_rows, j], val.labels[val_rows, j]])
            best = make_estimator(name, chosen, seed, n_jobs).fit(x, y)
        targets[label] = TargetFit(dict(chosen), scores, int(train_rows.size), time.perf_counter() - fit_started)
        for fold, design in predict.items():
            predictions[fold][:, j] = best.predict(design.x)
    return BaselineResult(name, label_names, predictions, targets, refit, time.perf_counter() - started, grid)


def baseline_metrics(
    result: BaselineResult,
    designs: Mapping[str, DesignMatrix],
    p_values: Mapping[str, np.ndarray] | None = None,
    ci_folds: Sequence[str] = ("test",),
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, dict]:
    """`split_metrics` of every predicted fold (bootstrap CIs on `ci_folds`); `p_values` {fold: [N]}."""
    metrics = {}
    for fold, prediction in result.predictions.items():
        design = designs[fold]
        p_value = None if p_values is None else p_values.get(fold)
        resamples = n_resamples if fold in ci_folds else 0
        metrics[fold] = split_metrics(
            np.nan_to_num(design.labels),
            design.mask,
            prediction,
            result.label_names,
            p_value=p_value,
            n_resamples=resamples,
            seed=seed,
        )
    return metrics
