"""The model benchmark table: one row per trained run and target, with 95% CIs and the data versions
that let a row be traced back (dataset file digest, predictions digest, graph set and feature set)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from torchcell_core.hashing import file_sha256

METRICS = ("pearson", "spearman", "mse", "r2", "auroc", "auprc")
FAMILY = {"elastic_net": "classical", "svr": "classical", "random_forest": "classical", "mlp": "neural",
          "dcell": "ontology", "dango": "graph", "hetero_gnn": "graph"}  # fmt: skip


def _stem(path: str | None) -> str:
    """`string9_1-<key>.pt` → `string9_1`; None → ``."""
    return Path(path).stem.split("-")[0] if path else ""


def _metric_rows(base: dict, test: dict) -> list[dict]:
    rows = []
    for label, values in test.items():
        row = {**base, "target": label, "n": values.get("n")}
        for name in METRICS:
            row[name] = values.get(name, np.nan)
            low, high = values.get("ci", {}).get(name, (np.nan, np.nan))
            row[f"{name}_ci_low"], row[f"{name}_ci_high"] = low, high
        rows.append(row)
    return rows


def neural_run_rows(run_dir: str | Path) -> list[dict]:
    """Rows of one `torchcell_core.train` run directory (config.json, metrics.json, predictions.parquet)."""
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = metrics.get("history", [])
    base = {
        "model": metrics["model"], "family": FAMILY.get(metrics["model"], "neural"),
        "dataset": Path(config["dataset"]).stem, "split_type": config["split"],
        "graph_set": _stem(config.get("cell_graph")), "feature_set": _stem(config.get("gene_features")) or "learned",
        "parameters": metrics["num_parameters"], "epochs": metrics["epochs_completed"],
        "train_seconds": float(sum(h.get("seconds", 0.0) for h in history)),
        "samples_per_s": metrics.get("train_samples_per_s"),
        "dataset_sha256": file_sha256(config["dataset"]) if Path(config["dataset"]).is_file() else "",
        "predictions_sha256": file_sha256(run_dir / "predictions.parquet"), "run_dir": str(run_dir),
    }  # fmt: skip
    return _metric_rows(base, metrics["splits"]["test"])


def classical_run_rows(run_dir: str | Path, dataset_path: str | Path, feature_set: str, split: str) -> list[dict]:
    """Rows of the classical-baselines directory (metrics.json holds one entry per model)."""
    run_dir = Path(run_dir)
    summaries = json.loads((run_dir / "metrics.json").read_text())
    digest = file_sha256(run_dir / "predictions.parquet")
    rows = []
    for model, summary in summaries.items():
        base = {"model": model, "family": "classical", "dataset": Path(dataset_path).stem, "split_type": split,
                "graph_set": "", "feature_set": feature_set, "parameters": np.nan, "epochs": np.nan,
                "train_seconds": summary.get("seconds", np.nan), "samples_per_s": np.nan,
                "dataset_sha256": file_sha256(dataset_path), "predictions_sha256": digest,
                "run_dir": str(run_dir)}  # fmt: skip
        rows += _metric_rows(base, summary["splits"]["test"])
    return rows


def family_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and target: the best model of each family (classical, neural, ontology, graph) by test
    Pearson with its CI, beside the noise ceilings (simulated screens) and the share of the oracle
    ceiling the best model reaches: the seed's question (do graph models win on interactions?) in one table."""
    models = table[table["family"] != "ceiling"]
    ceilings = table[table["family"] == "ceiling"].pivot_table(index=["dataset", "target"], columns="model",
                                                                 values="pearson", aggfunc="first")  # fmt: skip
    rows = []
    for (dataset, target), part in models.groupby(["dataset", "target"], sort=True):
        row: dict = {"dataset": dataset, "target": target}
        for family in ("classical", "neural", "ontology", "graph"):
            members = part[part["family"] == family]
            if members.empty:
                continue
            best = members.loc[members["pearson"].idxmax()]
            row[family] = (f"{best['model']} {best['pearson']:.3f} "
                           f"[{best['pearson_ci_low']:.3f}, {best['pearson_ci_high']:.3f}]")  # fmt: skip
        if (dataset, target) in ceilings.index:
            for name, value in ceilings.loc[(dataset, target)].dropna().items():
                row[name] = round(float(value), 3)
            oracle = ceilings.loc[(dataset, target)].get("oracle_ceiling")
            if oracle is not None and np.isfinite(oracle) and oracle > 0:
                row["best / oracle"] = round(float(part["pearson"].max() / oracle), 2)
        rows.append(row)
    frame = pd.DataFrame(rows)
    order = ["dataset", "target", "classical", "neural", "ontology", "graph", "measurement_ceiling",
             "oracle_ceiling", "best / oracle"]  # fmt: skip
    return frame[[c for c in order if c in frame.columns] + [c for c in frame.columns if c not in order]]


def summary_markdown(summary: pd.DataFrame) -> str:
    """`family_summary` as Markdown, with an em dash where a family or ceiling has no row."""
    return summary.astype(object).where(summary.notna(), "—").to_markdown(index=False)


def pearson_bars(table: pd.DataFrame, path: str | Path, title: str) -> Path:
    """Test Pearson per model run with 95% CI whiskers, fitness and interaction side by side; the dataset's
    interaction noise ceilings (simulated screens) as ticks over each run's interaction bar."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ceilings = table[table["family"] == "ceiling"]
    table = table[table["family"] != "ceiling"]
    runs = table[["model", "dataset"]].drop_duplicates().reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(runs)), 4), dpi=110)
    width = 0.38
    for offset, target in ((-width / 2, "fitness"), (width / 2, "interaction")):
        part = runs.merge(table[table["target"] == target], on=["model", "dataset"], how="left")
        low = (part["pearson"] - part["pearson_ci_low"]).clip(lower=0).fillna(0)
        high = (part["pearson_ci_high"] - part["pearson"]).clip(lower=0).fillna(0)
        ax.bar(np.arange(len(runs)) + offset, part["pearson"].fillna(0), width, yerr=[low, high], capsize=3,
               label=target)  # fmt: skip
    for style, name in (("-", "measurement_ceiling"), (":", "oracle_ceiling")):
        values = runs.merge(ceilings[ceilings["model"] == name][["dataset", "pearson"]], on="dataset", how="left")
        x = np.arange(len(runs)) + width / 2
        ax.hlines(values["pearson"], x - width / 2, x + width / 2, colors="black", linestyles=style, linewidth=1.2,
                  label=name.replace("_", " ") if values["pearson"].notna().any() else None)  # fmt: skip
    ax.set_xticks(np.arange(len(runs)), [f"{m}\n{d}" for m, d in zip(runs["model"], runs["dataset"], strict=True)],
                  fontsize=8)  # fmt: skip
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_ylabel("test Pearson (95% CI)")
    ax.set_title(title, fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
