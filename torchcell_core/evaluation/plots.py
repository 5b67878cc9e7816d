"""Pictures attached to asset metadata (PNG files)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def scatter_predicted_vs_measured(
    measured: np.ndarray, predicted: np.ndarray, path: str | Path, title: str, label: str = "ε"
) -> Path:
    """Write a predicted-vs-measured scatter with the identity line; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    ax.scatter(measured, predicted, s=4, alpha=0.35, linewidths=0)
    low = float(min(np.min(measured), np.min(predicted)))
    high = float(max(np.max(measured), np.max(predicted)))
    ax.plot([low, high], [low, high], color="grey", linewidth=1, linestyle="--")
    ax.set_xlabel(f"measured {label}")
    ax.set_ylabel(f"predicted {label}")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def label_histograms(columns: dict[str, np.ndarray], path: str | Path, title: str) -> Path:
    """One histogram panel per label (NaNs left out), side by side; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 3.4), dpi=110, squeeze=False)
    for ax, (name, values) in zip(axes[0], columns.items(), strict=True):
        values = np.asarray(values, dtype=float)
        values = values[~np.isnan(values)]
        ax.hist(values, bins=60, color="#4477aa")
        ax.set_xlabel(name)
        ax.set_ylabel("genotypes")
        ax.set_title(f"{name} (n={len(values):,})", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
