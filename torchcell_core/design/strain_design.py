"""Rank candidate multi-gene deletions by a trained run's predicted fitness and interaction, with intervals.

A run directory written by `torchcell_core.train` is loaded back (config.json, then checkpoints/best.pt, else
last.pt), every candidate (all pairs or triples of a gene set) is predicted in the most common environment of
the run's dataset, and each label gets an interval:

    point    = the eval-mode prediction (dropout off): exactly what the run's predictions.parquet holds;
    sd       = sqrt(mc_sd² + rmse²), where
      mc_sd  = the spread of `mc_passes` forward passes with only the Dropout modules sampling (MC dropout,
               the model's own uncertainty; 0 when the model has no dropout with p > 0 or passes are off),
      rmse   = the run's root-mean-square error on its held-out test fold (val when there is no test), over
               genotypes of the candidate's size when the fold has at least MIN_RESIDUALS of them, else all;
    interval = point ± z·sd, with z the normal quantile of `confidence`.

The interval is thus an approximate predictive interval for a measurement of the genotype, calibrated on held-out
genotypes like those of the run's dataset. It assumes Gaussian errors, it is optimistic for genes the model never
saw in training (column `genes_in_training`), and on simulated screens it says nothing about real yeast.
"""

from __future__ import annotations

import itertools
import json
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch
from torch import nn

from torchcell_core.datasets.card import card_path
from torchcell_core.datasets.loader import PerturbationBatch
from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.train import checkpoint as ckpt
from torchcell_core.train.config import TrainConfig
from torchcell_core.train.data import load_run_data
from torchcell_core.train.run import build
from torchcell_core.train.run_dir import CONFIG_JSON, PREDICTIONS_PARQUET

# objective → (label it ranks by, ascending)
OBJECTIVES = {
    "lowest_fitness": ("fitness", True),
    "highest_fitness": ("fitness", False),
    "most_negative_interaction": ("interaction", True),
}
SIZES = (2, 3)
SEPARATOR = "+"  # joins a genotype's genes, as the curated datasets' `genotype` column does
MIN_RESIDUALS = 20
DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


@dataclass
class DesignRun:
    """A trained run ready to predict new genotypes.

    `environment` [E] is the most common environment vector of the run's data (`environment_name` its label);
    `measured` {sorted gene positions: [(fold, labels [L] with NaN where unmeasured)]} holds the rows measured
    in that environment; `training_sizes` {genes perturbed: training genotypes}; `rmse` {label: {genotype size or
    None for all sizes: held-out RMSE}}."""

    run_dir: Path
    config: TrainConfig
    model: nn.Module
    genes: GeneIndex
    weights: str
    device: torch.device
    environment: torch.Tensor
    environment_name: str
    measured: dict[tuple[int, ...], list[tuple[str, np.ndarray]]]
    training_genes: frozenset[int]
    training_sizes: dict[int, int]
    rmse: dict[str, dict[int | None, float]]
    residual_fold: str
    standard_names: dict[str, str]
    simulated: bool

    @property
    def labels(self) -> list[str]:
        return list(self.config.labels)


