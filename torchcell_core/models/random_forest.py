"""Random-forest baseline on gene features of the perturbed genes (scikit-learn)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.ensemble import RandomForestRegressor


@dataclass(frozen=True)
class RandomForestConfig:
    n_estimators: int = 200
    max_features: float = 0.3
    min_samples_leaf: int = 3
    seed: int = 0
    n_jobs: int = -1


def train_random_forest(
    x: np.ndarray | sp.spmatrix, y: np.ndarray, config: RandomForestConfig
) -> RandomForestRegressor:
    """Fit on x: [num_samples, num_features], y: [num_samples]."""
    model = RandomForestRegressor(
        n_estimators=config.n_estimators,
        max_features=config.max_features,
        min_samples_leaf=config.min_samples_leaf,
        random_state=config.seed,
        n_jobs=config.n_jobs,
    )
    return model.fit(x, y)
