"""Costanzo 2016 `SGA_*.txt` pair files → typed records, in DuckDB.

The released files hold 20.7M rows. DuckDB reads them with the published columns
declared (no sniffing), in one streaming pass to Parquet at a capped memory; every check
(field counts, numbers, ranges, strain suffixes, array type/temperature) is then one
columnar aggregate over the output. The first failing row is reported with its file,
line and column; genes missing from the genome are counted, never silently dropped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from torchcell_core.errors import SourceFormatError
from torchcell_core.sources.costanzo2016 import SGA_COLUMNS
from torchcell_core.sources.duckdb_csv import (
    READ_CSV,
    READ_CSV_BULK,
    check_no_inner_blank_lines,
    connect,
    duckdb_errors_as_source_errors,
)
from torchcell_core.sources.strains import STRAIN_ID_PATTERN, STRAIN_KINDS
from torchcell_core.sources.validation import check_header, read_header

RECORD_COLUMNS = (
    "query_strain", "query_gene", "query_kind", "query_allele",
    "array_strain", "array_gene", "array_kind", "array_allele",
    "array_type", "temperature", "epsilon", "p_value",
    "query_smf", "array_smf", "dmf", "dmf_std", "source_file", "line", "simulated",
)  # fmt: skip

# Released numeric column → (record column, may be empty, plausible range).
SGA_NUMERIC = {
    "Genetic interaction score (ε)": ("epsilon", False, (-2.0, 2.0)),
    "P-value": ("p_value", True, (0.0, 1.0)),
    "Query single mutant fitness (SMF)": ("query_smf", False, (0.0, 2.0)),
    "Array SMF": ("array_smf", False, (0.0, 2.0)),
    "Double mutant fitness": ("dmf", False, (0.0, 2.0)),
    "Double mutant fitness standard deviation": ("dmf_std", True, (0.0, 2.0)),
}
_COLUMN_TYPES = {name: ("DOUBLE" if name in SGA_NUMERIC else "VARCHAR") for name in SGA_COLUMNS}
_STRAIN = STRAIN_ID_PATTERN.pattern.replace("?P<gene>", "").replace("?P<kind>", "").replace("?P<number>", "")
_ARRAY_TYPE_TEMP = r"^([A-Za-z]+)(\d{2})$"
_KINDS = "(" + ", ".join(f"'{k}'" for k in STRAIN_KINDS) + ")"


@dataclass(frozen=True)
class DigenicRecord:
    """One released double-mutant measurement."""

    query_strain: str
    query_gene: str
    query_kind: str
    query_allele: str
    array_strain: str
    array_gene: str
    array_kind: str
    array_allele: str
    array_type: str
    temperature: int
    epsilon: float
    p_value: float
    query_smf: float
    array_smf: float
    dmf: float
    dmf_std: float
    source_file: str
    line: int
    simulated: bool


def _select_records(numbered: bool = True) -> str:
    """The typed projection of one file; `numbered` adds the file line of each row."""
    numeric = ",\n    ".join(f'"{released}" AS {name}' for released, (name, _, _) in SGA_NUMERIC.items())
    return f"""
SELECT
    "Query Strain ID" AS query_strain,
    regexp_extract("Query Strain ID", '{_STRAIN}', 1) AS query_gene,
    regexp_extract("Query Strain ID", '{_STRAIN}', 2) AS query_kind,
    "Query allele name" AS query_allele,
    "Array Strain ID" AS array_strain,
    regexp_extract("Array Strain ID", '{_STRAIN}', 1) AS array_gene,
    regexp_extract("Array Strain ID", '{_STRAIN}', 2) AS array_kind,
    "Array allele name" AS array_allele,
    regexp_extract("Arraytype/Temp", '{_ARRAY_TYPE_TEMP}', 1) AS array_type,
    TRY_CAST(regexp_extract("Arraytype/Temp", '{_ARRAY_TYPE_TEMP}', 2) AS SMALLINT) AS temperature,
    {numeric},
    $source_file AS source_file,
    {"line," if numbered else ""}
    $simulated AS simulated
