"""Validation shared by the release parsers: headers, numeric columns and strain ids.

Each function reports the first bad value with its file, line (header = line 1, or the
spreadsheet row) and column. Frames passed in hold text and are indexed by file line.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from torchcell_core.errors import SourceFormatError
from torchcell_core.sources.strains import STRAIN_ID_PATTERN, STRAIN_KINDS


def read_header(path: Path, delimiter: str = "\t") -> list[str]:
    """The first line's fields, decoded as UTF-8 (or Latin-1, which some releases use)."""
    with open(path, "rb") as handle:
        raw = handle.readline().rstrip(b"\r\n")
    for encoding in ("utf-8", "latin-1"):
        try:
            return raw.decode(encoding).split(delimiter)
        except UnicodeDecodeError:
            continue
    raise SourceFormatError(path, "header is neither UTF-8 nor Latin-1", 1)


def check_header(path: Path, found: list[str], expected: tuple[str, ...], line: int = 1) -> None:
    """Raise naming the header line and the first field that differs from the published one."""
    if tuple(found) == tuple(expected):
        return
    for position, name in enumerate(expected):
        got = found[position] if position < len(found) else "<missing>"
        if got != name:
            raise SourceFormatError(
                path, f"header mismatch at field {position + 1}: expected {name!r}, found {got!r}", line, name
            )
    extra = found[len(expected)] if len(found) > len(expected) else None
    raise SourceFormatError(path, f"header has {len(found)} fields, expected {len(expected)}", line, extra)


def numeric_column(path: Path, chunk: pd.DataFrame, column: str, nullable: bool, bounds) -> np.ndarray:
    """Text column → float64, rejecting non-numbers (and blanks unless `nullable`) and values
    outside `bounds`; the frame's index holds the file line of each row."""
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


def extract_unique(chunk: pd.DataFrame, column: str, pattern: re.Pattern) -> tuple[pd.DataFrame, np.ndarray]:
    """Regex groups of `column`, matched once per distinct value (a screen has ~10k strains
    over millions of rows), with the per-row codes into the distinct values."""
    codes, uniques = pd.factorize(chunk[column])
    return pd.Series(uniques, dtype=object).str.extract(pattern), codes


def first_bad(chunk: pd.DataFrame, codes: np.ndarray, bad_unique: np.ndarray) -> tuple[int, int]:
    """(position in the chunk, file line) of the first row whose distinct value is bad."""
    position = int(np.flatnonzero(bad_unique[codes])[0])
    return position, int(chunk.index[position])


def strain_columns(path: Path, chunk: pd.DataFrame, column: str) -> pd.DataFrame:
    """Split Costanzo strain ids (`YAL002W_dma1`) into gene, kind and number, one row per row."""
    parts, codes = extract_unique(chunk, column, STRAIN_ID_PATTERN)
    malformed = parts["gene"].isna().to_numpy()
    if malformed.any():
        position, line = first_bad(chunk, codes, malformed)
        value = chunk[column].iloc[position]
        raise SourceFormatError(path, f"malformed strain id {value!r} (expected e.g. 'YAL002W_dma1')", line, column)
    unknown = ~parts["kind"].isin(list(STRAIN_KINDS)).to_numpy()
    if unknown.any():
        position, line = first_bad(chunk, codes, unknown)
        value = chunk[column].iloc[position]
        suffix = parts["kind"].iloc[codes[position]]
        raise SourceFormatError(
            path, f"unknown strain suffix {suffix!r} in {value!r} (known: {', '.join(STRAIN_KINDS)})", line, column
        )
    return parts.iloc[codes].reset_index(drop=True)
