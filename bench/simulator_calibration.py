"""How realistic the simulated screens are: the calibration targets from the real screens beside what the
simulator achieves, per curated dataset (the README's "Simulator calibration" table).

Targets (../shared/reference/field-facts.md): replicate correlation ε 0.88, τ 0.59; τ mean −0.048, sd 0.054;
on Kuzmin τ with a seeded random split, a query-pair identity baseline ≈ 0.39 and an additive ridge ≈ 0.40;
with whole query pairs held out, simple baselines ≤ 0.15 (ridge 0.127 ± 0.033). Achieved: the replicate
correlations the simulator measured on an unwritten second screen (its manifests), the label moments, the
baselines (`torchcell_core.benchmarks.baselines`, fitted on train, test Pearson with 95% CI) on the random
and the query split, and both ceilings (`torchcell_core.benchmarks.ceilings`) on each split's test fold.

    .venv/bin/python bench/simulator_calibration.py --data data [--datasets digenic trigenic]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from torchcell_core.benchmarks.baselines import baseline_metrics
from torchcell_core.benchmarks.ceilings import interaction_ceilings, read_measurements
from torchcell_core.benchmarks.model_table import pearson_with_ci
from torchcell_core.simulate.world import load_world

SPLITS = ("split_random", "split_query")
TARGETS = {  # dataset → {figure: target text}
    "digenic": {
        "replicate r": "0.88",
        "query identity, random split": "—",
        "additive, random split": "—",
        "query identity, query split": "≤ 0.15",
        "additive, query split": "≤ 0.15",
        "mean": "—",
        "sd": "—",
    },
    "trigenic": {
        "replicate r": "0.59",
        "query identity, random split": "0.35–0.40 (0.390)",
        "additive, random split": "0.400",
        "query identity, query split": "≤ 0.15 (constant)",
        "additive, query split": "≤ 0.15 (0.127 ± 0.033)",
        "mean": "−0.048",
        "sd": "0.054",
    },
}


def _replicate_r(data: Path, dataset: str) -> str:
    """The simulator's achieved replicate correlation(s) for the screens behind `dataset`."""
    values = []
    if dataset == "digenic":
        manifest = json.loads((data / "simulated" / "costanzo2016" / "SIMULATED.json").read_text())
        values += [v for k, v in _flat(manifest.get("noise", {})) if k.endswith("replicate_r_achieved")]
    kuzmin = json.loads((data / "simulated" / "kuzmin" / "SIMULATED.json").read_text())
    key = "epsilon_replicate_r_achieved" if dataset == "digenic" else "tau_replicate_r_achieved"
    values += [v for k, v in _flat(kuzmin["noise"]) if k.endswith(key)]
    return f"{min(values):.3f}–{max(values):.3f}" if values else "—"


def _flat(tree, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        elif isinstance(value, int | float):
            yield f"{prefix}{key}", float(value)


def _cell(metrics: dict) -> str:
    return pearson_with_ci(metrics["pearson"], *metrics["ci"]["pearson"])


def calibration(data: Path, dataset: str, bootstrap: int) -> list[dict]:
    table = pd.read_parquet(data / "datasets" / f"{dataset}.parquet")
    sources = data / "sources"
    world = load_world(
        sources / "s288c_genes.parquet", sources / "s288c_go_annotations.parquet", data / "simulated" / "world.json"
    )
    measurements = read_measurements(data / "simulated" / "kuzmin")
    interaction = table["interaction"].dropna()
    achieved = {
        "replicate r": _replicate_r(data, dataset),
        "mean": f"{interaction.mean():.3f}",
        "sd": f"{interaction.std():.3f}",
    }
    for split in SPLITS:
        metrics, _ = baseline_metrics(table, split, ("interaction",), n_resamples=bootstrap)
        name = split.removeprefix("split_")
        achieved[f"query identity, {name} split"] = _cell(metrics["query_identity"]["splits"]["test"]["interaction"])
        achieved[f"additive, {name} split"] = _cell(metrics["additive"]["splits"]["test"]["interaction"])
        ceilings = interaction_ceilings(world, table, split, measurements=measurements)
        achieved[f"truth as prediction ({name} test)"] = f"{ceilings['measurement']:.3f}"
        achieved[f"oracle ceiling ({name} test)"] = f"{ceilings['oracle']:.3f}"
    targets = TARGETS.get(dataset, {})
    return [
        {
            "dataset": f"{dataset} ({len(table):,} rows, {table['query'].nunique():,} queries)",
            "figure": figure,
            "target (real screens)": targets.get(figure, "—"),
            "achieved": value,
        }
        for figure, value in achieved.items()
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a data dir after `make demo`")
    parser.add_argument("--datasets", nargs="+", default=["digenic", "trigenic"])
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = [row for dataset in args.datasets for row in calibration(args.data, dataset, args.bootstrap)]
    print(pd.DataFrame(rows).to_markdown(index=False))
    print(f"\nwall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
