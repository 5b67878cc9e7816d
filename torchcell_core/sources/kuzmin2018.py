"""Kuzmin 2018 (Science 360:eaao1729) trigenic screen, Data S1 `aao1729_data_s1.tsv`, parsed as published.

Each query strain carries two marked deletions/alleles, e.g. `YAR002W+YDL227C_tm3180` (`ntg1Δ+hoΔ`).
`YDL227C` (`hoΔ`) is a neutral marker at the HO locus: a query holding it measures a DIGENIC
interaction (one query gene x the array gene); a query of two real genes a TRIGENIC one.
The row parser here is shared with the Kuzmin 2020 tables, whose 12 columns differ only in names.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from torchcell_core.errors import SourceFormatError
from torchcell_core.sources.duckdb_csv import READ_CSV, connect, duckdb_errors_as_source_errors
from torchcell_core.sources.quality import DEFAULT_RULES, QualityReport, ValueRules, drop_out_of_range
from torchcell_core.sources.strains import STRAIN_KINDS
from torchcell_core.sources.validation import (
    check_data_rows,
    check_header,
    check_unique_key,
    first_bad,
    numeric_column,
    parse_strain_ids,
    read_header,
    require_rows,
    strain_columns,
)

DATA_S1_FILE = "aao1729_data_s1.tsv"
HO_MARKER = "YDL227C"  # HO locus; `hoΔ` is the neutral marker of digenic control queries
MUTANT_TYPES = ("digenic", "trigenic")

DATA_S1_COLUMNS = (
    "Query strain ID",
    "Query allele name",
    "Array strain ID",
    "Array allele name",
    "Combined mutant type",
    "Raw genetic interaction score (epsilon)",
    "Adjusted genetic interaction score (epsilon or tau)",
    "P-value",
    "Query single/double mutant fitness",
    "Array single mutant fitness",
    "Combined mutant fitness",
    "Combined mutant fitness standard deviation",
)
_SCORE_RANGE = (-5.0, 5.0)
# Kuzmin fitness is a colony-size ratio; dead combinations are reported slightly below zero.
_FITNESS_RANGE = (-1.0, 3.0)
# Parsed name, whether blank is allowed, plausible range; by position from column 6 on.
# Query fitness is blank on many Kuzmin 2020 rows, so it is nullable.
_NUMERIC_FIELDS = (
    ("raw_score", False, _SCORE_RANGE),
    ("adjusted_score", False, _SCORE_RANGE),
    ("p_value", True, (0.0, 1.0)),
    ("query_fitness", True, _FITNESS_RANGE),
    ("array_fitness", True, _FITNESS_RANGE),
    ("combined_fitness", False, _FITNESS_RANGE),
    ("combined_fitness_std", True, (0.0, 3.0)),
)

# Query suffixes: `tm` (the trigenic screens' own double-mutant queries) and the Costanzo query kinds.
QUERY_KINDS = ("tm", *(kind for kind, (_, role) in STRAIN_KINDS.items() if role == "query"))
QUERY_STRAIN_PATTERN = re.compile(r"^(?P<gene_1>[^_+\s]+)\+(?P<gene_2>[^_+\s]+)_(?P<kind>[a-z]+)(?P<number>\d+)$")

# A measurement: query strain x array strain, digenic or trigenic (positions in the 12 released columns).
KEY_POSITIONS = (0, 2, 4)

SCREEN_COLUMNS = (
    "query_strain",
    "query_gene_1",
    "query_gene_2",
    "array_strain",
    "array_gene",
    "array_kind",
    "mutant_type",
    "raw_score",
    "adjusted_score",
    "p_value",
    "query_fitness",
    "array_fitness",
    "combined_fitness",
    "combined_fitness_std",
    "source_file",
    "line",
)


def split_querystrain_columns(path: Path, frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per-row `gene_1`, `gene_2`, `kind` of double-mutant query ids such as `YAR002W+YDL227C_tm3180`.

    Parsed once per distinct id; `frame.index` must hold the file line numbers used in errors.
    """
    parts, codes = parse_strain_ids(
        path, frame, column, QUERY_STRAIN_PATTERN, QUERY_KINDS, "query strain", "YAR002W+YDL227C_tm3180"
    )
    doubled = (parts["gene_1"] == parts["gene_2"]).to_numpy()
    if doubled.any():
        position, line = first_bad(frame, codes, doubled)
        value = frame[column].iloc[position]
        raise SourceFormatError(path, f"query strain {value!r} names the same gene twice", line, column)
    return parts[["gene_1", "gene_2", "kind"]].iloc[codes].reset_index(drop=True)


def _arraystrain_columns(path: Path, frame: pd.DataFrame, column: str) -> pd.DataFrame:
    parts = strain_columns(path, frame, column)
    roles = parts["kind"].map({kind: role for kind, (_, role) in STRAIN_KINDS.items()})
    not_array = (roles != "array").to_numpy()
    if not_array.any():
        position = int(np.flatnonzero(not_array)[0])
        value = frame[column].iloc[position]
        raise SourceFormatError(
            path, f"strain {value!r} is a query strain kind, not an array one", int(frame.index[position]), column
        )
    return parts


