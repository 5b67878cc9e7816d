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
