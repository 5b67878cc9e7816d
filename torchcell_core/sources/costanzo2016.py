"""Costanzo 2016 (Science 353:aaf1420) release files, parsed as published.

- `strain_ids_and_single_mutant_fitness.xlsx`: one row per strain, fitness at 26° and 30°.
- `SGA_ExE.txt`, `SGA_ExN_NxE.txt`, `SGA_NxN.txt`, `SGA_DAmP.txt`: tab-separated pair
  files with the 11 released columns. They are large (12.7M rows for NxN), so they are
  read in chunks and validated column by column; a bad value is reported with its file,
  line (header = line 1) and column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from torchcell_core.errors import SourceFormatError
from torchcell_core.sources.strains import STRAIN_ID_PATTERN, STRAIN_KINDS

SMF_FILE = "strain_ids_and_single_mutant_fitness.xlsx"
SGA_FILES = ("SGA_ExE.txt", "SGA_ExN_NxE.txt", "SGA_NxN.txt", "SGA_DAmP.txt")

SMF_COLUMNS = (
    "Strain ID",
    "Systematic gene name",
    "Allele/Gene name",
    "Single mutant fitness (26°)",
    "Single mutant fitness (26°) stddev",
    "Single mutant fitness (30°)",
    "Single mutant fitness (30°) stddev",
)
SGA_COLUMNS = (
    "Query Strain ID",
    "Query allele name",
    "Array Strain ID",
    "Array allele name",
    "Arraytype/Temp",
    "Genetic interaction score (ε)",
    "P-value",
    "Query single mutant fitness (SMF)",
    "Array SMF",
    "Double mutant fitness",
    "Double mutant fitness standard deviation",
)
# Released column → parsed column name; `None` marks columns that may be empty or NaN.
_SGA_NUMERIC = {
    "Genetic interaction score (ε)": ("epsilon", False, (-2.0, 2.0)),
    "P-value": ("p_value", True, (0.0, 1.0)),
    "Query single mutant fitness (SMF)": ("query_smf", False, (0.0, 2.0)),
    "Array SMF": ("array_smf", False, (0.0, 2.0)),
    "Double mutant fitness": ("dmf", False, (0.0, 2.0)),
    "Double mutant fitness standard deviation": ("dmf_std", True, (0.0, 2.0)),
}
_ARRAY_TYPE_TEMP = re.compile(r"^(?P<array_type>[A-Za-z]+)(?P<temperature>\d{2})$")

RECORD_COLUMNS = (
    "query_strain", "query_gene", "query_kind", "query_allele",
    "array_strain", "array_gene", "array_kind", "array_allele",
    "array_type", "temperature", "epsilon", "p_value",
    "query_smf", "array_smf", "dmf", "dmf_std", "source_file", "line",
)  # fmt: skip


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


def _read_header(path: Path) -> list[str]:
    with open(path, "rb") as handle:
        raw = handle.readline().rstrip(b"\r\n")
    for encoding in ("utf-8", "latin-1"):
        try:
            return raw.decode(encoding).split("\t")
        except UnicodeDecodeError:
            continue
    raise SourceFormatError(path, "header is neither UTF-8 nor Latin-1", 1)


def _check_header(path: Path, found: list[str], expected: tuple[str, ...]) -> None:
    if tuple(found) == expected:
        return
    for position, name in enumerate(expected):
        got = found[position] if position < len(found) else "<missing>"
        if got != name:
            raise SourceFormatError(
                path, f"header mismatch at field {position + 1}: expected {name!r}, found {got!r}", 1, name
            )
    raise SourceFormatError(path, f"header has {len(found)} fields, expected {len(expected)}", 1)


def _numeric(path: Path, chunk: pd.DataFrame, column: str, nullable: bool, bounds) -> np.ndarray:
    text = chunk[column]
    values = pd.to_numeric(text, errors="coerce")
    blank = text.isna() | text.str.strip().isin(["", "NaN", "nan", "NA"])
    bad = values.isna() & ~blank if nullable else values.isna()
    if bad.any():
        row = bad.idxmax()
        raise SourceFormatError(path, f"not a number: {text[row]!r}", int(row), column)
    low, high = bounds
    out_of_range = (values < low) | (values > high)
    if out_of_range.any():
        row = out_of_range.idxmax()
        raise SourceFormatError(
            path, f"value {values[row]} outside the plausible range [{low}, {high}]", int(row), column
        )
    return values.to_numpy(dtype=np.float64)


def _extract_unique(chunk: pd.DataFrame, column: str, pattern: re.Pattern) -> tuple[pd.DataFrame, np.ndarray]:
    """Regex groups of `column`, matched once per distinct value (a screen has ~10k strains
    over millions of rows), with the per-row codes into the distinct values."""
    codes, uniques = pd.factorize(chunk[column])
    return pd.Series(uniques, dtype=object).str.extract(pattern), codes


def _first_bad(chunk: pd.DataFrame, codes: np.ndarray, bad_unique: np.ndarray) -> tuple[int, int]:
    """(position in the chunk, file line) of the first row whose distinct value is bad."""
    position = int(np.flatnonzero(bad_unique[codes])[0])
    return position, int(chunk.index[position])


def _strains(path: Path, chunk: pd.DataFrame, column: str) -> pd.DataFrame:
    parts, codes = _extract_unique(chunk, column, STRAIN_ID_PATTERN)
    malformed = parts["gene"].isna().to_numpy()
    if malformed.any():
        position, line = _first_bad(chunk, codes, malformed)
        value = chunk[column].iloc[position]
        raise SourceFormatError(path, f"malformed strain id {value!r} (expected e.g. 'YAL002W_dma1')", line, column)
    unknown = ~parts["kind"].isin(list(STRAIN_KINDS)).to_numpy()
    if unknown.any():
        position, line = _first_bad(chunk, codes, unknown)
        value = chunk[column].iloc[position]
        suffix = parts["kind"].iloc[codes[position]]
        raise SourceFormatError(
            path, f"unknown strain suffix {suffix!r} in {value!r} (known: {', '.join(STRAIN_KINDS)})", line, column
        )
    return parts.iloc[codes].reset_index(drop=True)


def check_field_counts(path: Path, expected: int, block_bytes: int = 1 << 26) -> None:
    """Raise on the first line whose tab-separated field count is not `expected`.

    Vectorised over 64 MiB blocks, so it costs about a second per gigabyte.
    """
    line_number = 1
    carry = b""
    with open(path, "rb") as handle:
        while True:
            block = handle.read(block_bytes)
            data = carry + block
            if not block:
                if data.strip():
                    data += b"\n"
                else:
                    return
            buffer = np.frombuffer(data, dtype=np.uint8)
            newlines = np.flatnonzero(buffer == ord("\n"))
            if len(newlines) == 0:
                carry = data
                continue
            tabs = np.cumsum(buffer == ord("\t"))[newlines]
            per_line = np.diff(np.concatenate([[0], tabs])) + 1
            line_lengths = np.diff(np.concatenate([[-1], newlines]))
            bad = np.flatnonzero((per_line != expected) & (line_lengths > 1))
            if len(bad):
                first = int(bad[0])
                raise SourceFormatError(
                    path, f"expected {expected} tab-separated fields, found {int(per_line[first])}",
                    line_number + first,
                )  # fmt: skip
            line_number += len(newlines)
            carry = data[newlines[-1] + 1 :]
            if not block:
                return


def read_sga_file(path: str | Path, chunk_rows: int = 1_000_000) -> Iterator[pd.DataFrame]:
    """Yield typed chunks (columns `RECORD_COLUMNS`) of one released `SGA_*.txt` file."""
    path = Path(path)
    _check_header(path, _read_header(path), SGA_COLUMNS)
    check_field_counts(path, len(SGA_COLUMNS))
    reader = pd.read_csv(
        path, sep="\t", dtype=str, keep_default_na=False, chunksize=chunk_rows,
        encoding="utf-8", encoding_errors="replace", header=0,
        on_bad_lines="error", engine="c",
    )  # fmt: skip
    first_line = 2
    try:
        for chunk in reader:
            chunk.columns = list(SGA_COLUMNS)  # the header was checked; tolerate its encoding
            chunk.index = pd.RangeIndex(first_line, first_line + len(chunk))
            first_line += len(chunk)
            yield _parse_sga_chunk(path, chunk)
    except pd.errors.ParserError as error:
        raise SourceFormatError(path, f"wrong number of fields: {error}") from None


def _parse_sga_chunk(path: Path, chunk: pd.DataFrame) -> pd.DataFrame:
    query = _strains(path, chunk, "Query Strain ID")
    array = _strains(path, chunk, "Array Strain ID")
    temp, codes = _extract_unique(chunk, "Arraytype/Temp", _ARRAY_TYPE_TEMP)
    unreadable = temp["array_type"].isna().to_numpy()
    if unreadable.any():
        position, line = _first_bad(chunk, codes, unreadable)
        value = chunk["Arraytype/Temp"].iloc[position]
        raise SourceFormatError(
            path, f"unreadable array type/temperature {value!r} (e.g. 'DMA30')", line, "Arraytype/Temp"
        )
    temp = temp.iloc[codes].reset_index(drop=True)
    out = pd.DataFrame(
        {
            "query_strain": chunk["Query Strain ID"].to_numpy(),
            "query_gene": query["gene"].to_numpy(),
            "query_kind": query["kind"].to_numpy(),
            "query_allele": chunk["Query allele name"].to_numpy(),
            "array_strain": chunk["Array Strain ID"].to_numpy(),
            "array_gene": array["gene"].to_numpy(),
            "array_kind": array["kind"].to_numpy(),
            "array_allele": chunk["Array allele name"].to_numpy(),
            "array_type": temp["array_type"].to_numpy(),
            "temperature": temp["temperature"].astype(np.int16).to_numpy(),
        }
    )
    for column, (name, nullable, bounds) in _SGA_NUMERIC.items():
        out[name] = _numeric(path, chunk, column, nullable, bounds)
    out["source_file"] = path.name
    out["line"] = chunk.index.to_numpy(dtype=np.int64)
    return out


def read_sga_files(paths: Iterable[str | Path]) -> pd.DataFrame:
    """All rows of several `SGA_*.txt` files as one typed frame."""
    chunks = [chunk for path in paths for chunk in read_sga_file(path)]
    if not chunks:
        return pd.DataFrame(columns=list(RECORD_COLUMNS))
    return pd.concat(chunks, ignore_index=True)


def iter_digenic_records(paths: Iterable[str | Path]) -> Iterator[DigenicRecord]:
    """Typed records, one per released row, streaming through the files."""
    for path in paths:
        for chunk in read_sga_file(path):
            for row in chunk.itertuples(index=False):
                yield DigenicRecord(*row)


def read_smf_xlsx(path: str | Path) -> pd.DataFrame:
    """The single-mutant fitness table: strain, gene, allele and fitness at 26° and 30°."""
    path = Path(path)
    frame = pd.read_excel(path, dtype=str, engine="openpyxl")
    _check_header(path, [str(c) for c in frame.columns], SMF_COLUMNS)
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    frame = frame.fillna("")
    _strains(path, frame, "Strain ID")
    out = pd.DataFrame(
        {
            "strain": frame["Strain ID"].to_numpy(),
            "systematic_name": frame["Systematic gene name"].to_numpy(),
            "allele": frame["Allele/Gene name"].to_numpy(),
        }
    )
    for column, name in zip(SMF_COLUMNS[3:], ("smf_26", "smf_26_std", "smf_30", "smf_30_std"), strict=True):
        out[name] = _numeric(path, frame, column, True, (0.0, 2.0))
    return out