def load_design_run(run_dir: str | Path, device: str = "cpu") -> DesignRun:
    """Rebuild the run's model with its best weights (last.pt when no epoch improved) and gather what the
    design table needs: environment, measured genotypes, training genes and held-out residuals."""
    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG_JSON
    if not config_path.is_file():
        raise ValueError(f"{run_dir} is not a trained run: it has no {CONFIG_JSON}")
    config = TrainConfig.from_dict(json.loads(config_path.read_text()))
    directory = run_dir / "checkpoints"
    chosen = next((directory / name for name in (ckpt.BEST, ckpt.LAST) if (directory / name).is_file()), None)
    if chosen is None:
        raise ValueError(f"model {config.model!r} in {run_dir} is not trained: no checkpoints/{ckpt.BEST} or last.pt")
    if not (run_dir / PREDICTIONS_PARQUET).is_file():
        raise ValueError(f"run {run_dir} did not finish: it has no {PREDICTIONS_PARQUET}")
    data = load_run_data(config)
    state = ckpt.rng_state()  # `build` seeds the global generators; leave them as the caller had them
    try:
        model = build(config, data.context)
    finally:
        ckpt.set_rng_state(state)
    model.load_state_dict(ckpt.load_checkpoint(chosen)["model"])
    target = torch.device(device)
    model.to(target).eval()

    every = torch.cat([dataset.environment for dataset in data.folds.values()])
    values, counts = torch.unique(every, dim=0, return_counts=True)
    environment = values[int(torch.argmax(counts))]
    measured: dict[tuple[int, ...], list[tuple[str, np.ndarray]]] = {}
    sizes, first_row = {}, None
    for fold, dataset in data.folds.items():
        offsets, positions = dataset.offsets.numpy(), dataset.gene_index.numpy()
        labels = np.where(dataset.mask.numpy(), dataset.labels.numpy().astype(np.float64), np.nan)
        rows = dataset.rows.numpy()
        sizes.update(zip(rows.tolist(), np.diff(offsets).tolist(), strict=True))
        for i in np.flatnonzero((dataset.environment == environment).all(dim=1).numpy()):
            key = tuple(sorted(positions[offsets[i] : offsets[i + 1]].tolist()))
            measured.setdefault(key, []).append((fold, labels[i]))
            first_row = int(rows[i]) if first_row is None else min(first_row, int(rows[i]))
    train_sizes, train_counts = np.unique(np.diff(data.folds["train"].offsets.numpy()), return_counts=True)
    residual_fold, rmse = residual_rmse(run_dir / PREDICTIONS_PARQUET, config.labels, pd.Series(sizes))
    return DesignRun(
        run_dir=run_dir,
        config=config,
        model=model,
        genes=data.genes,
        weights=chosen.name,
        device=target,
        environment=environment,
        environment_name=_environment_name(config, environment, first_row),
        measured=measured,
        training_genes=frozenset(data.folds["train"].gene_index.tolist()),
        rmse=rmse,
        training_sizes=dict(zip(train_sizes.tolist(), train_counts.tolist(), strict=True)),
        residual_fold=residual_fold,
        standard_names=_standard_names(config.gene_table),
        simulated=dataset_simulated(config.dataset),
    )


def residual_rmse(
    predictions: str | Path, labels: Sequence[str], row_sizes: pd.Series
) -> tuple[str, dict[str, dict[int | None, float]]]:
    """(held-out fold, {label: {size: RMSE}}) from a run's predictions.parquet; `row_sizes` maps table row →
    genes perturbed. Sizes with fewer than MIN_RESIDUALS measured rows are left out (the None entry covers them)."""
    table = pd.read_parquet(predictions)
    fold = "test" if (table["split"] == "test").any() else "val"
    held = table[table["split"] == fold]
    size = row_sizes.reindex(held["row"].to_numpy()).to_numpy()
    result: dict[str, dict[int | None, float]] = {}
    for label in labels:
        error = (held[f"measured_{label}"] - held[f"predicted_{label}"]).to_numpy(dtype=np.float64)
        ok = np.isfinite(error)
        per_size: dict[int | None, float] = {None: float(np.sqrt(np.mean(error[ok] ** 2))) if ok.any() else math.nan}
        for k in np.unique(size[ok]):
            chosen = ok & (size == k)
            if chosen.sum() >= MIN_RESIDUALS:
                per_size[int(k)] = float(np.sqrt(np.mean(error[chosen] ** 2)))
        result[label] = per_size
    return fold, result


def dataset_simulated(dataset: str | Path) -> bool:
    """The `simulated` flag of the dataset card beside the Parquet, else of its `simulated` column."""
    card = card_path(dataset)
    if card.is_file():
        return bool(json.loads(card.read_text()).get("simulated", False))
    if "simulated" in pq.read_schema(dataset).names:
        return bool(pq.read_table(dataset, columns=["simulated"]).column(0).to_pandas().fillna(False).any())
    return False


