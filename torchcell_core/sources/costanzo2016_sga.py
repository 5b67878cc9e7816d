"""Costanzo 2016 `SGA_*.txt` pair files → typed records, in DuckDB.

The released files hold 20.7M rows. DuckDB reads them with the published columns
declared (no sniffing), in one streaming pass to Parquet at a capped memory; every check
(field counts, numbers, strain suffixes, array type/temperature, repeated measurement keys)
is then a columnar aggregate over the output. The first failing row is reported with its
file, line and column; genes missing from the genome are counted, never silently dropped.
Rows with a value outside its plausible range are dropped and reported, up to
`ValueRules.max_out_of_range_fraction` (see `quality`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from torchcell_core.errors import DuplicateRowError, SourceFormatError
from torchcell_core.sources.costanzo2016 import SGA_COLUMNS
from torchcell_core.sources.duckdb_csv import (
    READ_CSV,
    READ_CSV_BULK,
    check_no_inner_blank_lines,
    connect,
    duckdb_errors_as_source_errors,
)
from torchcell_core.sources.quality import (
    DEFAULT_RULES,
    EXAMPLES_KEPT,
    QualityReport,
    ValueRules,
    example,
    record_out_of_range,
)
from torchcell_core.sources.strains import STRAIN_ID_PATTERN, STRAIN_KINDS
from torchcell_core.sources.validation import check_data_rows, check_header, read_header

RECORD_COLUMNS = (
    "query_strain",
    "query_gene",
    "query_kind",
    "query_allele",
    "array_strain",
    "array_gene",
    "array_kind",
    "array_allele",
    "array_type",
    "temperature",
    "epsilon",
    "p_value",
    "query_smf",
    "array_smf",
    "dmf",
    "dmf_std",
    "source_file",
    "line",
    "simulated",
)

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
# A measurement: one query strain x one array strain in one array type at one temperature, across all files.
KEY_COLUMNS = ("Query Strain ID", "Array Strain ID", "Arraytype/Temp")
_KEY_SQL = "query_strain, array_strain, array_type, temperature"


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
    """(name, SQL condition of a bad row, released column, message) for every row check that stops a parse."""
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
        checks.append(
            (
                f"{role}_suffix",
                f"{role}_gene <> '' AND {role}_kind NOT IN {_KINDS}",
                column,
                "unknown strain suffix {suffix!r} in {value!r} (known: " + known + ")",
            )
        )
    checks.append(
        (
            "array_type",
            "array_type = ''",
            "Arraytype/Temp",
            "unreadable array type/temperature {value!r} (e.g. 'DMA30')",
        )
    )
    for released, (name, nullable, _) in SGA_NUMERIC.items():
        if not nullable:
            checks.append((f"{name}_missing", f"{name} IS NULL OR isnan({name})", released, "missing value {value!r}"))
    return checks


def _range_fault() -> str:
    """SQL: position in `SGA_NUMERIC` of a row's first out-of-range value; NULL when every value is in range."""
    whens = " ".join(
        f"WHEN NOT isnan({name}) AND ({name} < {low} OR {name} > {high}) THEN {position}"
        for position, (name, _, (low, high)) in enumerate(SGA_NUMERIC.values())
    )
    return f"(CASE {whens} END)"


_VALUE_OF = {
    "Query Strain ID": "query_strain",
    "Array Strain ID": "array_strain",
    "Arraytype/Temp": "array_type",
    **{released: name for released, (name, _, _) in SGA_NUMERIC.items()},
}


