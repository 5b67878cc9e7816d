"""Errors raised on bad input, always naming the file, line and column."""

from __future__ import annotations

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