def _standard_names(gene_table: str) -> dict[str, str]:
    """{systematic: standard name} from a genome gene table Parquet; empty for a plain gene list."""
    path = Path(gene_table)
    if path.suffix != ".parquet" or "standard_name" not in pq.read_schema(path).names:
        return {}
    frame = pq.read_table(path, columns=["systematic_name", "standard_name"]).to_pandas().dropna()
    return dict(zip(frame["systematic_name"], frame["standard_name"], strict=True))


def _environment_name(config: TrainConfig, environment: torch.Tensor, row: int | None) -> str:
    """The dataset's `environment` label of a row in that environment, else the env_* values written out."""
    if row is not None and "environment" in pq.read_schema(config.dataset).names:
        value = pq.read_table(config.dataset, columns=["environment"]).column(0)[row].as_py()
        if value:
            return str(value)
    names = [n for n in pq.read_schema(config.dataset).names if n.startswith("env_")]
    return ", ".join(f"{n}={v:g}" for n, v in zip(names, environment.tolist(), strict=True))


def default_size(run: DesignRun) -> int:
    """The candidate size (SIZES) the run trained on most: 3 for a trigenic run, else 2 (pairs)."""
    return max(SIZES, key=lambda k: (run.training_sizes.get(k, 0), -k))


def go_term_genes(terms_path: str | Path, go_term: str) -> tuple[str, list[str]]:
    """(name, sorted genes) of a GO term in the go_dag asset's terms Parquet (genes propagated up the DAG)."""
    path = Path(terms_path)
    if not path.is_file():
        raise ValueError(f"GO terms file {path} does not exist: materialize go_dag, or give genes explicitly")
    terms = pq.read_table(path, columns=["go_id", "name", "genes"]).to_pandas()
    hit = terms[terms["go_id"] == go_term]
    if hit.empty:
        raise ValueError(f"GO term {go_term!r} is not in {path} ({len(terms)} terms kept after the DCell filters)")
    return str(hit["name"].iloc[0]), sorted(str(g) for g in hit["genes"].iloc[0])


def resolve_genes(run: DesignRun, names: Sequence[str], strict: bool = True) -> tuple[list[str], list[str]]:
    """(systematic names in the model's gene index, names not found); standard names (e.g. ERG11) are accepted.
    With `strict`, any name not found is a ValueError naming it."""
    known = set(run.genes.genes)
    by_standard = {standard.upper(): systematic for systematic, standard in run.standard_names.items()}
    resolved, missing = [], []
    for name in names:
        text = str(name).strip()
        systematic = text if text in known else text.upper() if text.upper() in known else by_standard.get(text.upper())
        if systematic is None or systematic not in known:
            missing.append(text)
        else:
            resolved.append(systematic)
    if strict and missing:
        raise ValueError(f"unknown gene name(s) {missing}: not in the model's gene index of {len(known)} genes")
    return list(dict.fromkeys(resolved)), missing


