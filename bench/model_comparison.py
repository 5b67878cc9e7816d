"""Every model side by side on one curated dataset: test Pearson (fitness, ε/τ) beside the noise ceilings.

Goal (issue: model comparison): on interactions the best graph model (Dango, HeteroGNN; DCell counted with
them as the ontology model) reaches at least 0.8 of the simulator's noise ceiling and beats the best
classical baseline; on fitness the best classical baseline stays close to the best model.

- Classical baselines are trained here, each (gene feature, model) in a fresh child process (the script
  re-invoked with `--one`), so its peak RSS (`ru_maxrss` of the child: Python, the dataset, the design
  matrices and the fits) is its own. As in the `classical_baselines` asset: pooled (sum) gene features ⊕
  genotype size ⊕ environment, one regressor per target, grid searched on validation Pearson, fitted on
  at most `--max-train-rows` seeded training rows (the train fold is cut to them before the design is
  built: a one-hot design is 6,404 float32 columns). `fit s` is the whole grid search of both targets
  (fits, validation scoring, test prediction); `rows/s` = training rows × grid points × targets ÷ fit s.
  `GiB before fit` is the child's peak once the design matrices are built: the fit adds the difference.
- Neural runs are read from `--runs` (run directories with metrics.json + config.json, or bare
  metrics.json files, whose dataset is then `--dataset`): samples/s is the run's training throughput
  on its own hardware (`--runs-note`); their peak RSS is not recorded, so shown as `—`.
- Ceilings (simulated screens only): `measurement` = Pearson(measured, true ε/τ) on the test fold, what
  the truth reaches through the screen noise; `oracle` = Pearson(measured, the score without its row's own
  noise), the most any model can reach (`torchcell_core.benchmarks.ceilings`). `/meas`, `/oracle`:
  the share of each ceiling an interaction Pearson reaches.
- The verdict compares, on `--dataset` only, the best graph/ontology model's interaction Pearson with
  0.8 × each ceiling and with the best classical one, and the best classical fitness Pearson with the
  best model's (close = within `--close`).

Cost on the 2-core machine (demo digenic, 2,000 train rows): one_hot SVR ~17 min and random forest ~5.5 min,
the rest seconds to a minute (25 min in all). SVR grows about quadratically with rows, so the default
10,000 rows takes hours with one_hot SVR; `--models elastic_net` at 10,000 rows runs in about a minute.

    .venv/bin/python bench/model_comparison.py --data DATA [--dataset digenic] [--split split_random]
        [--features one_hot codon_frequency] [--models random_forest elastic_net svr]
        [--max-train-rows 10000] [--runs DIR|metrics.json ...] [--runs-note TEXT] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from torchcell_core.progress import progress
from torchcell_core.train.run_dir import CONFIG_JSON, RunDir

FAMILY = {
    "elastic_net": "classical",
    "svr": "classical",
    "random_forest": "classical",
    "mlp": "neural",
    "dcell": "ontology",
    "dango": "graph",
    "hetero_gnn": "graph",
}
LABELS = ("fitness", "interaction")
FOLDS = ("train", "val", "test")
CEILING_SHARE = 0.8
GIB = 1024**3


def peak_rss_bytes() -> int:
    """This process's peak resident set (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cut_train_rows(table, split: str, limit: int, seed: int):
    """The table with its train fold cut to at most `limit` seeded rows (val and test kept whole)."""
    import pyarrow as pa

    fold = np.asarray(table.column(split).to_pylist(), dtype=object)
    train = np.flatnonzero(fold == "train")
    if train.size > limit:
        train = np.random.default_rng(seed).choice(train, size=limit, replace=False)
    keep = np.sort(np.concatenate([train, np.flatnonzero((fold == "val") | (fold == "test"))]))
    return table.take(pa.array(keep))