def _validate(
    con: duckdb.DuckDBPyConnection, table: str, paths: dict[str, Path], numbered: bool = True
) -> tuple[int, dict[str, int]]:
    """Raise on the first bad row of `table`; else (rows, out-of-range rows per released column).

    One aggregate over the table; without line numbers, the files are re-read only to locate a bad row.
    """
    checks = _checks()
    fault = _range_fault()
    aggregates = [f"count(*) FILTER (WHERE {cond})" for _, cond, _, _ in checks]
    aggregates += [f"count(*) FILTER (WHERE {fault} = {position})" for position in range(len(SGA_NUMERIC))]
    rows, *counts = con.execute(f"SELECT count(*), {', '.join(aggregates)} FROM {table}").fetchone()
    for (_, cond, column, message), count in zip(checks, counts, strict=False):
        if count:
            found = _locate_rows(con, table, paths, numbered, cond, [_VALUE_OF[column]], limit=1)
            if not found:
                raise RuntimeError(f"a check counted bad rows that no file holds: {cond}")
            source_file, line, value = found[0]
            if column == "Arraytype/Temp":  # the extracted type is empty: show the released text
                value = _released_field(paths[source_file], line, SGA_COLUMNS.index(column))
            strain = STRAIN_ID_PATTERN.match(value) if isinstance(value, str) else None
            suffix = strain["kind"] if strain else None
            raise SourceFormatError(paths[source_file], message.format(value=value, suffix=suffix), line, column)
    return rows, dict(zip(SGA_NUMERIC, counts[len(checks) :], strict=True))


def _locate_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    paths: dict[str, Path],
    numbered: bool,
    cond: str,
    columns: list[str],
    limit: int,
) -> list[tuple]:
    """(file name, line, *columns) of the first `limit` rows matching `cond`, in file-name then line order.

    Without line numbers in `table`, the files holding such rows are re-read with their lines numbered.
    """
    selected = ", ".join(columns)
    if numbered:
        return con.execute(
            f"SELECT source_file, line, {selected} FROM {table} WHERE {cond} ORDER BY source_file, line LIMIT {limit}"
        ).fetchall()
    files = [name for (name,) in con.execute(f"SELECT DISTINCT source_file FROM {table} WHERE {cond}").fetchall()]
    con.execute("SET preserve_insertion_order = true")
    found: list[tuple] = []
    for name in sorted(files):
        params = {
            "path": str(paths[name]),
            "delim": "\t",
            "columns": _COLUMN_TYPES,
            "source_file": name,
            "simulated": False,
        }
        with duckdb_errors_as_source_errors(paths[name]):
            found += con.execute(
                f"SELECT $source_file, line, {selected} FROM ({_select_records()}) WHERE {cond} "
                f"ORDER BY line LIMIT {limit - len(found)}",
                params,
            ).fetchall()
        if len(found) >= limit:
            break
    return found


def _check_duplicates(con: duckdb.DuckDBPyConnection, table: str, paths: dict[str, Path], numbered: bool) -> None:
    """Raise `DuplicateRowError` when two rows share a measurement key (`KEY_COLUMNS`), in any of the files.

    The bulk pass groups by a 64-bit hash of the key (no line numbers); only on a hit are the rows of the
    repeated hashes located, and the exact keys compared.
    """
    hashed = f"hash({_KEY_SQL})"
    repeated = con.execute(
        f"SELECT h FROM (SELECT {hashed} AS h FROM {table} GROUP BY h HAVING count(*) > 1) ORDER BY h LIMIT 1000"
    ).fetchall()
    if not repeated:
        return
    con.execute(
        "CREATE OR REPLACE TEMP TABLE repeated_keys AS SELECT unnest($h)::UBIGINT AS h", {"h": [h for (h,) in repeated]}
    )
    cond = f"{hashed} IN (SELECT h FROM repeated_keys)"
    seen: dict[tuple, tuple[str, int]] = {}
    for source_file, line, *key in _locate_rows(con, table, paths, numbered, cond, [_KEY_SQL], 1_000_000):
        key = (key[0], key[1], f"{key[2]}{key[3]:02d}")
        if key in seen:
            first_file, first_line = seen[key]
            raise DuplicateRowError(paths[source_file], line, paths[first_file], first_line, KEY_COLUMNS, key)
        seen[key] = (source_file, line)


