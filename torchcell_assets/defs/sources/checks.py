"""Checks on parsed sources; each can fail on real defects of the data."""

import json
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from torchcell_assets.defs.sources.assets import (
    costanzo2016_raw_files,
    costanzo2016_records,
    s288c_genome,
)
from torchcell_assets.defs.sources.paths import COSTANZO_CURRENT, COSTANZO_RECORDS, GENOME_PARQUET
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.genome.gene_table import unknown_genes
from torchcell_core.hashing import file_sha256

GENOME_COMPLETE = "genome_complete"
RAW_FILES_MATCH_DIGESTS = "raw_files_match_digests"
EPSILON_CONSISTENCY = "epsilon_consistency"
RECORD_GENES_IN_GENOME = "genes_in_genome"
# ε = f_ab − f_a·f_b is how the release defines the score; the released values are rounded.
EPSILON_TOLERANCE = 0.005
MIN_CONSISTENT_FRACTION = 0.99


@dg.asset_check(asset=s288c_genome, name=GENOME_COMPLETE, blocking=True)
def genome_complete(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """16 nuclear chromosomes, 6,000–7,000 uniquely named genes, most with a protein."""
    genes = pd.read_parquet(storage.path(*GENOME_PARQUET), columns=["systematic_name", "chromosome", "protein_length"])
    chromosomes = sorted(int(c) for c in genes["chromosome"].unique())
    with_protein = float(genes["protein_length"].notna().mean())
    passed = (
        chromosomes == list(range(1, 17))
        and 6000 <= len(genes) <= 7000
        and genes["systematic_name"].is_unique
        and with_protein > 0.9
    )
    return dg.AssetCheckResult(
        passed=bool(passed),
        metadata={"genes": len(genes), "chromosomes": len(chromosomes), "fraction_with_protein": with_protein},
    )


@dg.asset_check(asset=costanzo2016_raw_files, name=RAW_FILES_MATCH_DIGESTS)
def raw_files_match_digests(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """The files on disk still have the sha256 digests recorded when they were materialized."""
    current = json.loads(storage.path(*COSTANZO_CURRENT).read_text())
    directory = Path(current["directory"])
    changed = [
        name
        for name, digest in current["sha256"].items()
        if not (directory / name).is_file() or file_sha256(directory / name) != digest
    ]
    return dg.AssetCheckResult(
        passed=not changed, metadata={"files": len(current["sha256"]), "changed_or_missing": ", ".join(changed)}
    )


@dg.asset_check(asset=costanzo2016_records, name=EPSILON_CONSISTENCY)
def epsilon_consistency(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """At least 99% of rows satisfy |ε − (f_ab − f_a·f_b)| ≤ 0.005."""
    fraction, max_residual = duckdb.execute(
        """
        SELECT avg((abs(epsilon - (dmf - query_smf * array_smf)) <= $tolerance)::DOUBLE),
               max(abs(epsilon - (dmf - query_smf * array_smf)))
        FROM read_parquet($path)
        """,
        parameters={"path": str(storage.path(*COSTANZO_RECORDS)), "tolerance": EPSILON_TOLERANCE},
    ).fetchone()
    return dg.AssetCheckResult(
        passed=fraction >= MIN_CONSISTENT_FRACTION,
        metadata={
            "consistent_fraction": fraction,
            "max_residual": float(max_residual),
            "tolerance": EPSILON_TOLERANCE,
        },
    )


@dg.asset_check(asset=costanzo2016_records, name=RECORD_GENES_IN_GENOME)
def record_genes_in_genome(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Every query and array gene is a systematic name of the S288C genome."""
    genes = duckdb.execute(
        "SELECT query_gene FROM read_parquet($path) UNION SELECT array_gene FROM read_parquet($path)",
        parameters={"path": str(storage.path(*COSTANZO_RECORDS))},
    ).fetchall()
    genome = pd.read_parquet(storage.path(*GENOME_PARQUET), columns=["systematic_name"])
    missing = unknown_genes((g for (g,) in genes), genome["systematic_name"])
    return dg.AssetCheckResult(
        passed=not missing, metadata={"unknown_genes": len(missing), "examples": ", ".join(missing[:10])}
    )