def candidate_genotypes(genes: Sequence[str], size: int, max_candidates: int) -> list[tuple[str, ...]]:
    """Every `size`-gene combination of `genes` (sorted names); more than `max_candidates` is a ValueError."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES} (pairs or triples), got {size}")
    unique = sorted(set(genes))
    if len(unique) < size:
        raise ValueError(f"too few genes for {size}-gene deletions: {len(unique)} gene(s) {unique}")
    count = math.comb(len(unique), size)
    if count > max_candidates:
        raise ValueError(
            f"{len(unique)} genes give {count} {size}-gene candidates, more than max_candidates="
            f"{max_candidates}; raise max_candidates or choose fewer genes"
        )
    return list(itertools.combinations(unique, size))


def _batch(positions: Sequence[np.ndarray], environment: torch.Tensor, num_labels: int) -> PerturbationBatch:
    """A batch of genotypes (gene positions each) in one environment; no labels (mask all False)."""
    counts = torch.tensor([len(p) for p in positions], dtype=torch.long)
    size = len(positions)
    return PerturbationBatch(
        perturbed=torch.from_numpy(np.concatenate(positions).astype(np.int64)),
        batch=torch.repeat_interleave(torch.arange(size), counts),
        num_perturbations=counts,
        labels=torch.zeros(size, num_labels),
        mask=torch.zeros(size, num_labels, dtype=torch.bool),
        environment=environment.to(torch.float32).expand(size, -1).clone(),
        row=torch.full((size,), -1, dtype=torch.long),
    )


@torch.no_grad()
def _forward(run: DesignRun, positions: Sequence[np.ndarray], batch_size: int) -> np.ndarray:
    """Predictions [C, L] float64 of the genotypes, `batch_size` at a time, in the modules' current modes."""
    outputs = []
    for start in range(0, len(positions), batch_size):
        batch = _batch(positions[start : start + batch_size], run.environment, len(run.labels)).to(run.device)
        outputs.append(run.model(batch).prediction.to(torch.float64).cpu())
    return torch.cat(outputs)[:, : len(run.labels)].numpy()


def predict_genotypes(
    run: DesignRun, genotypes: Sequence[Sequence[str]], mc_passes: int = 0, seed: int = 0, batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray, int]:
    """(point [C, L], MC-dropout sd [C, L], passes used): the eval-mode prediction and the spread of `mc_passes`
    passes with only Dropout modules sampling (BatchNorm stays in eval). No dropout or < 2 passes: sd 0, 0 used."""
    if not genotypes:
        raise ValueError("no genotypes to predict")
    positions = [np.sort(run.genes.positions(list(g))) for g in genotypes]
    run.model.eval()
    point = _forward(run, positions, batch_size)
    dropouts = [m for m in run.model.modules() if isinstance(m, DROPOUT_TYPES) and m.p > 0]
    if mc_passes < 2 or not dropouts:
        return point, np.zeros_like(point), 0
    devices = [run.device.index or 0] if run.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for module in dropouts:
            module.train()
        try:
            samples = np.stack([_forward(run, positions, batch_size) for _ in range(mc_passes)])
        finally:
            run.model.eval()
    return point, samples.std(axis=0, ddof=1), mc_passes


