"""Edge-table helpers shared by the network parsers, so that each rule exists once.

Genes are handled as integer codes into a sorted array of distinct names, so comparing
codes compares names: an undirected pair is put in canonical order (gene_a < gene_b) by
taking the smaller and larger code. Every drop (genes outside the genome, self-loops,
merged duplicates) is counted in a stats dict; nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from torchcell_core.errors import SourceFormatError
from torchcell_core.sources.quality import QualityReport
from torchcell_core.sources.validation import UTF8_BOM

EDGE_COLUMNS = ("gene_a", "gene_b", "weight")
MAX_EXAMPLES = 10


def new_stats(rows_read: int) -> dict[str, Any]:
    """A stats dict with the keys every network parser reports, all counts at zero."""
    return {
        "rows_read": rows_read,
        "rows_outside_genome_dropped": 0,
        "genes_outside_genome_dropped": 0,
        "genes_outside_genome_examples": [],
        "self_loops_dropped": 0,
        "duplicates_merged": 0,
        "edges_kept": {},
    }


def encode_genes(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted distinct names over both columns, and each column as int32 codes into them."""
    both = np.concatenate([np.asarray(first, dtype=object), np.asarray(second, dtype=object)])
    codes, names = pd.factorize(both, sort=True)
    codes = codes.astype(np.int32)  # a genome has far fewer than 2**31 genes
    return np.asarray(names, dtype=object), codes[: len(first)], codes[len(first) :]


def drop_outside_genome(
    names: np.ndarray,
    codes_a: np.ndarray,
    codes_b: np.ndarray,
    genome_genes: Collection[str] | None,
    stats: dict[str, Any],
) -> np.ndarray:
    """Mask of rows whose two genes are both in `genome_genes` (all rows when it is None); counts the rest."""
    if genome_genes is None:
        return np.ones(len(codes_a), dtype=bool)
    inside = np.asarray(pd.Index(names).isin(list(genome_genes)), dtype=bool)
    keep = inside[codes_a] & inside[codes_b]
    used = np.zeros(len(names), dtype=bool)
    used[codes_a] = True
    used[codes_b] = True
    outside = names[used & ~inside]  # names are sorted, so the examples are the first ones alphabetically
    stats["rows_outside_genome_dropped"] += int((~keep).sum())
    stats["genes_outside_genome_dropped"] += len(outside)
    examples = sorted({*stats["genes_outside_genome_examples"], *outside[:MAX_EXAMPLES].tolist()})
    stats["genes_outside_genome_examples"] = examples[:MAX_EXAMPLES]
    return keep


def drop_self_loops(codes_a: np.ndarray, codes_b: np.ndarray, stats: dict[str, Any]) -> np.ndarray:
    """Mask of rows joining two different genes; counts the self-loops."""
    keep = codes_a != codes_b
    stats["self_loops_dropped"] += int((~keep).sum())
    return keep


