"""Checks on parsed sources; each can fail on real defects of the data."""


import dagster as dg
import numpy as np
import pandas as pd

from torchcell_assets.defs.sources.assets import costanzo2016_records
from torchcell_assets.defs.sources.paths import COSTANZO_RECORDS, GENOME_PARQUET
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.genome.gene_table import unknown_genes

EPSILON_CONSISTENCY = "epsilon_consistency"
RECORD_GENES_IN_GENOME = "genes_in_genome"
# ε = f_ab − f_a·f_b is how the release defines the score; the released values are rounded.
EPSILON_TOLERANCE = 0.005
MIN_CONSISTENT_FRACTION = 0.99


@dg.asset_check(asset=costanzo2016_records, name=EPSILON_CONSISTENCY)
def epsilon_consistency(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """At least 99% of rows satisfy |ε − (f_ab − f_a·f_b)| ≤ 0.005."""
    records = pd.read_parquet(storage.path(*COSTANZO_RECORDS), columns=["epsilon", "dmf", "query_smf", "array_smf"])
    residual = np.abs(records["epsilon"] - (records["dmf"] - records["query_smf"] * records["array_smf"]))
    fraction = float((residual <= EPSILON_TOLERANCE).mean())
    return dg.AssetCheckResult(
        passed=fraction >= MIN_CONSISTENT_FRACTION,
        metadata={
            "consistent_fraction": fraction,
            "max_residual": float(residual.max()),
            "tolerance": EPSILON_TOLERANCE,
        },
    )


@dg.asset_check(asset=costanzo2016_records, name=RECORD_GENES_IN_GENOME)
def record_genes_in_genome(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Every query and array gene is a systematic name of the S288C genome."""
    records = pd.read_parquet(storage.path(*COSTANZO_RECORDS), columns=["query_gene", "array_gene"])
    genome = pd.read_parquet(storage.path(*GENOME_PARQUET), columns=["systematic_name"])
    missing = unknown_genes(pd.concat([records["query_gene"], records["array_gene"]]).unique(), genome["systematic_name"])
    return dg.AssetCheckResult(
        passed=not missing, metadata={"unknown_genes": len(missing), "examples": ", ".join(missing[:10])}
    )