def _mutant_types(path: Path, frame: pd.DataFrame, column: str, query_column: str, query: pd.DataFrame) -> np.ndarray:
    """Declared digenic/trigenic, checked against the HO-marker rule on the query strain."""
    declared = frame[column].str.strip().to_numpy(dtype=object)
    unknown = ~np.isin(declared, MUTANT_TYPES)
    if unknown.any():
        position = int(np.flatnonzero(unknown)[0])
        raise SourceFormatError(
            path,
            f"unknown combined mutant type {declared[position]!r} (expected one of {', '.join(MUTANT_TYPES)})",
            int(frame.index[position]),
            column,
        )
    marker = ((query["gene_1"] == HO_MARKER) | (query["gene_2"] == HO_MARKER)).to_numpy()
    implied = np.where(marker, "digenic", "trigenic")
    disagree = declared != implied
    if disagree.any():
        position = int(np.flatnonzero(disagree)[0])
        strain = frame[query_column].iloc[position]
        rule = f"holds the {HO_MARKER} (hoΔ) marker" if marker[position] else f"lacks the {HO_MARKER} (hoΔ) marker"
        raise SourceFormatError(
            path,
            f"combined mutant type {declared[position]!r} disagrees with query strain {strain!r}, "
            f"which {rule} and so is {implied[position]}",
            int(frame.index[position]),
            column,
        )
    return declared


def parse_screen_rows(
    path: Path,
    frame: pd.DataFrame,
    columns: tuple[str, ...],
    *,
    rules: ValueRules = DEFAULT_RULES,
    report: QualityReport | None = None,
) -> pd.DataFrame:
    """Typed `SCREEN_COLUMNS` frame from released rows: text cells, `columns` the 12 released names
    in the Data S1 order, `frame.index` the file line (or spreadsheet row) of each row.

    A measurement (query strain, array strain, combined mutant type) listed twice is refused; rows with a
    value outside its plausible range are dropped within `rules` and counted in `report`."""
    query = split_querystrain_columns(path, frame, columns[0])
    array = _arraystrain_columns(path, frame, columns[2])
    mutant_type = _mutant_types(path, frame, columns[4], columns[0], query)
    marker_first = (query["gene_1"] == HO_MARKER).to_numpy()
    digenic = mutant_type == "digenic"
    gene_1 = np.where(marker_first, query["gene_2"].to_numpy(dtype=object), query["gene_1"].to_numpy(dtype=object))
    gene_2 = np.where(digenic, None, query["gene_2"].to_numpy(dtype=object))
    out = pd.DataFrame(
        {
            "query_strain": frame[columns[0]].to_numpy(dtype=object),
            "query_gene_1": gene_1,
            "query_gene_2": pd.Series(gene_2, dtype=object),
            "array_strain": frame[columns[2]].to_numpy(dtype=object),
            "array_gene": array["gene"].to_numpy(dtype=object),
            "array_kind": array["kind"].to_numpy(dtype=object),
            "mutant_type": mutant_type,
        }
    )
    checked = []
    for column, (name, nullable, bounds) in zip(columns[5:], _NUMERIC_FIELDS, strict=True):
        out[name] = numeric_column(path, frame, column, nullable)
        checked.append((column, out[name].to_numpy(), bounds))
    out["source_file"] = path.name
    out["line"] = frame.index.to_numpy(dtype=np.int64)
    check_unique_key(path, frame, tuple(columns[i] for i in KEY_POSITIONS))
    keep = drop_out_of_range(path, out["line"].to_numpy(), checked, rules, report)
    return out if keep.all() else out[keep].reset_index(drop=True)


def read_kuzmin2018(
    path: str | Path, *, rules: ValueRules = DEFAULT_RULES, report: QualityReport | None = None
) -> pd.DataFrame:
    """All rows of Data S1 as one typed frame (`SCREEN_COLUMNS`), digenic and trigenic together.

    DuckDB's strict reader splits the file (field counts checked, lines numbered from the header = 1);
    the cells are then validated column by column in pandas, shared with the Kuzmin 2020 tables.
    """
    path = Path(path)
    check_header(path, read_header(path), DATA_S1_COLUMNS)
    check_data_rows(path)
    params = {"path": str(path), "delim": "\t", "columns": dict.fromkeys(DATA_S1_COLUMNS, "VARCHAR")}
    with connect() as con, duckdb_errors_as_source_errors(path):
        frame = con.execute(f"SELECT * FROM {READ_CSV} ORDER BY line", params).df()
    require_rows(path, len(frame))
    frame.index = pd.Index(frame.pop("line").to_numpy(dtype=np.int64))
    return parse_screen_rows(path, frame.fillna(""), DATA_S1_COLUMNS, rules=rules, report=report)
