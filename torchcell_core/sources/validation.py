"""Validation shared by the release parsers: headers, data rows, numeric columns, keys and strain ids.

Each function reports the first bad value with its file, line (header = line 1, or the
spreadsheet row) and column. Frames passed in hold text and are indexed by file line.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import ParseError

import numpy as np
import pandas as pd
from openpyxl.utils.exceptions import InvalidFileException

from torchcell_core.errors import DuplicateRowError, SourceFormatError
from torchcell_core.sources.strains import STRAIN_ID_PATTERN, STRAIN_KINDS

UTF8_BOM = b"\xef\xbb\xbf"


def open_binary(path: Path) -> IO[bytes]:
    """The file opened for reading bytes."""
    return open(path, "rb")


_WHITESPACE = b" \t\r\n"


def read_header(path: Path, delimiter: str = "\t") -> list[str]:
    """The first line's fields, decoded as UTF-8 (or Latin-1, which some releases use); a UTF-8 byte order
    mark is dropped."""
    with open(path, "rb") as handle:
        raw = handle.readline()
    if not raw:
        raise SourceFormatError(path, "empty file (0 bytes): expected a header line and data rows", 1)
    raw = raw.removeprefix(UTF8_BOM).rstrip(b"\r\n")
    for encoding in ("utf-8", "latin-1"):
        try:
            return raw.decode(encoding).split(delimiter)
        except UnicodeDecodeError:
            continue
    raise SourceFormatError(path, "header is neither UTF-8 nor Latin-1", 1)


def first_non_utf8_line(
    path: Path, opener: Callable[[Path], IO[bytes]] = open_binary, block_bytes: int = 1 << 24
) -> int | None:
    """1-based line of the first byte sequence that is not UTF-8, or None; reads in blocks through `opener`
    (e.g. a gzip one), only after a parse failed, to say where."""
    line, carry = 1, b""
    with opener(path) as handle:
        while block := handle.read(block_bytes):
            data = carry + block
            cut = data.rfind(b"\n") + 1 if len(block) == block_bytes else len(data)
            try:
                data[:cut].decode("utf-8")
            except UnicodeDecodeError as error:
                return line + data.count(b"\n", 0, error.start)
            line += data.count(b"\n", 0, cut)
            carry = data[cut:]
    try:
        carry.decode("utf-8")
    except UnicodeDecodeError as error:
        return line + carry.count(b"\n", 0, error.start)
    return None


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


def require_data_rows(path: Path, handle: IO[bytes], line: int = 1) -> None:
    """Raise unless something other than whitespace follows in `handle` (placed just after the header):
    a header-only file would otherwise parse to 0 rows and wipe everything downstream."""
    while block := handle.read(1 << 16):
        if block.strip(_WHITESPACE):
            return
    raise SourceFormatError(path, "no data rows: the file holds its header and nothing else", line)


def check_data_rows(path: Path) -> None:
    """Raise unless the text file at `path` holds a data row below its header line."""
    with open(path, "rb") as handle:
        handle.readline()
        require_data_rows(path, handle)


def require_rows(path: Path, rows: int, line: int = 1) -> None:
    """Raise when a parsed table (header on `line`) has no data row."""
    if rows == 0:
        raise SourceFormatError(path, f"no data rows below the header on line {line}", line)


@contextmanager
def xlsx_errors_as_source_errors(path: Path) -> Iterator[None]:
    """Turn the errors of opening a corrupt, truncated or empty workbook into a `SourceFormatError` naming it."""
    try:
        yield
    except (zipfile.BadZipFile, InvalidFileException, KeyError, EOFError, zlib.error, ParseError) as error:
        raise SourceFormatError(path, f"not a valid xlsx workbook: {type(error).__name__}: {error}") from None


def numeric_column(path: Path, chunk: pd.DataFrame, column: str, nullable: bool) -> np.ndarray:
    """Text column → float64, rejecting non-numbers (and blanks unless `nullable`); the frame's index
    holds the file line of each row. Ranges are checked by `quality.drop_out_of_range`, which tolerates a few."""
    text = chunk[column]
    values = pd.to_numeric(text, errors="coerce")
    blank = text.isna() | text.str.strip().isin(["", "NaN", "nan", "NA"])
    bad = values.isna() & ~blank if nullable else values.isna()
    if bad.any():
        row = bad.idxmax()
        reason = f"not a number: {text[row]!r}" if not blank[row] else f"missing value {text[row]!r}"
        raise SourceFormatError(path, reason, int(row), column)
    return values.to_numpy(dtype=np.float64)


def check_unique_key(path: Path, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise `DuplicateRowError` on the first row whose `columns` repeat an earlier row's (frame indexed by line)."""
    repeated = frame.duplicated(subset=list(columns), keep="first").to_numpy()
    if not repeated.any():
        return
    position = int(np.flatnonzero(repeated)[0])
    key = tuple(frame[column].iloc[position] for column in columns)
    same = np.ones(len(frame), dtype=bool)
    for column, value in zip(columns, key, strict=True):
        same &= (frame[column] == value).to_numpy()
    first = int(np.flatnonzero(same)[0])
    raise DuplicateRowError(path, int(frame.index[position]), path, int(frame.index[first]), columns, key)


def extract_unique(chunk: pd.DataFrame, column: str, pattern: re.Pattern) -> tuple[pd.DataFrame, np.ndarray]:
    """Regex groups of `column`, matched once per distinct value (a screen has ~10k strains
    over millions of rows), with the per-row codes into the distinct values."""
    codes, uniques = pd.factorize(chunk[column])
    return pd.Series(uniques, dtype=object).str.extract(pattern), codes


def first_bad(chunk: pd.DataFrame, codes: np.ndarray, bad_unique: np.ndarray) -> tuple[int, int]:
    """(position in the chunk, file line) of the first row whose distinct value is bad."""
    position = int(np.flatnonzero(bad_unique[codes])[0])
    return position, int(chunk.index[position])


def parse_strain_ids(
    path: Path, chunk: pd.DataFrame, column: str, pattern: re.Pattern, kinds: Collection[str], what: str, example: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """The distinct ids of `column` split by `pattern` (its first group must match and `kind` be one of `kinds`)
    and each row's code into them; the first malformed id or unknown suffix is refused naming file, line, column."""
    parts, codes = extract_unique(chunk, column, pattern)
    malformed = parts[parts.columns[0]].isna().to_numpy()
    if malformed.any():
        position, line = first_bad(chunk, codes, malformed)
        value = chunk[column].iloc[position]
        raise SourceFormatError(path, f"malformed {what} id {value!r} (expected e.g. {example!r})", line, column)
    unknown = ~parts["kind"].isin(list(kinds)).to_numpy()
    if unknown.any():
        position, line = first_bad(chunk, codes, unknown)
        value = chunk[column].iloc[position]
        suffix = parts["kind"].iloc[codes[position]]
        raise SourceFormatError(
            path, f"unknown {what} suffix {suffix!r} in {value!r} (known: {', '.join(kinds)})", line, column
        )
    return parts, codes


def strain_columns(path: Path, chunk: pd.DataFrame, column: str) -> pd.DataFrame:
    """Split Costanzo strain ids (`YAL002W_dma1`) into gene, kind and number, one row per row."""
    parts, codes = parse_strain_ids(path, chunk, column, STRAIN_ID_PATTERN, STRAIN_KINDS, "strain", "YAL002W_dma1")
    return parts.iloc[codes].reset_index(drop=True)