def rank_candidates(
    run: DesignRun,
    genotypes: Sequence[Sequence[str]],
    objective: str = "lowest_fitness",
    mc_passes: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per candidate, ranked by `objective` (OBJECTIVES): predictions with sd and interval per label
    (see the module docstring), genes seen in training, and the measured values where the run's data has it."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {sorted(OBJECTIVES)}, got {objective!r}")
    label, ascending = OBJECTIVES[objective]
    if label not in run.labels:
        raise ValueError(f"objective {objective!r} ranks by {label!r}, which the run does not predict {run.labels}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    point, mc_sd, used = predict_genotypes(run, genotypes, mc_passes, seed)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    keys = [tuple(sorted(run.genes.positions(list(g)).tolist())) for g in genotypes]
    columns: dict[str, object] = {
        "genes": [SEPARATOR.join(sorted(g)) for g in genotypes],
        "standard_names": [SEPARATOR.join(run.standard_names.get(n, n) for n in sorted(g)) for g in genotypes],
        "size": [len(g) for g in genotypes],
    }
    for j, name in enumerate(run.labels):
        rmse = np.array([run.rmse[name].get(len(g), run.rmse[name][None]) for g in genotypes])
        sd = np.sqrt(mc_sd[:, j] ** 2 + rmse**2)
        columns |= {
            f"predicted_{name}": point[:, j],
            f"{name}_low": point[:, j] - z * sd,
            f"{name}_high": point[:, j] + z * sd,
            f"{name}_sd": sd,
            f"{name}_mc_sd": mc_sd[:, j],
        }
    columns["genes_in_training"] = [sum(p in run.training_genes for p in key) for key in keys]
    entries = [run.measured.get(key, []) for key in keys]
    columns["in_dataset"] = [bool(e) for e in entries]
    columns["dataset_folds"] = [",".join(sorted({fold for fold, _ in e})) for e in entries]
    columns["in_training"] = [any(fold == "train" for fold, _ in e) for e in entries]
    for j, name in enumerate(run.labels):
        columns[f"measured_{name}"] = [_mean_finite([values[j] for _, values in e]) for e in entries]
    table = pd.DataFrame(columns)
    table = table.sort_values([f"predicted_{label}", "genes"], ascending=[ascending, True], kind="mergesort")
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table.assign(
        environment=run.environment_name,
        objective=objective,
        confidence=confidence,
        mc_passes=used,
        model=run.config.model,
        run_dir=str(run.run_dir),
        simulated=run.simulated,
    ).reset_index(drop=True)


def _mean_finite(values: Sequence[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def design_plot(table: pd.DataFrame, path: str | Path, title: str, top: int = 10) -> Path:
    """Predicted fitness against predicted interaction for every candidate; the `top` ranked ones with their
    intervals as error bars, numbered, and listed beside the plot; genotypes measured in the run's data circled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    has_y = "predicted_interaction" in table
    y_name = "predicted_interaction" if has_y else "rank"
    best = table.nsmallest(top, "rank")
    fig, (ax, side) = plt.subplots(1, 2, figsize=(11.5, 5.8), dpi=110, gridspec_kw={"width_ratios": [2.2, 1]})
    ax.scatter(
        table["predicted_fitness"],
        table[y_name],
        s=10,
        color="#bbbbbb",
        linewidths=0,
        label=f"all {len(table)} candidates",
    )
    xerr = np.abs(
        np.vstack([best["predicted_fitness"] - best["fitness_low"], best["fitness_high"] - best["predicted_fitness"]])
    )
    yerr = None
    if has_y:
        yerr = np.abs(
            np.vstack(
                [
                    best["predicted_interaction"] - best["interaction_low"],
                    best["interaction_high"] - best["predicted_interaction"],
                ]
            )
        )
    ax.errorbar(
        best["predicted_fitness"],
        best[y_name],
        xerr=xerr,
        yerr=yerr,
        fmt="o",
        color="#cc3311",
        ecolor="#ee7733",
        elinewidth=0.7,
        alpha=0.8,
        capsize=2,
        markersize=4,
        label=f"top {len(best)} (numbered by rank)",
    )
    for _, row in best.iterrows():
        ax.annotate(
            str(row["rank"]),
            (row["predicted_fitness"], row[y_name]),
            fontsize=6.5,
            xytext=(3, 3),
            textcoords="offset points",
        )
    measured = table[table["in_dataset"]]
    if len(measured):
        ax.scatter(
            measured["predicted_fitness"],
            measured[y_name],
            s=40,
            facecolors="none",
            edgecolors="black",
            linewidths=0.7,
            label="measured in the run's data (* in the list)",
        )
    ax.set_xlabel("predicted fitness")
    ax.set_ylabel("predicted interaction" if has_y else "rank")
    confidence = float(table["confidence"].iloc[0]) if "confidence" in table and len(table) else 0.95
    ax.legend(fontsize=7, loc="best", title=f"error bars: {confidence:.0%} intervals", title_fontsize=7)
    lines = [f"{'rank genes':<{len(str(top)) + 26}} fitness [interval]" + ("  interaction" if has_y else "")]
    for _, row in best.iterrows():
        line = (
            f"{row['rank']:>{len(str(top))}} {row['standard_names']:<25.25} {row['predicted_fitness']:.2f} "
            f"[{row['fitness_low']:.2f}, {row['fitness_high']:.2f}]"
        )
        line += f"  {row['predicted_interaction']:+.3f}" if has_y else ""
        lines.append(line + (" *" if row["in_dataset"] else ""))
    side.axis("off")
    side.text(
        0.0, 1.0, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=6.3, transform=side.transAxes
    )
    fig.suptitle(textwrap.fill(title, 120), fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