def _out_of_range(
    con: duckdb.DuckDBPyConnection,
    table: str,
    paths: dict[str, Path],
    numbered: bool,
    rows: int,
    by_column: dict[str, int],
    rules: ValueRules,
    report: QualityReport | None,
) -> bool:
    """Check the out-of-range rows against `rules` and report them; True when some must be filtered out.

    Their lines (the first `EXAMPLES_KEPT`) are located only when there are any.
    """
    by_column = {released: count for released, count in by_column.items() if count}
    examples = []
    if by_column:
        names = [name for name, _, _ in SGA_NUMERIC.values()]
        found = _locate_rows(
            con, table, paths, numbered, f"{_range_fault()} IS NOT NULL", [_range_fault(), *names], EXAMPLES_KEPT
        )
        released = list(SGA_NUMERIC)
        for source_file, line, position, *values in found:
            bounds = SGA_NUMERIC[released[position]][2]
            examples.append(example(source_file, line, released[position], values[position], bounds))
    first = paths[examples[0]["file"]] if examples else next(iter(paths.values()))
    record_out_of_range(first, rows, examples, by_column, rules, report)
    return bool(by_column)


def _released_field(path: Path, line: int, index: int) -> str:
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
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
        check_data_rows(path)  # each file on its own: a header-only file would silently empty its screens
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


def read_sga_files(
    paths: Sequence[str | Path],
    simulated: bool = False,
    *,
    rules: ValueRules = DEFAULT_RULES,
    report: QualityReport | None = None,
) -> pd.DataFrame:
    """All rows of some `SGA_*.txt` files as one checked, typed frame (for small files); rows with an
    out-of-range value are dropped within `rules` and counted in `report`."""
    checked = _checked_paths(paths)
    sql, params = _union_sql(checked, simulated)
    with connect() as con:
        with duckdb_errors_as_source_errors(next(iter(checked.values()))):
            con.execute(f"CREATE TABLE records AS {sql}", params)
        rows, out_of_range = _validate(con, "records", checked)
        _check_duplicates(con, "records", checked, numbered=True)
        if _out_of_range(con, "records", checked, True, rows, out_of_range, rules, report):
            con.execute(f"DELETE FROM records WHERE {_range_fault()} IS NOT NULL")
        return con.execute("SELECT * FROM records ORDER BY source_file, line").df()


def read_sga_file(
    path: str | Path, simulated: bool = False, *, rules: ValueRules = DEFAULT_RULES, report: QualityReport | None = None
) -> pd.DataFrame:
    """One `SGA_*.txt` file as a checked, typed frame with columns `RECORD_COLUMNS`."""
    return read_sga_files([path], simulated, rules=rules, report=report)


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
    *,
    rules: ValueRules = DEFAULT_RULES,
    report: QualityReport | None = None,
) -> dict:
    """Parse and check released SGA files into one Parquet file; returns row and gene counts.

    Written next to `out_path` first and moved into place only when every check passed,
    so a failed parse leaves the previous file intact. Rows with an out-of-range value are
    dropped (a second Parquet pass, only when there are any) within `rules`, counted in `report`.
    """
    checked = _checked_paths(paths)
    out_path = Path(out_path)
    partial = out_path.with_name(f"{out_path.name}.{os.getpid()}.partial")
    kept = out_path.with_name(f"{out_path.name}.{os.getpid()}.kept.partial")
    sql, params = _union_sql(checked, simulated, numbered=False)
    try:
        with connect(memory_limit, ordered=False) as con:
            with duckdb_errors_as_source_errors(next(iter(checked.values()))):
                con.sql(sql, params=params).write_parquet(str(partial), compression="zstd")
            con.read_parquet(str(partial)).create_view("parsed")
            rows, out_of_range = _validate(con, "parsed", checked, numbered=False)
            _check_duplicates(con, "parsed", checked, numbered=False)
            if _out_of_range(con, "parsed", checked, False, rows, out_of_range, rules, report):
                con.execute("SET preserve_insertion_order = false")
                con.sql(f"SELECT * FROM parsed WHERE {_range_fault()} IS NULL").write_parquet(
                    str(kept), compression="zstd"
                )
                kept.replace(partial)
                con.read_parquet(str(partial)).create_view("parsed", replace=True)
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
        kept.unlink(missing_ok=True)
    return stats
