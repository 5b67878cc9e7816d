"""Seeded dataset splits stored beside the data as a `split` column."""

from __future__ import annotations

import numpy as np

SPLITS = ("train", "val", "test")


def random_split(n: int, seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> np.ndarray:
    """A `split` label per row (train/val/test) from a seeded permutation."""
    if not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    order = np.random.default_rng(seed).permutation(n)
    labels = np.empty(n, dtype=object)
    bounds = np.round(np.cumsum(fractions) * n).astype(int)
    start = 0
    for name, stop in zip(SPLITS, bounds, strict=True):
        labels[order[start:stop]] = name
        start = stop
    return labels
