"""Checks on the sources; each can fail on real defects of the data.

A missing, unreadable or empty output is a failed check (saying why), never an error. The checks on what the
graph and datasets are built from are blocking: when one fails, nothing downstream runs in that run.
"""

import json
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from torchcell_assets.defs.sources.genome import go_dag, s288c_genome
from torchcell_assets.defs.sources.paths import (
    GENOME_PARQUET,
    GO_TERMS,
    PROVENANCE,
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


def failed(reason: str, **metadata: object) -> dg.AssetCheckResult:
    """A failed result whose metadata says why (e.g. a missing or empty output)."""
    return dg.AssetCheckResult(passed=False, metadata={"reason": reason, **metadata})


def parquet_problem(path: Path) -> str | None:
    """Why the Parquet file at `path` cannot be checked ("missing: …", "unreadable: …", "no rows: …"), or None."""
    if not path.is_file():
        return f"missing: {path}"
    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    except (OSError, pa.ArrowException) as error:
        return f"unreadable: {path}: {error}"
    return f"no rows: {path}" if rows == 0 else None


def _problem(*paths: Path) -> dg.AssetCheckResult | None:
    """A failed result for the first of `paths` that cannot be checked, or None when all can."""
    reasons = [reason for reason in map(parquet_problem, paths) if reason]
    return failed(reasons[0]) if reasons else None


def _genome(storage: TorchcellStorage) -> Path:
    return storage.root().joinpath(*GENOME_PARQUET)


@dg.asset_check(asset=s288c_genome, name=GENOME_COMPLETE, blocking=True)
def genome_complete(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """16 nuclear chromosomes, 6,000–7,000 uniquely named genes, most with a protein."""
    if problem := _problem(_genome(storage)):
        return problem
    genes = pd.read_parquet(_genome(storage), columns=["systematic_name", "chromosome", "protein_length"])
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


@dg.asset_check(asset=go_dag, name=GO_TERMS_LARGE_ENOUGH, blocking=True)
def go_terms_large_enough(context: dg.AssetCheckExecutionContext, storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Every kept GO term has at least the configured minimum of genes (after propagation)."""
    if problem := _problem(storage.root().joinpath(*GO_TERMS)):
        return problem
    terms = pd.read_parquet(storage.root().joinpath(*GO_TERMS), columns=["go_id", "n_genes"])
    smallest = int(terms["n_genes"].min()) if len(terms) else 0
    return dg.AssetCheckResult(
        passed=len(terms) > 0 and smallest >= 1, metadata={"terms": len(terms), "smallest": smallest}
    )


def _digest_check(asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    key = asset.key.to_user_string()

    @dg.asset_check(
        asset=asset,
        name=FILES_MATCH_DIGESTS,
        blocking=True,
        description="Source files still match their recorded sha256.",
    )
    def _check(storage: TorchcellStorage) -> dg.AssetCheckResult:
        if not (source_output_dir(storage, key) / PROVENANCE).is_file():
            return failed(f"missing: {source_output_dir(storage, key) / PROVENANCE}")
        provenance = read_provenance(storage, key)
        if not provenance["files"]:
            return failed("no files recorded in provenance.json")
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


def _costanzo_records(storage: TorchcellStorage) -> Path:
    return source_output_dir(storage, costanzo2016.key.to_user_string()) / RECORDS


@dg.asset_check(asset=costanzo2016, name=EPSILON_CONSISTENCY, blocking=True)
def epsilon_consistency(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """At least 99% of rows satisfy |ε − (f_ab − f_a·f_b)| ≤ 0.005."""
    if problem := _problem(_costanzo_records(storage)):
        return problem
    fraction, max_residual = duckdb.execute(
        """
        SELECT avg((abs(epsilon - (dmf - query_smf * array_smf)) <= $tolerance)::DOUBLE),
               max(abs(epsilon - (dmf - query_smf * array_smf)))
        FROM read_parquet($path)
        """,
        {"path": str(_costanzo_records(storage)), "tolerance": EPSILON_TOLERANCE},
    ).fetchone()
    if fraction is None:
        return failed("no rows with ε and all three fitness values")
    return dg.AssetCheckResult(
        passed=fraction >= MIN_CONSISTENT_FRACTION,
        metadata={"consistent_fraction": fraction, "max_residual": float(max_residual), "tolerance": EPSILON_TOLERANCE},
    )


@dg.asset_check(asset=costanzo2016, name=RECORD_GENES_IN_GENOME, blocking=True)
def record_genes_in_genome(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Every query and array gene is a systematic name of the S288C genome."""
    if problem := _problem(_costanzo_records(storage), _genome(storage)):
        return problem
    genes = duckdb.execute(
        "SELECT query_gene FROM read_parquet($path) UNION SELECT array_gene FROM read_parquet($path)",
        {"path": str(_costanzo_records(storage))},
    ).fetchall()
    genome = pd.read_parquet(_genome(storage), columns=["systematic_name"])
    missing = unknown_genes((g for (g,) in genes), genome["systematic_name"])
    return dg.AssetCheckResult(
        passed=not missing, metadata={"unknown_genes": len(missing), "examples": ", ".join(missing[:10])}
    )


def _raw_score_check(asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    key = asset.key.to_user_string()

    @dg.asset_check(
        asset=asset,
        name=RAW_SCORE_CONSISTENCY,
        blocking=True,
        description="Raw score = combined − query·array fitness.",
    )
    def _check(storage: TorchcellStorage) -> dg.AssetCheckResult:
        if problem := _problem(source_output_dir(storage, key) / RECORDS):
            return problem
        frame = pd.read_parquet(source_output_dir(storage, key) / RECORDS)
        result = score_consistency(frame, tolerance=EPSILON_TOLERANCE)
        metadata = {k: v for k, v in result.items() if not isinstance(v, dict)}
        if result["checked"] == 0:
            return failed("no row has a raw score and all three fitness values", **metadata)
        return dg.AssetCheckResult(passed=bool(result["fraction_within"] >= MIN_CONSISTENT_FRACTION), metadata=metadata)

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
    if not rows:
        return failed(f"no replicate correlations in {storage.root() / 'simulated'}/*/SIMULATED.json")
    passed = all(abs(r["achieved"] - r["target"]) <= 0.06 for r in rows.values())
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
