"""Checks on curated datasets; each can fail."""

import dagster as dg
import pandas as pd

from torchcell_assets.defs.datasets.assets import DIGENIC_PARQUET, digenic_interactions
from torchcell_assets.defs.sources.paths import GENOME_PARQUET
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.genome.gene_table import unknown_genes

NO_DUPLICATE_PAIRS = "no_duplicate_pairs"
DATASET_GENES_IN_GENOME = "genes_in_genome"
EPSILON_RANGE = "epsilon_range"


def _dataset(storage: TorchcellStorage) -> pd.DataFrame:
    return pd.read_parquet(storage.path(*DIGENIC_PARQUET))


@dg.asset_check(asset=digenic_interactions, name=NO_DUPLICATE_PAIRS, blocking=True)
def no_duplicate_pairs(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Each unordered gene pair appears once, stored as gene_a < gene_b."""
    data = _dataset(storage)
    duplicates = int(data.duplicated(["gene_a", "gene_b"]).sum())
    unordered = int((data["gene_a"] >= data["gene_b"]).sum())
    return dg.AssetCheckResult(
        passed=duplicates == 0 and unordered == 0,
        metadata={"duplicate_pairs": duplicates, "pairs_not_ordered": unordered},
    )


@dg.asset_check(asset=digenic_interactions, name=DATASET_GENES_IN_GENOME)
def dataset_genes_in_genome(storage: TorchcellStorage) -> dg.AssetCheckResult:
    data = _dataset(storage)
    genome = pd.read_parquet(storage.path(*GENOME_PARQUET), columns=["systematic_name"])
    missing = unknown_genes(pd.concat([data["gene_a"], data["gene_b"]]).unique(), genome["systematic_name"])
    return dg.AssetCheckResult(
        passed=not missing, metadata={"unknown_genes": len(missing), "examples": ", ".join(missing[:10])}
    )


@dg.asset_check(asset=digenic_interactions, name=EPSILON_RANGE)
def epsilon_range(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """ε lies within [-1, 1] and fitness values are non-negative."""
    data = _dataset(storage)
    bad = int(((data["epsilon"].abs() > 1) | (data["dmf"] < 0) | (data["smf_a"] < 0) | (data["smf_b"] < 0)).sum())
    return dg.AssetCheckResult(
        passed=bad == 0,
        metadata={
            "rows_out_of_range": bad,
            "epsilon_min": float(data["epsilon"].min()),
            "epsilon_max": float(data["epsilon"].max()),
        },
    )
