"""The model benchmark table: one row per trained run and target, with 95% CIs and the data versions
that let a row be traced back (dataset file digest, predictions digest, graph set and feature set)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from torchcell_core.hashing import file_sha256
from torchcell_core.train.run_dir import RunDir

METRICS = ("pearson", "spearman", "mse", "r2", "auroc", "auprc")
# The simple baselines every model is set beside (the one-hot MLP is `mlp`: a learned gene embedding, summed),
# the classical models on gene features, the ontology model and the graph models.
FAMILY = {
    "train_mean": "baseline",
    "query_identity": "baseline",
    "additive": "baseline",
    "mlp": "baseline",
    "elastic_net": "classical",
    "svr": "classical",
    "random_forest": "classical",
    "dcell": "ontology",
    "dango": "graph",
    "hetero_gnn": "graph",
}
FAMILIES = ("baseline", "classical", "ontology", "graph")
GROUP = ["dataset", "split_type"]  # one comparison: every family on the same dataset and split
# Which inputs of a row were simulated (torchcell_core.benchmarks.inputs): any, and their source keys.
SIMULATED_COLUMNS = ("simulated", "simulated_inputs")


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
    config = RunDir(run_dir).read_config()
    metrics = RunDir(run_dir).read_metrics()
    history = metrics.get("history", [])
    base = {
        "model": metrics["model"],
        "family": FAMILY.get(metrics["model"], "neural"),
        "dataset": Path(config["dataset"]).stem,
        "split_type": config["split"],
        "graph_set": _stem(config.get("cell_graph")),
        "feature_set": _stem(config.get("gene_features")) or "learned",
        "parameters": metrics["num_parameters"],
        "epochs": metrics["epochs_completed"],
        "max_epochs": config.get("epochs"),
        "best_epoch": metrics.get("selection", {}).get("best_epoch"),
        "train_seconds": float(sum(h.get("seconds", 0.0) for h in history)),
        "samples_per_s": metrics.get("train_samples_per_s"),
        "dataset_sha256": file_sha256(config["dataset"]) if Path(config["dataset"]).is_file() else "",
        "predictions_sha256": file_sha256(RunDir(run_dir).predictions),
        "run_dir": str(run_dir),
    }
    return _metric_rows(base, metrics["splits"]["test"])


def classical_run_rows(run_dir: str | Path, dataset_path: str | Path, feature_set: str, split: str) -> list[dict]:
    """Rows of a `classical_baselines` directory (metrics.json holds one entry per model: the simple baselines
    and the classical models)."""
    run_dir = Path(run_dir)
    summaries = RunDir(run_dir).read_metrics()
    digest = file_sha256(RunDir(run_dir).predictions)
    rows = []
    for model, summary in summaries.items():
        family = FAMILY.get(model, "classical")
        features = (
            summary.get("gene_feature", feature_set)
            if family == "classical"
            else ("one_hot" if model == "additive" else "")
        )
        base = {
            "model": model,
            "family": family,
            "dataset": Path(dataset_path).stem,
            "split_type": split,
            "graph_set": "",
            "feature_set": features,
            "parameters": np.nan,
            "epochs": np.nan,
            "train_seconds": summary.get("seconds", np.nan),
            "samples_per_s": np.nan,
            "dataset_sha256": file_sha256(dataset_path),
            "predictions_sha256": digest,
            "run_dir": str(run_dir),
        }
        rows += _metric_rows(base, summary["splits"]["test"])
    return rows


def pearson_with_ci(pearson: float, low: float, high: float) -> str:
    """`0.412 [0.350, 0.470]`, or `constant (no Pearson)` where the prediction was constant (NaN Pearson)."""
    return f"{pearson:.3f} [{low:.3f}, {high:.3f}]" if np.isfinite(pearson) else "constant (no Pearson)"


def row_pearson(row: pd.Series) -> str:
    """`pearson_with_ci` of a benchmark row."""
    return pearson_with_ci(row["pearson"], row["pearson_ci_low"], row["pearson_ci_high"])


def by_family(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in family order (baseline, classical, ontology, graph, then ceilings), models by name within one."""
    rank = {f: i for i, f in enumerate([*FAMILIES, "ceiling"])}
    return frame.sort_values(["family", "model"], key=lambda c: c.map(rank) if c.name == "family" else c)