def fit_one(
    data: Path, dataset: str, split: str, feature: str, model: str, max_rows: int, seed: int, bootstrap: int
) -> dict:
    """Fit one classical baseline (the `classical_baselines` asset's recipe) and report its test metrics,
    timing and this process's peak RSS."""
    import pyarrow.parquet as pq

    from torchcell_core.datasets.loader import PerturbationDataset
    from torchcell_core.features.store import load_gene_feature
    from torchcell_core.genome.gene_index import GeneIndex
    from torchcell_core.models.classical import DEFAULT_GRIDS, baseline_metrics, design_matrix, fit_baseline

    genes = GeneIndex.from_gene_table(data / "sources" / "s288c_genes.parquet")
    feature_genes, features = load_gene_feature(data / "features" / f"{feature}.pt")  # the features asset's path
    if feature_genes != genes.genes:
        raise ValueError(f"{feature}: feature rows do not follow the genome's gene index")
    table = cut_train_rows(pq.read_table(data / "datasets" / f"{dataset}.parquet"), split, max_rows, seed)
    p_values = np.asarray(table.column("interaction_p_value").to_numpy(zero_copy_only=False), dtype=float)
    designs = {
        fold: design_matrix(PerturbationDataset(table, genes, split, fold), features.numpy(), "sum") for fold in FOLDS
    }
    del features, table
    fold_p = {fold: p_values[design.rows] for fold, design in designs.items()}
    rss_before = peak_rss_bytes()
    started = time.perf_counter()
    train, val, test_only = designs["train"], designs["val"], {"test": designs["test"]}  # skip predicting train/val
    result = fit_baseline(model, train, val, test_only, LABELS, seed=seed, max_train_rows=max_rows)
    fit_seconds = time.perf_counter() - started
    metrics = baseline_metrics(result, designs, fold_p, n_resamples=bootstrap, seed=seed)
    grid = len(DEFAULT_GRIDS[model])
    fitted = [t for t in result.targets.values() if t.n_train]
    n_train = max((t.n_train for t in fitted), default=0)
    return {
        "model": model,
        "feature": feature,
        "dataset": dataset,
        "n_train": n_train,
        "dim": int(designs["train"].x.shape[1]),
        "fit_seconds": fit_seconds,
        "rows_per_s": sum(t.n_train for t in fitted) * grid / fit_seconds if fitted else float("nan"),
        "rss_before_fit": rss_before,
        "peak_rss": peak_rss_bytes(),
        "test": metrics["test"],
    }


