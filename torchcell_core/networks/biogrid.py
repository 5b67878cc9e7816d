"""BioGRID TAB3 interaction files, parsed as published, into physical and genetic gene graphs.

Files: `BIOGRID-ORGANISM-Saccharomyces_cerevisiae_S288c-<version>.tab3.txt` or
`BIOGRID-ALL-<version>.tab3.txt` (unzipped). Tab-separated, UTF-8, one header line starting
`#BioGRID Interaction ID` with the 37 TAB3 columns below; a missing value is `-`.

Only rows whose two organism ids are 559292 (S. cerevisiae S288C) are used. They are split
by `Experimental System Type` (physical / genetic) into two undirected edge tables: each
unordered gene pair once (gene_a < gene_b), weight = number of supporting records, the
distinct experimental systems (sorted, `|`-joined) and the number of distinct publications.

Rules: a pair reported by several records (other experiments, other papers, either orientation)
is legitimate evidence, merged into one edge and counted in `duplicates_merged`. A record is
identified by its `#BioGRID Interaction ID`, which is unique in a release: an id on two lines is
refused (`DuplicateRowError` naming both), as is a header with no rows.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from torchcell_core.errors import DuplicateRowError, SourceFormatError
from torchcell_core.networks.edges import (
    check_field_counts_stream,
    count_rows,
    drop_outside_genome,
    drop_self_loops,
    encode_genes,
    first_bad_row,
    first_repeat,
    group_rows,
    new_stats,
    read_first_line,
    undirected,
)
from torchcell_core.sources.quality import DEFAULT_RULES, QualityReport, ValueRules
from torchcell_core.sources.validation import check_header, require_rows

BIOGRID_COLUMNS = (
    "#BioGRID Interaction ID",
    "Entrez Gene Interactor A",
    "Entrez Gene Interactor B",
    "BioGRID ID Interactor A",
    "BioGRID ID Interactor B",
    "Systematic Name Interactor A",
    "Systematic Name Interactor B",
    "Official Symbol Interactor A",
    "Official Symbol Interactor B",
    "Synonyms Interactor A",
    "Synonyms Interactor B",
    "Experimental System",
    "Experimental System Type",
    "Author",
    "Publication Source",
    "Organism ID Interactor A",
    "Organism ID Interactor B",
    "Throughput",
    "Score",
    "Modification",
    "Qualifications",
    "Tags",
    "Source Database",
    "SWISS-PROT Accessions Interactor A",
    "TREMBL Accessions Interactor A",
    "REFSEQ Accessions Interactor A",
    "SWISS-PROT Accessions Interactor B",
    "TREMBL Accessions Interactor B",
    "REFSEQ Accessions Interactor B",
    "Ontology Term IDs",
    "Ontology Term Names",
    "Ontology Term Categories",
    "Ontology Term Qualifier IDs",
    "Ontology Term Qualifier Names",
    "Ontology Term Types",
    "Organism Name Interactor A",
    "Organism Name Interactor B",
)
SYSTEMATIC_A, SYSTEMATIC_B = "Systematic Name Interactor A", "Systematic Name Interactor B"
ORGANISM_A, ORGANISM_B = "Organism ID Interactor A", "Organism ID Interactor B"
SYSTEM, SYSTEM_TYPE, PUBLICATION = "Experimental System", "Experimental System Type", "Publication Source"
INTERACTION_ID = "#BioGRID Interaction ID"
YEAST_S288C_TAXON = 559292
SYSTEM_TYPES = ("physical", "genetic")
MISSING = "-"
_USED_COLUMNS = (INTERACTION_ID, SYSTEMATIC_A, SYSTEMATIC_B, SYSTEM, SYSTEM_TYPE, PUBLICATION, ORGANISM_A, ORGANISM_B)
_VERSION_IN_NAME = re.compile(r"-(\d+\.\d+\.\d+)\.tab3")


def biogrid_version(path: str | Path) -> str | None:
    """The release (e.g. '4.4.240') in a BioGRID file name, or None if the name has none."""
    match = _VERSION_IN_NAME.search(Path(path).name)
    return match.group(1) if match else None


def read_biogrid_tab3(
    path: str | Path,
    genome_genes: Collection[str] | None = None,
    chunk_rows: int = 1_000_000,
    *,
    rules: ValueRules = DEFAULT_RULES,
    report: QualityReport | None = None,
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """'physical' and 'genetic' -> undirected edge table (gene_a, gene_b, weight,
    experimental_systems, n_publications) of S288C-S288C records, and the parse stats.

    No column used here is numeric, so `rules` drops nothing; `report` counts the rows read."""
    path = Path(path)
    with open(path, "rb") as handle:
        check_header(path, read_first_line(handle, path).split("\t"), BIOGRID_COLUMNS)
        require_rows(path, check_field_counts_stream(handle, path, len(BIOGRID_COLUMNS), b"\t"))
    reader = pd.read_csv(
        path,
        sep="\t",
        header=0,
        names=list(BIOGRID_COLUMNS),
        usecols=list(_USED_COLUMNS),
        dtype=str,
        keep_default_na=False,
        quoting=csv.QUOTE_NONE,
        chunksize=chunk_rows,
        encoding="utf-8",
        encoding_errors="replace",
        engine="c",
    )
    counts = {"rows_read": 0, "rows_other_organism": 0, "rows_missing_systematic_name": 0}
    parts, ids = [], []
    first_line = 2
    for chunk in reader:
        chunk.index = pd.RangeIndex(first_line, first_line + len(chunk))
        first_line += len(chunk)
        ids.append(_interaction_ids(path, chunk))
        parts.append(_yeast_rows(path, chunk, counts))
    records = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(_USED_COLUMNS))
    _check_unique_ids(path, np.concatenate(ids))
    count_rows(report, counts["rows_read"])

    stats = new_stats(counts.pop("rows_read"))
    stats.update(counts, file=path.name, version=biogrid_version(path))
    names, gene_a, gene_b = encode_genes(records[SYSTEMATIC_A].to_numpy(), records[SYSTEMATIC_B].to_numpy())
    keep = drop_outside_genome(names, gene_a, gene_b, genome_genes, stats)
    keep[keep] = drop_self_loops(gene_a[keep], gene_b[keep], stats)
    system_type = records[SYSTEM_TYPE].to_numpy()
    tables = {}
    for kind in SYSTEM_TYPES:
        rows = keep & (system_type == kind)
        tables[kind] = _edges(names, gene_a[rows], gene_b[rows], records.loc[rows], stats)
        stats["edges_kept"][kind] = len(tables[kind])
    return tables, stats


def _interaction_ids(path: Path, chunk: pd.DataFrame) -> np.ndarray:
    """The chunk's `#BioGRID Interaction ID`s as int64; raises on one that is not a whole number."""
    text = chunk[INTERACTION_ID]
    bad = ~text.str.fullmatch(r"[0-9]{1,18}").to_numpy(dtype=bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise SourceFormatError(
            path, f"interaction id {text.iloc[row]!r} is not a whole number", int(chunk.index[row]), INTERACTION_ID
        )
    return pd.to_numeric(text).to_numpy(dtype=np.int64)


def _check_unique_ids(path: Path, ids: np.ndarray) -> None:
    """Raise `DuplicateRowError` when one interaction id is on two lines (ids are in file order, from line 2)."""
    repeat = first_repeat(ids)
    if repeat is not None:
        row, earlier = repeat
        raise DuplicateRowError(path, row + 2, path, earlier + 2, (INTERACTION_ID,), (str(ids[row]),))


def _yeast_rows(path: Path, chunk: pd.DataFrame, counts: dict[str, int]) -> pd.DataFrame:
    """Validate one chunk; return its S288C-S288C rows that have both systematic names."""
    problems = []
    for column in (ORGANISM_A, ORGANISM_B):
        codes, uniques = pd.factorize(chunk[column])
        bad = ~pd.Series(uniques, dtype=object).str.fullmatch(r"[0-9]+").to_numpy(dtype=bool)
        row = first_bad_row(codes, bad)
        if row >= 0:
            problems.append((row, column, f"organism id {chunk[column].iloc[row]!r} is not an integer"))
    codes, uniques = pd.factorize(chunk[SYSTEM_TYPE])
    row = first_bad_row(codes, ~np.isin(np.asarray(uniques, dtype=object), SYSTEM_TYPES))
    if row >= 0:
        value = chunk[SYSTEM_TYPE].iloc[row]
        problems.append((row, SYSTEM_TYPE, f"unknown experimental system type {value!r} (known: physical, genetic)"))
    if problems:
        row, column, message = min(problems, key=lambda p: (p[0], BIOGRID_COLUMNS.index(p[1])))
        raise SourceFormatError(path, message, int(chunk.index[row]), column)

    taxon = str(YEAST_S288C_TAXON)
    yeast = (chunk[ORGANISM_A] == taxon) & (chunk[ORGANISM_B] == taxon)
    named = ~chunk[SYSTEMATIC_A].isin([MISSING, ""]) & ~chunk[SYSTEMATIC_B].isin([MISSING, ""])
    counts["rows_read"] += len(chunk)
    counts["rows_other_organism"] += int((~yeast).sum())
    counts["rows_missing_systematic_name"] += int((yeast & ~named).sum())
    return chunk.loc[yeast & named, list(_USED_COLUMNS)]


def _edges(
    names: np.ndarray, gene_a: np.ndarray, gene_b: np.ndarray, records: pd.DataFrame, stats: dict[str, Any]
) -> pd.DataFrame:
    low, high = undirected(gene_a, gene_b)
    groups = group_rows((low, len(names)), (high, len(names)))
    stats["duplicates_merged"] += len(low) - groups.count
    return pd.DataFrame(
        {
            "gene_a": names[low[groups.first_rows]],
            "gene_b": names[high[groups.first_rows]],
            "weight": groups.sizes.astype(np.float64),
            "experimental_systems": groups.join_distinct(records[SYSTEM].to_numpy(), "|"),
            "n_publications": groups.count_distinct(records[PUBLICATION].to_numpy()).astype(np.int64),
        }
    )
