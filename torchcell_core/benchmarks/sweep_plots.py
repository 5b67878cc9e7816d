"""The graph-set sweep chart: which network helps interaction prediction (test Pearson with 95% CIs)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def graph_set_bars(table: pd.DataFrame, path: str | Path, target: str = "interaction") -> Path:
    """Per graph set (x) and model (colour): the test Pearson of the configuration that is best on validation
    among that model's runs with that graph set, with its bootstrap 95% CI as whiskers."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    column, low, high = f"test_{target}_pearson", f"test_{target}_ci_low", f"test_{target}_ci_high"
    runs = table[table["graph_set"].fillna("") != ""].sort_values("val_pearson", ascending=False)
    best = runs.groupby(["model", "dataset", "graph_set"], as_index=False).first()
    sets = sorted(best["graph_set"].unique())
    series = best[["model", "dataset"]].drop_duplicates().to_records(index=False)
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(sets) + 2), 4), dpi=110)
    width = 0.8 / max(1, len(series))
    for i, (model, dataset) in enumerate(series):
        part = best[(best["model"] == model) & (best["dataset"] == dataset)].set_index("graph_set").reindex(sets)
        errors = [
            (part[column] - part[low]).clip(lower=0).fillna(0),
            (part[high] - part[column]).clip(lower=0).fillna(0),
        ]
        ax.bar(
            np.arange(len(sets)) + (i - (len(series) - 1) / 2) * width,
            part[column].fillna(0),
            width,
            yerr=errors,
            capsize=3,
            label=f"{model} ({dataset})",
        )
    ax.set_xticks(np.arange(len(sets)), sets)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_ylabel(f"test {target} Pearson (95% CI)")
    ax.set_title("graph-set sweep: best-on-validation configuration per graph set", fontsize=10)
    if len(series):
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
