"""Sweeps: a grid of training configurations (models × datasets × graph sets × gene features × hyperparameter
values × ablations) expanded into numbered runs, stored as a manifest, and ranked on validation afterwards.

Each run is one partition of the sweep model asset, so a sweep runs as a backfill: resumable, each run
independent. Ablations are named sets of hyperparameters that switch a component off (e.g. DCell's
`auxiliary_weight=0`, Dango's `pretrain_steps=0`); "full" is the model as configured."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FULL = "full"
SWEEP_ID = re.compile(r"^[A-Za-z0-9_.]+$")


@dataclass(frozen=True)
class SweepRun:
    """One configuration of a sweep; `key` is its partition key `<sweep id>-<index>`."""

    key: str
    sweep_id: str
    model: str
    dataset: str
    graph_set: str
    gene_feature: str
    hparams: list[str] = field(default_factory=list)
    ablation: str = FULL

    @property
    def label(self) -> str:
        parts = [
            self.model,
            self.dataset,
            self.graph_set or "nograph",
            self.gene_feature or "learned",
            *self.hparams,
            self.ablation,
        ]
        return " ".join(parts)


def expand_grid(
    sweep_id: str,
    models: list[str],
    datasets: list[str],
    graph_sets: dict[str, list[str]],
    gene_features: list[str],
    hparam_grid: dict[str, list[str]],
    ablations: dict[str, list[str]],
) -> list[SweepRun]:
    """Every combination, in a stable order. `graph_sets` maps a model to the sets it tries (models absent
    from it use no graph); `hparam_grid` maps `key` to values; `ablations` maps a name to `key=value` items,
    a name `<model>.<ablation>` applying to that model only (a component only it has), a plain name to all."""
    if not SWEEP_ID.match(sweep_id):
        raise ValueError(f"sweep id {sweep_id!r} may hold only letters, digits, '_' and '.'")
    if not models or not datasets:
        raise ValueError("a sweep needs at least one model and one dataset")
    names = sorted(hparam_grid)
    values = [[f"{name}={value}" for value in hparam_grid[name]] for name in names]
    if any(not v for v in values):
        raise ValueError(f"every hyperparameter in the grid needs at least one value: {hparam_grid}")
    runs = []
    for model, dataset, feature in itertools.product(models, datasets, gene_features or [""]):
        variants = {
            FULL: [],
            **{
                name.split(".", 1)[-1]: items
                for name, items in ablations.items()
                if "." not in name or name.split(".", 1)[0] == model
            },
        }
        for graph in graph_sets.get(model, [""]) or [""]:
            for combo in itertools.product(*values):
                for ablation, items in variants.items():
                    index = len(runs)
                    runs.append(
                        SweepRun(
                            f"{sweep_id}-{index:03d}",
                            sweep_id,
                            model,
                            dataset,
                            graph,
                            feature,
                            [*combo, *items],
                            ablation,
                        )
                    )
    return runs


def write_manifest(path: str | Path, runs: list[SweepRun], settings: dict[str, Any]) -> Path:
    """The sweep's runs and shared settings (epochs, seed...) as JSON, written then renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({"settings": settings, "runs": [asdict(run) for run in runs]}, indent=2))
    partial.replace(path)
    return path


def read_manifest(path: str | Path) -> tuple[dict[str, Any], dict[str, SweepRun]]:
    """(settings, {key: run}) of a manifest written by `write_manifest`."""
    document = json.loads(Path(path).read_text())
    return document["settings"], {run["key"]: SweepRun(**run) for run in document["runs"]}


def run_rows(run: SweepRun, metrics: dict[str, Any], target: str = "interaction") -> dict[str, Any]:
    """One sweep-table row: the configuration, its best validation Pearson and its test metrics with CIs."""
    test = metrics["splits"].get("test", {})
    history = metrics.get("history", [])
    val = [record["val"].get(target, {}).get("pearson", np.nan) for record in history]
    row: dict[str, Any] = {k: v for k, v in asdict(run).items() if k != "hparams"}
    row.update(
        {
            "hparams": " ".join(run.hparams),
            "epochs": metrics.get("epochs_completed"),
            "val_pearson": float(np.nanmax(val)) if val else np.nan,
        }
    )
    for label, values in test.items():
        low, high = values.get("ci", {}).get("pearson", (np.nan, np.nan))
        row.update(
            {f"test_{label}_pearson": values["pearson"], f"test_{label}_ci_low": low, f"test_{label}_ci_high": high}
        )
    return row


def rank_sweep(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows ranked within each sweep by validation Pearson (best first), with `chosen` marking rank 1: the
    configuration picked on validation, whose test figures are the sweep's result."""
    ranked = rows.sort_values(["sweep_id", "val_pearson"], ascending=[True, False], na_position="last").copy()
    ranked["rank"] = ranked.groupby("sweep_id").cumcount() + 1
    ranked["chosen"] = ranked["rank"] == 1
    return ranked.reset_index(drop=True)
