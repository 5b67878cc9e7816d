"""Checks on the sources; each can fail on real defects of the data."""

import json

import dagster as dg
import duckdb
import pandas as pd

from torchcell_assets.defs.sources.genome import go_dag, s288c_genome
from torchcell_assets.defs.sources.paths import (
    COSTANZO_RECORDS,
    GENOME_PARQUET,
    GO_TERMS,
    read_provenance,
    source_output_dir,
)
from torchcell_assets.defs.sources.releases import SOURCE_ASSETS, costanzo2016, kuzmin2018, kuzmin2020
from torchcell_assets.defs.sources.simulation import simulated_release
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.genome.gene_table import unknown_genes
from torchcell_core.hashing import file_sha256
from torchcell_core.sources.load import RECORDS
from torchcell_core.sources.trigenic import score_consistency

GENOME_COMPLETE = "genome_complete"
GO_TERMS_LARGE_ENOUGH = "terms_have_min_genes"
FILES_MATCH_DIGESTS = "files_match_digests"
EPSILON_CONSISTENCY = "epsilon_consistency"
RECORD_GENES_IN_GENOME = "genes_in_genome"
RAW_SCORE_CONSISTENCY = "raw_score_consistency"
NOISE_CALIBRATED = "noise_calibrated"
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


@dg.asset_check(asset=go_dag, name=GO_TERMS_LARGE_ENOUGH)
def go_terms_large_enough(context: dg.AssetCheckExecutionContext, storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Every kept GO term has at least the configured minimum of genes (after propagation)."""
    terms = pd.read_parquet(storage.path(*GO_TERMS), columns=["go_id", "n_genes"])
    smallest = int(terms["n_genes"].min()) if len(terms) else 0
    return dg.AssetCheckResult(
        passed=len(terms) > 0 and smallest >= 1, metadata={"terms": len(terms), "smallest": smallest}
    )


def _digest_check(asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    key = asset.key.to_user_string()

    @dg.asset_check(
        asset=asset, name=FILES_MATCH_DIGESTS, description="Source files still match their recorded sha256."
    )
    def _check(storage: TorchcellStorage) -> dg.AssetCheckResult:
        provenance = read_provenance(storage, key)
        changed = [
            name
            for name, path in provenance["files"].items()
            if not pd.io.common.file_exists(path) or file_sha256(path) != provenance["sha256"][name]
        ]
        return dg.AssetCheckResult(
            passed=not changed,
            metadata={"files": len(provenance["files"]), "changed_or_missing": ", ".join(changed)},
        )

    return _check


DIGEST_CHECKS = [_digest_check(asset) for asset in SOURCE_ASSETS]


@dg.asset_check(asset=costanzo2016, name=EPSILON_CONSISTENCY)
def epsilon_consistency(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """At least 99% of rows satisfy |ε − (f_ab − f_a·f_b)| ≤ 0.005."""
    fraction, max_residual = duckdb.execute(
        """
        SELECT avg((abs(epsilon - (dmf - query_smf * array_smf)) <= $tolerance)::DOUBLE),
               max(abs(epsilon - (dmf - query_smf * array_smf)))
        FROM read_parquet($path)
        """,
        {"path": str(storage.path(*COSTANZO_RECORDS)), "tolerance": EPSILON_TOLERANCE},
    ).fetchone()
    return dg.AssetCheckResult(
        passed=fraction >= MIN_CONSISTENT_FRACTION,
        metadata={"consistent_fraction": fraction, "max_residual": float(max_residual), "tolerance": EPSILON_TOLERANCE},
    )


@dg.asset_check(asset=costanzo2016, name=RECORD_GENES_IN_GENOME)
def record_genes_in_genome(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Every query and array gene is a systematic name of the S288C genome."""
    genes = duckdb.execute(
        "SELECT query_gene FROM read_parquet($path) UNION SELECT array_gene FROM read_parquet($path)",
        {"path": str(storage.path(*COSTANZO_RECORDS))},
    ).fetchall()
    genome = pd.read_parquet(storage.path(*GENOME_PARQUET), columns=["systematic_name"])
    missing = unknown_genes((g for (g,) in genes), genome["systematic_name"])
    return dg.AssetCheckResult(
        passed=not missing, metadata={"unknown_genes": len(missing), "examples": ", ".join(missing[:10])}
    )


def _raw_score_check(asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    key = asset.key.to_user_string()

    @dg.asset_check(asset=asset, name=RAW_SCORE_CONSISTENCY, description="Raw score = combined − query·array fitness.")
    def _check(storage: TorchcellStorage) -> dg.AssetCheckResult:
        frame = pd.read_parquet(source_output_dir(storage, key) / RECORDS)
        result = score_consistency(frame, tolerance=EPSILON_TOLERANCE)
        passed = result["checked"] > 0 and result["fraction_within"] >= MIN_CONSISTENT_FRACTION
        return dg.AssetCheckResult(
            passed=bool(passed),
            metadata={k: v for k, v in result.items() if not isinstance(v, dict)},
        )

    return _check


RAW_SCORE_CHECKS = [_raw_score_check(kuzmin2018), _raw_score_check(kuzmin2020)]


@dg.asset_check(asset=simulated_release, name=NOISE_CALIBRATED)
def noise_calibrated(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Each simulated screen's replicate correlation is within 0.06 of its published target
    (0.88 for ε, 0.59 for τ)."""
    rows = {}
    for manifest_path in sorted((storage.root() / "simulated").glob("*/SIMULATED.json")):
        for name, target, achieved in replicate_correlations(json.loads(manifest_path.read_text())):
            rows[f"{manifest_path.parent.name}:{name}"] = {"target": target, "achieved": round(achieved, 3)}
    passed = bool(rows) and all(abs(r["achieved"] - r["target"]) <= 0.06 for r in rows.values())
    return dg.AssetCheckResult(passed=passed, metadata={"replicate_correlations": dg.MetadataValue.json(rows)})


def replicate_correlations(manifest: dict) -> list[tuple[str, float, float]]:
    """(name, target, achieved) for every replicate correlation a simulator's manifest reports."""
    noise = manifest.get("noise", {})
    if "target_replicate_r" in noise:  # Costanzo: one figure for the whole release
        return [("epsilon", noise["target_replicate_r"], noise["replicate_r_achieved"])]
    targets = manifest.get("noise_targets", {})  # Kuzmin: ε and τ per file
    return [
        (f"{file}:{score}", targets[f"{score}_replicate_r"], figures[f"{score}_replicate_r_achieved"])
        for file, figures in noise.items()
        for score in ("epsilon", "tau")
        if f"{score}_replicate_r_achieved" in figures and f"{score}_replicate_r" in targets
    ]
