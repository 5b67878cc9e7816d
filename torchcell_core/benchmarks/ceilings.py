"""Noise ceilings of the simulated screens: how well a prediction could correlate with the measured
interactions on a test fold, set beside the trained models in the benchmark table.

Two ceilings per dataset and split, computed from the simulator's ground truth (`torchcell_core.simulate`):
- `measurement`: Pearson(measured, true interaction), the truth as prediction through the screen's noise;
- `oracle`: Pearson(measured, oracle), where the oracle is the measured score without the row's own colony
  noise. For ε that is the true ε. For τ it also carries the errors of the measured digenic controls
  (ε_ik, ε_jk), which every row of that gene and array shares and a model can therefore learn. What is left,
  the row's own noise, is independent of everything a model sees, so no predictor's expected Pearson can
  exceed this ceiling: a model above it with a CI that excludes it means a leak or a bug (the benchmark's
  `no_model_above_the_oracle` check).
Real screens have neither; the benchmark then shows no ceiling rows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from torchcell_core.evaluation.metrics import pearson_or_nan
from torchcell_core.simulate.kuzmin import TRUTH_MEASUREMENTS
from torchcell_core.simulate.world import World

CEILINGS = ("measurement", "oracle")
# Released file → the dataset id it is loaded as (see torchcell_core.sources.registry).
MEASUREMENT_DATASETS = {
    "aao1729_data_s1.tsv": "kuzmin2018",
    "aaz5667-Table-S1.xlsx": "kuzmin2020",
    "aaz5667-Table-S3.xlsx": "kuzmin2020",
}


def read_measurements(kuzmin_dir: str | Path) -> pd.DataFrame | None:
    """The simulated Kuzmin release's per-measurement truth, or None where it is absent (real files)."""
    path = Path(kuzmin_dir) / TRUTH_MEASUREMENTS
    return pd.read_parquet(path) if path.is_file() else None


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


def oracle_interactions(
    world: World,
    genotypes: list[list[str]],
    source_datasets: Sequence[Sequence[str]],
    measurements: pd.DataFrame | None,
) -> np.ndarray:
    """Per genotype: the true ε for pairs; for triples the mean `tau_oracle` of its simulated measurements
    (`truth_kuzmin_measurements.parquet`) in the row's source datasets (NaN where none is known)."""
    oracle = true_interactions(world, genotypes)
    triples = [r for r, genes in enumerate(genotypes) if len(genes) == 3]
    oracle[triples] = np.nan
    if measurements is None or not triples:
        return oracle
    frame = measurements.assign(dataset=measurements["source_file"].map(MEASUREMENT_DATASETS))
    measured = zip(frame["query_gene_1"], frame["query_gene_2"], frame["array_gene"], strict=True)
    frame["genotype"] = ["+".join(sorted(g)) for g in measured]
    means = frame.groupby(["genotype", "dataset"], as_index=False)["tau_oracle"].agg(["sum", "count"])
    wanted = pd.DataFrame(
        {
            "row": triples,
            "genotype": ["+".join(sorted(genotypes[r])) for r in triples],
            "dataset": [list(source_datasets[r]) for r in triples],
        }
    ).explode("dataset")
    found = wanted.merge(means, on=["genotype", "dataset"]).groupby("row")[["sum", "count"]].sum()
    oracle[found.index.to_numpy()] = (found["sum"] / found["count"]).to_numpy()
    return oracle


def interaction_ceilings(
    world: World,
    dataset: pd.DataFrame,
    split: str = "split_random",
    fold: str = "test",
    measurements: pd.DataFrame | None = None,
) -> dict:
    """{ceiling name: Pearson on `fold`} for the dataset's `interaction` column, plus `n` (rows compared)."""
    rows = dataset[(dataset[split] == fold) & dataset["interaction"].notna()]
    genotypes = [list(genes) for genes in rows["genes"]]
    sources = [list(s) for s in rows["source_datasets"]] if "source_datasets" in rows else [[]] * len(rows)
    measured = rows["interaction"].to_numpy(dtype=float)
    truth = true_interactions(world, genotypes)
    oracle = oracle_interactions(world, genotypes, sources, measurements)
    return {
        "measurement": pearson_or_nan(measured, truth),
        "oracle": pearson_or_nan(measured, oracle),
        "n": int(np.isfinite(truth).sum()),
    }


def ceiling_rows(
    world: World,
    dataset: pd.DataFrame,
    name: str,
    splits: Sequence[str] = ("split_random",),
    measurements: pd.DataFrame | None = None,
) -> list[dict]:
    """Benchmark-table rows (family `ceiling`, target `interaction`) for one curated dataset, per split."""
    rows = []
    for split in splits:
        ceilings = interaction_ceilings(world, dataset, split, measurements=measurements)
        rows += [
            {
                "model": f"{kind}_ceiling",
                "family": "ceiling",
                "dataset": name,
                "split_type": split,
                "target": "interaction",
                "n": ceilings["n"],
                "pearson": ceilings[kind],
            }
            for kind in CEILINGS
        ]
    return rows
