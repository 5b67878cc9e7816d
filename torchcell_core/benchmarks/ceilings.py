"""Noise ceilings of the simulated screens: how well the best possible model could correlate with the
measured interactions on the test fold, to set beside the trained models in the benchmark table.

Two ceilings per dataset, computed from the simulator's ground truth (`torchcell_core.simulate.world`):
- `measurement`: Pearson(measured, true interaction): what a perfect oracle reaches through the screen noise;
- `gene_predictable`: Pearson(measured, true interaction without the sparse pair/triple-specific background):
  the part a model of the genes' properties can learn at best (the background is by construction a hash of
  the genotype, so no gene feature or network carries it).
Real screens have neither; the benchmark then shows no ceiling rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from torchcell_core.simulate.world import World

CEILINGS = ("measurement", "gene_predictable")


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3 or np.std(x[keep]) == 0 or np.std(y[keep]) == 0:
        return float("nan")
    return float(np.corrcoef(x[keep], y[keep])[0, 1])


def true_interactions(world: World, genotypes: list[list[str]], background: bool = True) -> np.ndarray:
    """The simulator's true ε (2 genes) or τ (3 genes) per genotype, NaN for other sizes or unknown genes."""
    truth = np.full(len(genotypes), np.nan)
    for size in (2, 3):
        rows = [r for r, genes in enumerate(genotypes) if len(genes) == size and all(g in world.index for g in genes)]
        if not rows:
            continue
        idx = np.array([[world.index[g] for g in genotypes[r]] for r in rows])
        columns = [idx[:, c] for c in range(size)]
        values = (
            world.epsilon_pairs(*columns, background=background)
            if size == 2
            else world.tau(*columns, background=background)
        )
        truth[rows] = values
    return truth


def interaction_ceilings(world: World, dataset: pd.DataFrame, split: str = "split_random", fold: str = "test") -> dict:
    """{ceiling name: Pearson on `fold`} for the dataset's `interaction` column, plus `n` (rows compared)."""
    rows = dataset[(dataset[split] == fold) & dataset["interaction"].notna()]
    genotypes = [list(genes) for genes in rows["genes"]]
    measured = rows["interaction"].to_numpy(dtype=float)
    truth = true_interactions(world, genotypes)
    structured = true_interactions(world, genotypes, background=False)
    return {"measurement": _pearson(measured, truth), "gene_predictable": _pearson(measured, structured),
            "n": int(np.isfinite(truth).sum())}  # fmt: skip


def ceiling_rows(world: World, dataset: pd.DataFrame, name: str, split: str = "split_random") -> list[dict]:
    """Benchmark-table rows (family `ceiling`, target `interaction`) for one curated dataset."""
    ceilings = interaction_ceilings(world, dataset, split)
    return [{"model": f"{kind}_ceiling", "family": "ceiling", "dataset": name, "split_type": split,
             "target": "interaction", "n": ceilings["n"], "pearson": ceilings[kind]} for kind in CEILINGS]  # fmt: skip
