"""What a parser tolerates in a release, and the report of what it tolerated.

Malformed rows (wrong field count, non-numbers, unknown strains) always stop a parse. A number outside its
plausible range does not, up to a fraction: real releases carry a few (e.g. 9 slightly negative fitness values
in 413k rows). Such a row is dropped, counted and listed with its file, line and column; the parse fails only
when the dropped fraction exceeds `ValueRules.max_out_of_range_fraction`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EXAMPLES_KEPT = 10


@dataclass(frozen=True)
class ValueRules:
    """How much a parse tolerates: the largest fraction of rows with an out-of-range value that are dropped
    (above it the parse fails)."""

    max_out_of_range_fraction: float = 0.001


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
            self.examples.append({"file": file, "line": int(line), "column": column, "value": float(value),
                                  "bounds": [float(bounds[0]), float(bounds[1])]})  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        """Plain figures for asset metadata."""
        return {
            "rows_read": self.rows_read,
            "out_of_range_rows_dropped": self.out_of_range_rows,
            "out_of_range_by_column": dict(self.out_of_range_by_column),
            "out_of_range_examples": list(self.examples),
        }