FROM {READ_CSV if numbered else READ_CSV_BULK}
"""


def _checks() -> list[tuple[str, str, str, str]]:
    """(name, SQL condition of a bad row, released column, message) for every row check."""
    checks = []
    for role, column in (("query", "Query Strain ID"), ("array", "Array Strain ID")):
        checks.append(
            (
                f"{role}_malformed",
                f"{role}_gene = ''",
                column,
                "malformed strain id {value!r} (expected e.g. 'YAL002W_dma1')",
            )
        )
        known = ", ".join(STRAIN_KINDS)
        checks.append((f"{role}_suffix", f"{role}_gene <> '' AND {role}_kind NOT IN {_KINDS}", column,
                       "unknown strain suffix {suffix!r} in {value!r} (known: " + known + ")"))  # fmt: skip
    checks.append(
        (
            "array_type",
            "array_type = ''",
            "Arraytype/Temp",
            "unreadable array type/temperature {value!r} (e.g. 'DMA30')",
        )
    )
    for released, (name, nullable, (low, high)) in SGA_NUMERIC.items():
        if not nullable:
            checks.append((f"{name}_missing", f"{name} IS NULL OR isnan({name})", released, "missing value {value!r}"))
        checks.append((f"{name}_range", f"NOT isnan({name}) AND ({name} < {low} OR {name} > {high})", released,
                       "value {value} outside the plausible range [" f"{low}, {high}]"))  # fmt: skip
    return checks


_VALUE_OF = {
    "Query Strain ID": "query_strain",
    "Array Strain ID": "array_strain",
    "Arraytype/Temp": "array_type",
    **{released: name for released, (name, _, _) in SGA_NUMERIC.items()},
}


def _validate(con: duckdb.DuckDBPyConnection, table: str, paths: dict[str, Path], numbered: bool = True) -> None:
    """Raise on the first bad row of `table`; without line numbers, re-read the files to find it."""
    checks = _checks()
    counts = con.execute(
        "SELECT " + ", ".join(f"count(*) FILTER (WHERE {cond})" for _, cond, _, _ in checks) + f" FROM {table}"
    ).fetchone()
    for (_, cond, column, message), count in zip(checks, counts, strict=True):
        if count:
            value_column = _VALUE_OF[column]
            if numbered:
                source_file, line, value = con.execute(
                    f"SELECT source_file, line, {value_column} FROM {table} WHERE {cond} "
                    "ORDER BY source_file, line LIMIT 1"
                ).fetchone()
            else:
                source_file, line, value = _locate(con, paths, cond, value_column)
            if column == "Arraytype/Temp":  # the extracted type is empty: show the released text
                value = _released_field(paths[source_file], line, SGA_COLUMNS.index(column))
            strain = STRAIN_ID_PATTERN.match(value) if isinstance(value, str) else None
            suffix = strain["kind"] if strain else None
            raise SourceFormatError(paths[source_file], message.format(value=value, suffix=suffix), line, column)


def _locate(con: duckdb.DuckDBPyConnection, paths: dict[str, Path], cond: str, value_column: str) -> tuple:
    """(file name, line, value) of the first row matching `cond`, numbering lines file by file."""
    con.execute("SET preserve_insertion_order = true")
    for name in sorted(paths):
        found = con.execute(
            f"SELECT $source_file, line, {value_column} FROM ({_select_records()}) WHERE {cond} ORDER BY line LIMIT 1",
            {
                "path": str(paths[name]),
                "delim": "\t",
                "columns": _COLUMN_TYPES,
                "source_file": name,
                "simulated": False,
            },
        ).fetchone()
        if found:
            return found
    raise RuntimeError(f"a check counted bad rows that no file holds: {cond}")


def _released_field(path: Path, line: int, index: int) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            if number == line:
                return text.rstrip("\n").split("\t")[index]
    return ""


def _checked_paths(paths: Iterable[str | Path]) -> dict[str, Path]:
    checked = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing (Costanzo 2016 release file, Science 353:aaf1420 supplement)")
        check_header(path, read_header(path), SGA_COLUMNS)
        check_no_inner_blank_lines(path)
        checked[path.name] = path
    return checked


def _union_sql(paths: dict[str, Path], simulated: bool, numbered: bool = True) -> tuple[str, dict]:
    parts, params = [], {}
    for i, (name, path) in enumerate(paths.items()):
        parts.append(
            _select_records(numbered).replace("$path", f"$path{i}").replace("$source_file", f"$source_file{i}")
        )
        params |= {f"path{i}": str(path), f"source_file{i}": name}
    params |= {"delim": "\t", "columns": _COLUMN_TYPES, "simulated": simulated}
    return "\nUNION ALL\n".join(parts), params


def read_sga_files(paths: Sequence[str | Path], simulated: bool = False) -> pd.DataFrame:
    """All rows of some `SGA_*.txt` files as one checked, typed frame (for small files)."""
    checked = _checked_paths(paths)
    sql, params = _union_sql(checked, simulated)
    with connect() as con:
        with duckdb_errors_as_source_errors(next(iter(checked.values()))):
            con.execute(f"CREATE TABLE records AS {sql}", params)
        _validate(con, "records", checked)
        return con.execute("SELECT * FROM records ORDER BY source_file, line").df()


def read_sga_file(path: str | Path, simulated: bool = False) -> pd.DataFrame:
    """One `SGA_*.txt` file as a checked, typed frame with columns `RECORD_COLUMNS`."""
    return read_sga_files([path], simulated)


def iter_digenic_records(paths: Sequence[str | Path]) -> Iterator[DigenicRecord]:
    """Typed records, one per released row."""
    for row in read_sga_files(paths).itertuples(index=False):
        yield DigenicRecord(*row)


def unknown_gene_counts(con: duckdb.DuckDBPyConnection, table: str, genome_genes: Iterable[str]) -> dict:
    """Rows and distinct genes of `table` whose query or array gene is not in the genome."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE genome_genes AS SELECT unnest($genes) AS gene", {"genes": sorted(genome_genes)}
    )
    rows, genes, examples = con.execute(
        f"""
        WITH unknown AS (
            SELECT DISTINCT gene FROM (SELECT query_gene AS gene FROM {table} UNION SELECT array_gene FROM {table})
            WHERE gene NOT IN (SELECT gene FROM genome_genes))
        SELECT
            (SELECT count(*) FROM {table} WHERE query_gene IN (SELECT gene FROM unknown)
                                             OR array_gene IN (SELECT gene FROM unknown)),
            (SELECT count(*) FROM unknown),
            (SELECT list(gene ORDER BY gene)[1:10] FROM unknown)
        """
    ).fetchone()
    return {"rows_with_unknown_genes": rows, "unknown_genes": genes, "unknown_gene_examples": examples or []}