def family_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, split and target: the best model of each family (baseline, classical, ontology, graph) by
    test Pearson with its CI, beside the noise ceilings (simulated screens) and the share of the oracle ceiling
    the best model reaches: the reference report's question in one table, never mixing datasets or splits."""
    table = (
        table.assign(split_type=table["split_type"].fillna(""))
        if "split_type" in table
        else table.assign(split_type="")
    )
    models = table[(table["family"] != "ceiling") & table["pearson"].notna()]
    ceilings = table[table["family"] == "ceiling"].pivot_table(
        index=[*GROUP, "target"], columns="model", values="pearson", aggfunc="first"
    )
    rows = []
    for (dataset, split, target), part in models.groupby([*GROUP, "target"], sort=True):
        row: dict = {"dataset": dataset, "split": split, "target": target}
        for family in FAMILIES:
            members = part[part["family"] == family]
            if not members.empty:
                best = members.loc[members["pearson"].idxmax()]
                row[family] = f"{best['model']} {row_pearson(best)}"
        if (dataset, split, target) in ceilings.index:
            for name, value in ceilings.loc[(dataset, split, target)].dropna().items():
                row[name] = round(float(value), 3)
            oracle = ceilings.loc[(dataset, split, target)].get("oracle_ceiling")
            if oracle is not None and np.isfinite(oracle) and oracle > 0:
                row["best / oracle"] = round(float(part["pearson"].max() / oracle), 2)
        rows.append(row)
    frame = pd.DataFrame(rows)
    order = ["dataset", "split", "target", *FAMILIES, "measurement_ceiling", "oracle_ceiling", "best / oracle"]
    return frame[[c for c in order if c in frame.columns] + [c for c in frame.columns if c not in order]]


def comparison_table(table: pd.DataFrame, dataset: str, split: str) -> pd.DataFrame:
    """One comparison (dataset × split): every model's test Pearson with its 95% CI per target, family first,
    then the ceilings, as printed by `make demo`; with the row's simulated inputs where the table has them."""
    part = table[(table["dataset"] == dataset) & (table["split_type"] == split)]
    index = ["family", "model", "graph_set", "feature_set", *[c for c in SIMULATED_COLUMNS[1:] if c in part]]
    part = part.assign(**{column: part[column].fillna("") for column in index[2:]})
    cells = part.assign(cell=[row_pearson(row) for _, row in part.iterrows()])
    cells.loc[cells["family"] == "ceiling", "cell"] = [
        f"{r:.3f}" for r in cells.loc[cells["family"] == "ceiling", "pearson"]
    ]
    wide = cells.pivot_table(index=index, columns="target", values="cell", aggfunc="first").reset_index()
    return by_family(wide).rename_axis(columns=None).fillna("—")


def summary_markdown(summary: pd.DataFrame) -> str:
    """`family_summary` as Markdown, with an em dash where a family or ceiling has no row."""
    return summary.astype(object).where(summary.notna(), "—").to_markdown(index=False)


def pearson_bars(table: pd.DataFrame, path: str | Path, title: str) -> Path:
    """One panel per comparison (dataset × split): test Pearson per model with 95% CI whiskers, fitness and
    interaction side by side; the interaction ceilings (simulated screens) as horizontal lines; legends to the right
    of the panels, clear of the bars."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    groups = table[GROUP].drop_duplicates().sort_values(GROUP).to_numpy().tolist()
    widest = max(
        (
            table[(table["dataset"] == d) & (table["split_type"] == s) & (table["family"] != "ceiling")][
                "model"
            ].nunique()
            for d, s in groups
        ),
        default=1,
    )
    fig, axes = plt.subplots(len(groups), 1, figsize=(max(6, 1.0 * widest), 3.2 * len(groups)), dpi=110, squeeze=False)
    width = 0.38
    for ax, (dataset, split) in zip(axes[:, 0], groups, strict=True):
        part = table[(table["dataset"] == dataset) & (table["split_type"] == split)]
        ceilings, models = part[part["family"] == "ceiling"], part[part["family"] != "ceiling"]
        runs = by_family(models[["family", "model", "graph_set"]].drop_duplicates()).reset_index(drop=True)
        for offset, target in ((-width / 2, "fitness"), (width / 2, "interaction")):
            rows = runs.merge(models[models["target"] == target], on=["family", "model", "graph_set"], how="left")
            low = (rows["pearson"] - rows["pearson_ci_low"]).clip(lower=0).fillna(0)
            high = (rows["pearson_ci_high"] - rows["pearson"]).clip(lower=0).fillna(0)
            ax.bar(
                np.arange(len(runs)) + offset,
                rows["pearson"].fillna(0),
                width,
                yerr=[low, high],
                capsize=3,
                label=target,
            )
        for style, name in (("-", "measurement_ceiling"), (":", "oracle_ceiling")):
            value = ceilings.loc[ceilings["model"] == name, "pearson"]
            if len(value) and np.isfinite(value.iloc[0]):
                ax.axhline(
                    float(value.iloc[0]),
                    color="black",
                    linestyle=style,
                    linewidth=1.0,
                    label=f"interaction {name.replace('_', ' ')}",
                )
        labels = [
            m + (f"\n{g}" if isinstance(g, str) and g else "")
            for m, g in zip(runs["model"], runs["graph_set"], strict=True)
        ]
        ax.set_xticks(np.arange(len(runs)), labels, fontsize=7)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_ylabel("test Pearson (95% CI)", fontsize=8)
        ax.set_title(f"{dataset}, {split}", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)  # beside the bars
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
