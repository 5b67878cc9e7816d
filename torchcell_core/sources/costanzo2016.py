"""Costanzo 2016 (Science 353:aaf1420) release: formats, and the single-mutant fitness table.

- `strain_ids_and_single_mutant_fitness.xlsx`: one row per strain, fitness at 26° and 30°.
- `SGA_ExE.txt`, `SGA_ExN_NxE.txt`, `SGA_NxN.txt`, `SGA_DAmP.txt`: tab-separated pair files
  with the 11 released columns, read by `costanzo2016_sga` in DuckDB.
Helpers here (header checks, numeric and strain-id validation of a pandas frame) report
bad input with its file, line (header = line 1) and column.
"""

from __future__ import annotations

import re
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


def read_header(path: Path) -> list[str]:
    with open(path, "rb") as handle:
        raw = handle.readline().rstrip(b"\r\n")
    for encoding in ("utf-8", "latin-1"):
        try:
            return raw.decode(encoding).split("\t")
        except UnicodeDecodeError:
            continue
    raise SourceFormatError(path, "header is neither UTF-8 nor Latin-1", 1)


def check_header(path: Path, found: list[str], expected: tuple[str, ...]) -> None:
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


def read_smf_xlsx(path: str | Path) -> pd.DataFrame:
    """The single-mutant fitness table: strain, gene, allele and fitness at 26° and 30°."""
    path = Path(path)
    frame = pd.read_excel(path, dtype=str, engine="openpyxl")
    check_header(path, [str(c) for c in frame.columns], SMF_COLUMNS)
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
