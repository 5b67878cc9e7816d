"""Dataset cards: the figures a biologist checks before training on a curated dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from torchcell_core.datasets.splits import SPLIT_COLUMNS
from torchcell_core.evaluation.metrics_ci import STRONG_CUTOFF, STRONG_P_VALUE
from torchcell_core.evaluation.plots import label_histograms

LABELS = ("fitness", "interaction")


def card_path(dataset: str | Path) -> Path:
    """Where a curated dataset's card lies: beside its Parquet, `<name>.card.json`."""
    return Path(dataset).with_suffix(".card.json")


def _numbers(table: pa.Table, column: str) -> np.ndarray:
    return np.asarray(table.column(column).to_numpy(zero_copy_only=False), dtype=float)


def label_summary(values: np.ndarray) -> dict[str, float]:
    """Count, mean, std and quantiles of the measured (non-NaN) values."""
    measured = values[~np.isnan(values)]
    if measured.size == 0:
        return {"n": 0}
    q = np.quantile(measured, [0.01, 0.25, 0.5, 0.75, 0.99])
    return {
        "n": int(measured.size),
        "mean": float(measured.mean()),
        "std": float(measured.std()),
        "min": float(measured.min()),
        "q01": float(q[0]),
        "q25": float(q[1]),
        "median": float(q[2]),
        "q75": float(q[3]),
        "q99": float(q[4]),
        "max": float(measured.max()),
    }


def strong_interaction_fraction(table: pa.Table, n_genes: int) -> float | None:
    """Fraction of genotypes with a measured interaction that are strong: |ε| > 0.08 for digenic,
    τ < −0.08 for trigenic, each with p < 0.05. None for single mutants."""
    if n_genes < 2:
        return None
    score, p = _numbers(table, "interaction"), _numbers(table, "interaction_p_value")
    measured = ~np.isnan(score)
    if not measured.any():
        return None
    size = np.abs(score) if n_genes == 2 else -score
    return float(((size > STRONG_CUTOFF) & (p < STRONG_P_VALUE))[measured].mean())


def dataset_card(table: pa.Table, n_genes: int, sources: list[dict], histogram: str | Path, title: str) -> dict:
    """Rows (`empty` when none), genes, label summaries, strong-interaction fraction, split sizes and source
    versions, plus a histogram PNG of the labels written to `histogram`."""
    genes = set(table.column("genes").combine_chunks().flatten().to_pylist())
    labels = {name: _numbers(table, name) for name in LABELS}
    measured = {name: values for name, values in labels.items() if not np.isnan(values).all()}
    label_histograms(measured or labels, histogram, title)  # an empty dataset: empty panels, not no figure
    return {
        "rows": table.num_rows,
        "empty": table.num_rows == 0,
        "genotypes": len(set(table.column("genotype").to_pylist())),
        "genes": len(genes),
        "labels": {name: label_summary(values) for name, values in labels.items()},
        "strong_interaction_fraction": strong_interaction_fraction(table, n_genes),
        "splits": {column: _fold_sizes(table, column) for column in SPLIT_COLUMNS if column in table.column_names},
        "environments": sorted(set(table.column("environment").to_pylist())),
        "sources": sources,
        "simulated": bool(any(table.column("simulated").to_pylist())),
        "histogram": str(histogram),
    }


def _fold_sizes(table: pa.Table, column: str) -> dict[str, int]:
    values, counts = np.unique(np.asarray(table.column(column).to_pylist(), dtype=object), return_counts=True)
    return {str(v): int(c) for v, c in zip(values, counts, strict=True)}
