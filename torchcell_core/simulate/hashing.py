"""Deterministic per-pair and per-triple random numbers (counter-based hashing).

A value depends only on the seed and the unordered genes, never on the order in which
blocks are computed, so any subset of a screen can be regenerated exactly.
"""

from __future__ import annotations

import numpy as np

_SALTS = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def _mix(key: np.ndarray, salt: np.uint64) -> np.ndarray:
    """splitmix64 finaliser → uniforms in [0, 1)."""
    with np.errstate(over="ignore"):
        z = (key + salt) * np.uint64(0x9E3779B97F4A7C15)
        z ^= z >> np.uint64(31)
        z *= np.uint64(0xD6E8FEB86659FD93)
        z ^= z >> np.uint64(29)
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _sparse_normal(key: np.ndarray, rate: float) -> np.ndarray:
    from scipy.special import ndtri  # here, not at import: scipy.special takes ~0.3 s to load

    hit = _mix(key, _SALTS[0]) < rate
    return np.where(hit, ndtri(np.clip(_mix(key, _SALTS[1]), 1e-12, 1 - 1e-12)), 0.0)


def pair_normal(a: np.ndarray, b: np.ndarray, seed: int, rate: float) -> np.ndarray:
    """Standard normal for a `rate` fraction of unordered pairs, 0 elsewhere (broadcasts)."""
    lo, hi = np.minimum(a, b).astype(np.uint64), np.maximum(a, b).astype(np.uint64)
    with np.errstate(over="ignore"):
        key = (lo << np.uint64(21)) ^ hi ^ (np.uint64(seed) * np.uint64(0x9E3779B1))
    return _sparse_normal(key, rate)


def triple_normal(i: np.ndarray, j: np.ndarray, k: np.ndarray, seed: int, rate: float) -> np.ndarray:
    """Standard normal for a `rate` fraction of unordered triples, 0 elsewhere."""
    ordered = np.sort(np.stack([i, j, k]).astype(np.uint64), axis=0)
    with np.errstate(over="ignore"):
        key = (ordered[0] << np.uint64(42)) ^ (ordered[1] << np.uint64(21)) ^ ordered[2]
        key ^= np.uint64(seed) * np.uint64(0x85EBCA77C2B2AE63)
    return _sparse_normal(key, rate)
