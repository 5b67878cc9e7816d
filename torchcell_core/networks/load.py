"""Load a resolved gene-network source (STRING, BioGRID, regulatory) into one edge table, as the measurement
loaders of `torchcell_core.sources.load` do: parse everything first, write atomically, return a summary with
the genes outside the genome and what the parse tolerated."""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

import pandas as pd

from torchcell_core.networks.biogrid import read_biogrid_tab3
from torchcell_core.networks.regulatory import read_regulatory_tsv
from torchcell_core.networks.string_db import read_string_detailed
from torchcell_core.sources.load import EDGES, quality_summary, write_parquet
from torchcell_core.sources.quality import DEFAULT_RULES, QualityReport, ValueRules
from torchcell_core.sources.registry import ResolvedSource


def _edge_summary(stats: dict, report: QualityReport) -> dict:
    merged = {"identical_rows_merged": stats["identical_rows_merged"]} if "identical_rows_merged" in stats else {}
    return {
        "unknown_genes": int(stats.get("genes_outside_genome_dropped", 0)),
        "unknown_gene_examples": list(stats.get("genes_outside_genome_examples", [])),
        **quality_summary(report, stats.get("duplicates_merged", 0)),
        **merged,
    }


def _load_edge_groups(
    source: ResolvedSource,
    out_dir: Path,
    group_column: str,
    read: Callable[[Path, QualityReport], tuple[dict[str, pd.DataFrame], dict]],
) -> dict:
    """One edge file read into named groups (STRING channels, BioGRID networks) and written as one edge table
    with the group in `group_column`; the summary counts edges per group."""
    (path,) = source.files.values()
    report = QualityReport()
    groups, stats = read(path, report)
    edges = pd.concat([frame.assign(**{group_column: name}) for name, frame in groups.items()], ignore_index=True)
    write_parquet(edges.assign(simulated=source.simulated), out_dir / EDGES)
    genes = pd.concat([edges["gene_a"], edges["gene_b"]])
    return {
        "rows": len(edges),
        "outputs": {EDGES: len(edges)},
        f"edges_per_{group_column}": {name: len(frame) for name, frame in groups.items()},
        "genes": int(genes.nunique()),
        **_edge_summary(stats, report),
    }


def load_string(
    source: ResolvedSource, out_dir: Path, genome_genes: Collection[str], rules: ValueRules = DEFAULT_RULES
) -> dict:
    """A STRING detailed-links file → one edge table, one row per edge and channel."""
    return _load_edge_groups(
        source,
        out_dir,
        "channel",
        lambda path, report: read_string_detailed(
            path, genome_genes, version=source.entry.version, rules=rules, report=report
        ),
    )


def load_biogrid(
    source: ResolvedSource, out_dir: Path, genome_genes: Collection[str], rules: ValueRules = DEFAULT_RULES
) -> dict:
    """A BioGRID TAB3 file → one edge table, one row per edge and network (physical, genetic)."""
    return _load_edge_groups(
        source,
        out_dir,
        "network",
        lambda path, report: read_biogrid_tab3(path, genome_genes, rules=rules, report=report),
    )


def load_regulatory(
    source: ResolvedSource, out_dir: Path, genome_genes: Collection[str], rules: ValueRules = DEFAULT_RULES
) -> dict:
    (path,) = source.files.values()
    report = QualityReport()
    edges, stats = read_regulatory_tsv(path, genome_genes, rules=rules, report=report)
    write_parquet(edges.assign(simulated=source.simulated), out_dir / EDGES)
    genes = pd.concat([edges["regulator"], edges["target"]])
    return {
        "rows": len(edges),
        "outputs": {EDGES: len(edges)},
        "regulators": int(edges["regulator"].nunique()),
        "genes": int(genes.nunique()),
        **_edge_summary(stats, report),
    }
