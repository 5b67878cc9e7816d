"""Errors raised on bad input, always naming the file, line and column."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class SourceFormatError(ValueError):
    """A source file does not match its published format.

    `line` is 1-based and counts the header as line 1, as a text editor shows it.
    """

    def __init__(
        self,
        path: str | Path,
        message: str,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.column = column
        self.reason = message
        where = str(self.path)
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")


class DuplicateRowError(SourceFormatError):
    """Two rows of a source hold the same measurement key: names the repeat (`path`, `line`),
    the row it repeats (`first_path`, `first_line`) and the key columns."""

    def __init__(
        self,
        path: str | Path,
        line: int,
        first_path: str | Path,
        first_line: int,
        key_columns: Sequence[str],
        key: Sequence[object],
    ) -> None:
        self.first_path = Path(first_path)
        self.first_line = int(first_line)
        self.key_columns = tuple(key_columns)
        self.key = tuple(key)
        where = f"line {first_line}" if self.first_path == Path(path) else f"{self.first_path}, line {first_line}"
        names = ", ".join(self.key_columns)
        message = f"duplicate row: repeats {where} on the key ({names}) = {self.key!r}"
        super().__init__(path, message, int(line))