def undirected(codes_a: np.ndarray, codes_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pair in canonical order: (smaller code, larger code), i.e. gene_a < gene_b."""
    return np.minimum(codes_a, codes_b), np.maximum(codes_a, codes_b)


@dataclass(frozen=True)
class RowGroups:
    """Rows grouped by equal keys, groups in ascending key order (so sorted by name)."""

    order: np.ndarray  # row positions sorted by key
    starts: np.ndarray  # start of each group in `order`
    sizes: np.ndarray
    first_rows: np.ndarray  # one row position per group, to read the key columns from

    @cached_property
    def inverse(self) -> np.ndarray:
        """Group index of each row (built on first use)."""
        inverse = np.empty(len(self.order), dtype=np.int64)
        inverse[self.order] = np.repeat(np.arange(self.count), self.sizes)
        return inverse

    @property
    def count(self) -> int:
        """Number of groups."""
        return len(self.starts)

    def max(self, values: np.ndarray) -> np.ndarray:
        """Largest value per group."""
        return np.maximum.reduceat(values[self.order], self.starts) if self.count else values[:0]

    def min(self, values: np.ndarray) -> np.ndarray:
        """Smallest value per group."""
        return np.minimum.reduceat(values[self.order], self.starts) if self.count else values[:0]

    def count_distinct(self, values: np.ndarray) -> np.ndarray:
        """Number of distinct values per group."""
        codes, uniques = pd.factorize(values)
        width = max(len(uniques), 1)
        return np.bincount(_sorted_unique(self.inverse * width + codes) // width, minlength=self.count)

    def join_distinct(self, values: np.ndarray, sep: str) -> np.ndarray:
        """Distinct values per group, sorted and joined by `sep` (done in Arrow, no Python loop)."""
        codes, uniques = pd.factorize(values, sort=True)
        width = max(len(uniques), 1)
        keys = _sorted_unique(self.inverse * width + codes)
        offsets = np.concatenate([[0], np.cumsum(np.bincount(keys // width, minlength=self.count))])
        lists = pa.ListArray.from_arrays(
            pa.array(offsets, pa.int32()), pa.array(np.asarray(uniques, dtype=object)[keys % width], pa.string())
        )
        return np.asarray(pc.binary_join(lists, sep).to_numpy(zero_copy_only=False), dtype=object)


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    keys = np.sort(keys)
    return keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if len(keys) else keys


def group_rows(*keys: tuple[np.ndarray, int]) -> RowGroups:
    """Group rows by several integer key columns, each given with its number of possible values."""
    key = np.zeros(len(keys[0][0]), dtype=np.int64)
    capacity = 1
    for values, cardinality in keys:
        capacity *= max(cardinality, 1)
        if capacity >= 2**62:
            raise ValueError("too many distinct keys to group in one int64")
        key = key * max(cardinality, 1) + values.astype(np.int64)
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]])) if len(key) else order[:0]
    sizes = np.diff(np.concatenate([starts, [len(key)]]))
    return RowGroups(order=order, starts=starts, sizes=sizes, first_rows=order[starts])


def check_field_counts_stream(
    handle: IO[bytes], path: Path, expected: int, sep: bytes, first_line: int = 2, block_bytes: int = 1 << 24
) -> int:
    """Raise on the first line whose `sep`-separated field count is not `expected`, or that is blank;
    return the number of lines read (the data rows).

    Reads a binary stream (plain or decompressing) from its current position, numbered from
    `first_line` (2: the header, line 1, was read already), in blocks, vectorised with numpy.
    A truncated gzip stream raises EOFError from the handle.
    """
    line_number = first_line
    carry = b""
    separator = ord(sep)
    while True:
        block = handle.read(block_bytes)
        data = carry + block
        if not block:
            if not data:
                return line_number - first_line
            data += b"\n"  # a last line without its newline
        buffer = np.frombuffer(data, dtype=np.uint8)
        newlines = np.flatnonzero(buffer == ord("\n"))
        if len(newlines) == 0:
            carry = data
            continue
        separators = np.searchsorted(np.flatnonzero(buffer == separator), newlines)  # separators before each end
        per_line = np.diff(np.concatenate([[0], separators])) + 1
        ends = newlines - (buffer[newlines - 1] == ord("\r")) * (newlines > 0)
        lengths = ends - np.concatenate([[0], newlines[:-1] + 1])
        per_line[lengths <= 0] = 0  # a blank line has no fields at all
        bad = np.flatnonzero(per_line != expected)
        if len(bad):
            first = int(bad[0])
            found = "a blank line" if per_line[first] == 0 else f"{int(per_line[first])} fields"
            raise SourceFormatError(
                path,
                f"expected {expected} {_SEPARATOR_NAMES.get(sep, repr(sep))}-separated fields, found {found}",
                line_number + first,
            )
        line_number += len(newlines)
        carry = data[newlines[-1] + 1 :]
        if not block:
            return line_number - first_line


_SEPARATOR_NAMES = {b"\t": "tab", b" ": "space"}


def first_bad_row(codes: np.ndarray, bad_distinct: np.ndarray) -> int:
    """Position of the first row whose distinct value (by code) is flagged bad, or -1."""
    hits = np.flatnonzero(bad_distinct[codes])
    return int(hits[0]) if len(hits) else -1


def first_repeat(keys: np.ndarray) -> tuple[int, int] | None:
    """(row, earlier row with the same key) for the first row repeating an earlier row's key, or None.

    One sort finds whether any key repeats; row positions are worked out only when one does.
    """
    if len(keys) < 2 or not (np.diff(np.sort(keys)) == 0).any():
        return None
    order = np.argsort(keys, kind="stable")  # equal keys keep their file order
    same = keys[order[1:]] == keys[order[:-1]]
    later, earlier = order[1:][same], order[:-1][same]
    first = int(np.argmin(later))
    return int(later[first]), int(earlier[first])


def count_rows(report: QualityReport | None, rows: int) -> None:
    """Add the rows a parse read to `report`, if one is kept."""
    if report is not None:
        report.rows_read += rows


def read_first_line(handle: IO[bytes], path: Path) -> str:
    """The header line of a binary stream, decoded as UTF-8 (a byte order mark dropped), without its line ending."""
    raw = handle.readline().removeprefix(UTF8_BOM).rstrip(b"\r\n")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceFormatError(path, "header is not UTF-8", 1) from None