def sga_files_to_parquet(
    paths: Sequence[str | Path],
    out_path: str | Path,
    genome_genes: Iterable[str] | None = None,
    simulated: bool = False,
    memory_limit: str = "1GB",
) -> dict:
    """Parse and check released SGA files into one Parquet file; returns row and gene counts.

    Written next to `out_path` first and moved into place only when every check passed,
    so a failed parse leaves the previous file intact.
    """
    checked = _checked_paths(paths)
    out_path = Path(out_path)
    partial = out_path.with_name(f"{out_path.name}.{os.getpid()}.partial")
    sql, params = _union_sql(checked, simulated, numbered=False)
    try:
        with connect(memory_limit, ordered=False) as con:
            with duckdb_errors_as_source_errors(next(iter(checked.values()))):
                con.sql(sql, params=params).write_parquet(str(partial), compression="zstd")
            con.read_parquet(str(partial)).create_view("parsed")
            _validate(con, "parsed", checked, numbered=False)
            per_file = dict(con.execute("SELECT source_file, count(*) FROM parsed GROUP BY 1 ORDER BY 1").fetchall())
            (genes,) = con.execute(
                "SELECT count(*) FROM (SELECT query_gene FROM parsed UNION SELECT array_gene FROM parsed)"
            ).fetchone()
            stats = {"rows": sum(per_file.values()), "rows_per_file": per_file, "genes": genes}
            if genome_genes is not None:
                stats |= unknown_gene_counts(con, "parsed", genome_genes)
        partial.replace(out_path)
    finally:
        partial.unlink(missing_ok=True)
    return stats
