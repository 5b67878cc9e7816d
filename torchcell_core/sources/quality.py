"""What a parser tolerates in a release, and the report of what it tolerated.

Malformed rows (wrong field count, non-numbers, unknown strains) always stop a parse. A number outside its
plausible range does not, up to a fraction: real releases carry a few (e.g. 9 slightly negative fitness values
in 413k rows). Such a row is dropped, counted and listed with its file, line and column; the parse fails only
when the dropped fraction exceeds `ValueRules.max_out_of_range_fraction`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from torchcell_core.errors import SourceFormatError

EXAMPLES_KEPT = 10


@dataclass(frozen=True)
class ValueRules:
    """How much a parse tolerates: the largest fraction of rows with an out-of-range value that are dropped
    (above it the parse fails)."""

    max_out_of_range_fraction: float = 0.001

    def check(self, path: Path, dropped: int, rows: int, first: dict[str, Any]) -> None:
        """Raise, naming the first out-of-range value, when `dropped` of `rows` is more than tolerated."""
        if rows == 0 or dropped / rows <= self.max_out_of_range_fraction:
            return
        low, high = first["bounds"]
        raise SourceFormatError(
            path,
            f"value {first['value']:g} outside the plausible range [{low:g}, {high:g}]; {dropped} of {rows} rows "
            f"({dropped / rows:.4%}) hold an out-of-range value, more than the {self.max_out_of_range_fraction:.4%} "
            "tolerated (ValueRules.max_out_of_range_fraction)",
            first["line"],
            first["column"],
        )


DEFAULT_RULES = ValueRules()  # the default of every parser's `rules` (a frozen value, shared safely)


@dataclass
class QualityReport:
    """Rows a parse read and the rows it dropped, with the first few examples (file, line, column, value)."""

    rows_read: int = 0
    out_of_range_rows: int = 0
    out_of_range_by_column: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add_out_of_range(self, file: str, line: int, column: str, value: float, bounds: tuple[float, float]) -> None:
        """Count one dropped row (call once per row, for its first out-of-range column)."""
        self.out_of_range_rows += 1
        self.out_of_range_by_column[column] = self.out_of_range_by_column.get(column, 0) + 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append(
                {
                    "file": file,
                    "line": int(line),
                    "column": column,
                    "value": float(value),
                    "bounds": [float(bounds[0]), float(bounds[1])],
                }
            )

    def add_counts(self, by_column: dict[str, int]) -> None:
        """Count dropped rows in bulk, without examples (rows past the listed ones)."""
        for column, count in by_column.items():
            if count:
                self.out_of_range_rows += int(count)
                self.out_of_range_by_column[column] = self.out_of_range_by_column.get(column, 0) + int(count)

    def as_dict(self) -> dict[str, Any]:
        """Plain figures for asset metadata."""
        return {
            "rows_read": self.rows_read,
            "out_of_range_rows_dropped": self.out_of_range_rows,
            "out_of_range_by_column": dict(self.out_of_range_by_column),
            "out_of_range_examples": list(self.examples),
        }


def example(file: str, line: int, column: str, value: float, bounds: tuple[float, float]) -> dict[str, Any]:
    """One out-of-range value as listed in a report."""
    return {
        "file": file,
        "line": int(line),
        "column": column,
        "value": float(value),
        "bounds": [float(bounds[0]), float(bounds[1])],
    }


def record_out_of_range(
    path: Path,
    rows: int,
    examples: list[dict[str, Any]],
    by_column: dict[str, int],
    rules: ValueRules,
    report: QualityReport | None,
) -> None:
    """Check the dropped fraction of one parse (raising above the limit) and add it to `report`.

    `examples` are the first dropped rows in file order (up to `EXAMPLES_KEPT`), `by_column` counts every
    dropped row once, under its first out-of-range column.
    """
    dropped = sum(by_column.values())
    if dropped:
        rules.check(path, dropped, rows, examples[0])
    if report is None:
        return
    report.rows_read += rows
    for item in examples:
        report.add_out_of_range(item["file"], item["line"], item["column"], item["value"], tuple(item["bounds"]))
    rest = dict(by_column)
    for item in examples:
        rest[item["column"]] -= 1
    report.add_counts(rest)


def drop_out_of_range(
    path: Path,
    lines: np.ndarray,
    columns: Sequence[tuple[str, np.ndarray, tuple[float, float]]],
    rules: ValueRules,
    report: QualityReport | None,
) -> np.ndarray:
    """Mask of the rows to keep: those with every value of `columns` (name, values, bounds) inside its bounds.

    NaN counts as inside (blank values are checked elsewhere). Dropped rows are counted under their first
    out-of-range column; raises when more than `rules.max_out_of_range_fraction` of the rows are dropped.
    """
    first = np.full(len(lines), -1, dtype=np.int32)
    for position, (_, values, (low, high)) in enumerate(columns):
        outside = (values < low) | (values > high)
        first[(first < 0) & outside] = position
    dropped = np.flatnonzero(first >= 0)
    counts = np.bincount(first[dropped], minlength=len(columns))
    by_column = {name: int(count) for (name, _, _), count in zip(columns, counts, strict=True) if count}
    examples = []
    for row in dropped[:EXAMPLES_KEPT]:
        name, values, bounds = columns[first[row]]
        examples.append(example(path.name, int(lines[row]), name, float(values[row]), bounds))
    record_out_of_range(path, len(lines), examples, by_column, rules, report)
    return first < 0