def run_child(args: argparse.Namespace, feature: str, model: str) -> dict:
    """`fit_one` in a fresh process (its own peak RSS); the child's last stdout line is its JSON result."""
    command = [
        sys.executable,
        __file__,
        "--one",
        feature,
        model,
        "--data",
        str(args.data),
        "--dataset",
        args.dataset,
        "--split",
        args.split,
        "--max-train-rows",
        str(args.max_train_rows),
        "--seed",
        str(args.seed),
        "--bootstrap",
        str(args.bootstrap),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"{feature}/{model} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return {"model": model, "feature": feature, "dataset": args.dataset, "error": done.stderr.strip()[-200:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ci(values: dict) -> tuple[float, float]:
    low, high = values.get("ci", {}).get("pearson", (float("nan"), float("nan")))
    return float(low), float(high)


def classical_row(result: dict) -> dict:
    """One table row from a `fit_one` result (NaN metrics when the child failed)."""
    row = {
        "model": result["model"],
        "family": "classical",
        "feature": result["feature"],
        "dataset": result["dataset"],
        "train rows": result.get("n_train", 0),
        "epochs": None,
        "parameters": None,
        "fit s": result.get("fit_seconds", float("nan")),
        "rows/s": result.get("rows_per_s", float("nan")),
        "peak RSS GiB": result.get("peak_rss", float("nan")) / GIB,
        "GiB before fit": result.get("rss_before_fit", float("nan")) / GIB,
    }
    for label in LABELS:
        values = result.get("test", {}).get(label, {})
        row[label] = float(values.get("pearson", float("nan")))
        row[f"{label} ci"] = _ci(values)
    return row


def neural_row(path: str | Path, default_dataset: str) -> dict:
    """One table row from a training run directory (metrics.json + config.json) or a bare metrics.json."""
    path = Path(path)
    metrics_path = path if path.is_file() else RunDir(path).metrics
    metrics = json.loads(metrics_path.read_text())
    config_path = metrics_path.with_name(CONFIG_JSON)
    dataset = default_dataset
    if config_path.is_file():
        dataset = Path(json.loads(config_path.read_text())["dataset"]).stem
    seconds = sum(h.get("seconds", 0.0) for h in metrics.get("history", []))
    row = {
        "model": metrics["model"],
        "family": FAMILY.get(metrics["model"], "neural"),
        "feature": "learned",
        "dataset": dataset,
        "train rows": metrics.get("splits", {}).get("train", {}).get("fitness", {}).get("n"),
        "epochs": metrics.get("epochs_completed"),
        "parameters": metrics.get("num_parameters"),
        "fit s": seconds or float("nan"),
        "rows/s": metrics.get("train_samples_per_s", float("nan")),
        "peak RSS GiB": float("nan"),
        "GiB before fit": float("nan"),
    }
    for label in LABELS:
        values = metrics["splits"]["test"].get(label, {})
        row[label] = float(values.get("pearson", float("nan")))
        row[f"{label} ci"] = _ci(values)
    return row


def _num(value, digits: int = 3, thousands: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:,.0f}" if thousands else f"{value:.{digits}f}"


def _pearson_cell(row: dict, label: str) -> str:
    low, high = row[f"{label} ci"]
    ci = f" [{low:.3f}, {high:.3f}]" if math.isfinite(low) and math.isfinite(high) else ""
    return _num(row[label]) + ci


def markdown_table(rows: list[dict], ceilings: dict, dataset: str) -> str:
    """The comparison as Markdown: one line per model run, the interaction's share of each ceiling (rows on
    `dataset` only), fit seconds, rows/s and peak RSS."""
    header = [
        "model",
        "family",
        "feature",
        "dataset",
        "train rows",
        "epochs",
        "parameters",
        "fitness r [95% CI]",
        "interaction r [95% CI]",
        "/meas",
        "/oracle",
        "fit s",
        "rows/s",
        "peak RSS GiB",
        "GiB before fit",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        shares = []
        for kind in ("measurement", "oracle"):
            ceiling = ceilings.get(kind, float("nan")) if row["dataset"] == dataset else float("nan")
            shares.append(_num(row["interaction"] / ceiling, 2) if math.isfinite(ceiling) and ceiling > 0 else "—")
        cells = [
            row["model"],
            row["family"],
            row["feature"],
            row["dataset"],
            _num(row["train rows"], thousands=True),
            _num(row["epochs"], thousands=True),
            _num(row["parameters"], thousands=True),
            _pearson_cell(row, "fitness"),
            _pearson_cell(row, "interaction"),
            *shares,
            _num(row["fit s"], 1),
            _num(row["rows/s"], thousands=True),
            _num(row["peak RSS GiB"], 2),
            _num(row["GiB before fit"], 2),
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def _best(rows: list[dict], label: str, families: tuple[str, ...] | None = None) -> dict | None:
    members = [r for r in rows if (families is None or r["family"] in families) and math.isfinite(r[label])]
    return max(members, key=lambda r: r[label]) if members else None


def _name(row: dict) -> str:
    return row["model"] + ("" if row["feature"] == "learned" else f"/{row['feature']}")


def verdict(rows: list[dict], ceilings: dict, dataset: str, close: float = 0.05) -> tuple[list[str], dict]:
    """The goal checks on `dataset`'s rows, as printable lines and {check: bool | None} (None: not decidable)."""
    rows = [r for r in rows if r["dataset"] == dataset]
    lines, checks = [], {}
    graph, classical = _best(rows, "interaction", ("graph", "ontology")), _best(rows, "interaction", ("classical",))
    if graph is None:
        lines.append("interaction: no graph/ontology run on this dataset; the goal cannot be checked")
    else:
        r = graph["interaction"]
        for kind in ("measurement", "oracle"):
            ceiling = ceilings.get(kind, float("nan"))
            if not math.isfinite(ceiling):
                checks[kind] = None
                lines.append(f"interaction: no {kind} ceiling (not a simulated screen)")
                continue
            checks[kind] = bool(r >= CEILING_SHARE * ceiling)
            lines.append(
                f"interaction: best graph/ontology {_name(graph)} r = {r:.3f} vs {CEILING_SHARE} × {kind} "
                f"ceiling {ceiling:.3f} = {CEILING_SHARE * ceiling:.3f} ({r / ceiling:.2f} of it): "
                f"{'MET' if checks[kind] else 'NOT MET'}"
            )
        if classical is None:
            checks["beats_classical"] = None
            lines.append("interaction: no classical baseline to compare with")
        else:
            checks["beats_classical"] = bool(r > classical["interaction"])
            overlap = graph["interaction ci"][0] <= classical["interaction ci"][1]
            lines.append(
                f"interaction: {_name(graph)} {r:.3f} vs best classical {_name(classical)} "
                f"{classical['interaction']:.3f} (difference {r - classical['interaction']:+.3f}"
                f"{', 95% CIs overlap' if overlap else ''}): "
                f"{'MET' if checks['beats_classical'] else 'NOT MET'}"
            )
    best, best_classical = _best(rows, "fitness"), _best(rows, "fitness", ("classical",))
    if best is None or best_classical is None:
        checks["fitness_close"] = None
        lines.append("fitness: need a classical baseline and another model on this dataset")
    else:
        gap = best["fitness"] - best_classical["fitness"]
        checks["fitness_close"] = bool(gap <= close)
        lines.append(
            f"fitness: best classical {_name(best_classical)} {best_classical['fitness']:.3f} vs best model "
            f"{_name(best)} {best['fitness']:.3f} (gap {gap:.3f}, close = within {close}): "
            f"{'MET' if checks['fitness_close'] else 'NOT MET'}"
        )
    return lines, checks


def noise_ceilings(data: Path, dataset: str, split: str) -> dict:
    """The simulator's interaction ceilings on the test fold, or {} for a data dir without a simulated world."""
    world_json = data / "simulated" / "world.json"
    if not world_json.is_file():
        return {}
    from torchcell_core.benchmarks.ceilings import interaction_ceilings, read_measurements
    from torchcell_core.simulate.world import load_world

    sources = data / "sources"
    world = load_world(sources / "s288c_genes.parquet", sources / "s288c_go_annotations.parquet", world_json)
    table = pd.read_parquet(data / "datasets" / f"{dataset}.parquet")
    return interaction_ceilings(world, table, split, measurements=read_measurements(data / "simulated" / "kuzmin"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a data dir after `make demo`")
    parser.add_argument("--dataset", default="digenic")
    parser.add_argument("--split", default="split_random")
    parser.add_argument("--features", nargs="+", default=["one_hot", "codon_frequency"])
    parser.add_argument("--models", nargs="+", default=["random_forest", "elastic_net", "svr"])
    parser.add_argument("--max-train-rows", type=int, default=10_000)
    parser.add_argument("--runs", nargs="*", default=[], help="run directories or metrics.json files")
    parser.add_argument("--runs-note", default="")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=200, help="resamples for the classical test CIs")
    parser.add_argument("--close", type=float, default=0.05, help="fitness: how near the best counts as close")
    parser.add_argument("--one", nargs=2, metavar=("FEATURE", "MODEL"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.one:
        result = fit_one(args.data, args.dataset, args.split, *args.one, args.max_train_rows, args.seed, args.bootstrap)
        print(json.dumps(result, default=float))
        return
    started = time.perf_counter()
    rows = []
    fits = progress([(f, m) for f in args.features for m in args.models], "classical fits", "fits")  # terminal bar
    for feature, model in fits:
        result = run_child(args, feature, model)
        rows.append(classical_row(result))
        r = rows[-1]
        fits.write(
            f"# {feature}/{model}: fitness {r['fitness']:.3f}, interaction {r['interaction']:.3f}, "
            f"{r['fit s']:.1f} s, peak {r['peak RSS GiB']:.2f} GiB",
            file=sys.stderr,
        )
    rows += [neural_row(path, args.dataset) for path in args.runs]
    ceilings = noise_ceilings(args.data, args.dataset, args.split)
    print(
        f"## {args.dataset} ({args.split}, test fold): classical fits on ≤ {args.max_train_rows:,} train rows, "
        f"seed {args.seed}\n"
    )
    print(markdown_table(rows, ceilings, args.dataset))
    if args.runs_note:
        print(f"\nNeural runs: {args.runs_note}. Classical fits: this machine, one child process each.")
    if ceilings:
        print(
            f"\nNoise ceilings (interaction, {ceilings['n']:,} test rows): measurement "
            f"{ceilings['measurement']:.3f}, oracle {ceilings['oracle']:.3f}"
        )
    lines, _ = verdict(rows, ceilings, args.dataset, args.close)
    print("\nVerdict:\n" + "\n".join(f"- {line}" for line in lines))
    print(f"\nwall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
