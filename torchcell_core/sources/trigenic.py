"""Digenic and trigenic interaction scores under the multiplicative model (Kuzmin 2018).

All functions take array-likes that broadcast together (scalars, 1-D arrays of n measurements, ...)
and return a float64 array of the broadcast shape; NaN in any input gives NaN in the output.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

ArrayLike = npt.ArrayLike


def digenic_epsilon(f_ij: ArrayLike, f_i: ArrayLike, f_j: ArrayLike) -> np.ndarray:
    """ε_ij = f_ij − f_i·f_j: how far a double mutant's fitness departs from the product of its singles."""
    return np.asarray(f_ij, dtype=np.float64) - np.asarray(f_i, dtype=np.float64) * np.asarray(f_j, dtype=np.float64)


def raw_trigenic_epsilon(f_ijk: ArrayLike, f_ij: ArrayLike, f_k: ArrayLike) -> np.ndarray:
    """ε_ijk-raw = f_ijk − f_ij·f_k: the triple mutant scored as the double-mutant query x array k,
    before the digenic parts ε_ik, ε_jk are removed."""
    return digenic_epsilon(f_ijk, f_ij, f_k)


def trigenic_tau(
    f_ijk: ArrayLike,
    f_i: ArrayLike,
    f_j: ArrayLike,
    f_k: ArrayLike,
    f_ij: ArrayLike,
    f_ik: ArrayLike,
    f_jk: ArrayLike,
) -> np.ndarray:
    """τ_ijk = f_ijk − f_i·f_j·f_k − ε_ij·f_k − ε_ik·f_j − ε_jk·f_i, ε the digenic scores of each pair.

    The part of the triple mutant's fitness not explained by the singles and the three digenic interactions.
    """
    f_i, f_j, f_k = (np.asarray(f, dtype=np.float64) for f in (f_i, f_j, f_k))
    eps_ij = digenic_epsilon(f_ij, f_i, f_j)
    eps_ik = digenic_epsilon(f_ik, f_i, f_k)
    eps_jk = digenic_epsilon(f_jk, f_j, f_k)
    return np.asarray(f_ijk, dtype=np.float64) - f_i * f_j * f_k - eps_ij * f_k - eps_ik * f_j - eps_jk * f_i


def _summary(deviation: np.ndarray, tolerance: float) -> dict[str, float | int]:
    checked = int(deviation.size)
    return {
        "checked": checked,
        "fraction_within": float(np.mean(deviation <= tolerance)) if checked else float("nan"),
        "max_deviation": float(deviation.max()) if checked else float("nan"),
    }


def score_consistency(frame: pd.DataFrame, tolerance: float = 1e-3) -> dict:
    """How often a screen row's `raw_score` is reproduced from its own fitness columns.

    The identity checked, on every row where `combined_fitness`, `query_fitness` and `array_fitness`
    are all present: raw_score == combined_fitness − query_fitness·array_fitness, i.e.
    digenic rows: ε_ik = f_ik − f_i·f_k (query fitness is the single mutant i, marked with hoΔ);
    trigenic rows: ε_ijk-raw = f_ijk − f_ij·f_k (query fitness is the double mutant ij).
    τ (`adjusted_score`) is NOT checked: it also needs f_i, f_j, ε_ik, ε_jk, which a row does not hold.
    Returns `checked`, `skipped`, `fraction_within` (|deviation| <= tolerance), `max_deviation`,
    and the same three figures per mutant type under `by_mutant_type`.
    """
    fitness = frame[["combined_fitness", "query_fitness", "array_fitness", "raw_score"]].to_numpy(dtype=np.float64)
    usable = ~np.isnan(fitness).any(axis=1)
    recomputed = digenic_epsilon(fitness[:, 0], fitness[:, 1], fitness[:, 2])
    deviation = np.abs(recomputed - fitness[:, 3])
    types = frame["mutant_type"].to_numpy(dtype=object)
    result: dict = {**_summary(deviation[usable], tolerance), "skipped": int((~usable).sum()), "tolerance": tolerance}
    result["by_mutant_type"] = {
        kind: _summary(deviation[usable & (types == kind)], tolerance) for kind in pd.unique(types[usable])
    }
    return result
