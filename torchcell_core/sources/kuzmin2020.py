"""Kuzmin 2020 (Science 368:eaaz5667) trigenic tables, parsed as published.

- `aaz5667-Table-S1.xlsx` (main screens) and `aaz5667-Table-S3.xlsx` (pilot screens): the Kuzmin 2018
  Data S1 layout with the fitness columns renamed `Double/triple mutant fitness[ standard deviation]`.
- `aaz5667-Table-S5.xlsx`: fitness of the single and double mutant query strains.

Each sheet opens with a title line, so the header is on spreadsheet row 2; `line` is the spreadsheet row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
from openpyxl.utils import get_column_letter

from torchcell_core.errors import SourceFormatError
from torchcell_core.sources.kuzmin2018 import DATA_S1_COLUMNS, SCREEN_COLUMNS, parse_screen_rows
from torchcell_core.sources.quality import DEFAULT_RULES, QualityReport, ValueRules, drop_out_of_range
from torchcell_core.sources.validation import (
    check_header,
    check_unique_key,
    numeric_column,
    require_rows,
    xlsx_errors_as_source_errors,
)

S1_FILE = "aaz5667-Table-S1.xlsx"
S3_FILE = "aaz5667-Table-S3.xlsx"
S5_FILE = "aaz5667-Table-S5.xlsx"
HEADER_ROW = 2

SCREEN_TABLE_COLUMNS = (
    *DATA_S1_COLUMNS[:10],
    "Double/triple mutant fitness",
    "Double/triple mutant fitness standard deviation",
)
SCREEN_TABLE_OUTPUT = ("screen_id", *SCREEN_COLUMNS)
_SCREEN_IDS = {"1": "kuzmin2020_s1", "3": "kuzmin2020_s3"}

S5_REQUIRED = ("Mutant type", "Query Strain ID", "ORF1", "Gene1", "Allele1", "Fitness", "St.dev.")
S5_DOUBLE = ("ORF2", "Gene2", "Allele2")  # present only when the table lists double mutants
S5_MUTANT_TYPES = {"single mutant": "single", "double mutant": "double"}
S5_KEY = ("Query Strain ID",)  # one row per query strain
S5_RANGES = {"Fitness": (-1.0, 3.0), "St.dev.": (0.0, 3.0)}
FITNESS_COLUMNS = (
    "query_strain",
    "mutant_type",
    "orf_1",
    "gene_1",
    "allele_1",
    "orf_2",
    "gene_2",
    "allele_2",
    "fitness",
    "fitness_std",
    "source_file",
    "line",
)


def read_sheet_text(path: str | Path, header_row: int, expected: Sequence[str]) -> tuple[list[str], pd.DataFrame]:
    """Header and body of the first sheet as text cells ("" when empty), body indexed by spreadsheet row.

    Raises when row `header_row` holds none of the `expected` names, saying where the header is instead,
    and on a file that is not a readable workbook.
    """
    path = Path(path)
    with xlsx_errors_as_source_errors(path):
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            sheet = book.worksheets[0]
            sheet.reset_dimensions()  # some writers record a wrong sheet size
            rows = list(sheet.iter_rows(values_only=True))
        finally:
            book.close()
    texts = [["" if cell is None else str(cell).strip() for cell in row] for row in rows[: header_row + 8]]
    header = texts[header_row - 1] if len(texts) >= header_row else []
    while header and header[-1] == "":
        header.pop()
    if not set(header) & set(expected):
        elsewhere = next((n + 1 for n, row in enumerate(texts) if set(row) & set(expected)), None)
        found = f"row {header_row} holds {header[:4]!r}" if header else f"row {header_row} is empty"
        hint = f"; the header is on row {elsewhere}" if elsewhere else ""
        raise SourceFormatError(path, f"header expected on row {header_row}, but {found}{hint}", header_row)
    body = pd.DataFrame(rows[header_row:], dtype=object)
    body.index = pd.RangeIndex(header_row + 1, header_row + 1 + len(body))
    body = body.reindex(columns=range(max(len(header), body.shape[1]))).fillna("").astype(str)
    body = body.apply(lambda column: column.str.strip())
    body = body[(body != "").any(axis=1)]
    if body.shape[1] > len(header):
        outside = (body.iloc[:, len(header) :] != "").to_numpy()
        if outside.any():
            row, column = np.argwhere(outside)[0]
            letter = get_column_letter(len(header) + int(column) + 1)
            raise SourceFormatError(path, "value in a column without a header", int(body.index[row]), letter)
        body = body.iloc[:, : len(header)]
    body.columns = header
    return header, body


def _screen_id(path: Path, screen_id: str | None) -> str:
    if screen_id is not None:
        return screen_id
    match = re.search(r"Table-S(\d+)", path.name)
    if match is None or match[1] not in _SCREEN_IDS:
        raise ValueError(f"{path.name}: cannot tell Table S1 from S3 by name; pass screen_id")
    return _SCREEN_IDS[match[1]]


def read_kuzmin2020_screen(
    path: str | Path,
    screen_id: str | None = None,
    header_row: int = HEADER_ROW,
    *,
    rules: ValueRules = DEFAULT_RULES,
    report: QualityReport | None = None,
) -> pd.DataFrame:
    """Typed rows (`SCREEN_TABLE_OUTPUT`) of Table S1 or S3; `screen_id` defaults from the file name
    ("kuzmin2020_s1" / "kuzmin2020_s3") so the main and pilot screens stay apart."""
    path = Path(path)
    screen = _screen_id(path, screen_id)
    header, body = read_sheet_text(path, header_row, SCREEN_TABLE_COLUMNS)
    check_header(path, header, SCREEN_TABLE_COLUMNS, line=header_row)
    require_rows(path, len(body), header_row)
    out = parse_screen_rows(path, body, SCREEN_TABLE_COLUMNS, rules=rules, report=report)
    out.insert(0, "screen_id", screen)
    return out


def read_kuzmin2020_screens(
    paths: Iterable[str | Path], *, rules: ValueRules = DEFAULT_RULES, report: QualityReport | None = None
) -> pd.DataFrame:
    """Tables S1 and S3 stacked into one frame, told apart by `screen_id` (a measurement may recur across them)."""
    frames = [read_kuzmin2020_screen(path, rules=rules, report=report) for path in paths]
    if not frames:
        return pd.DataFrame(columns=list(SCREEN_TABLE_OUTPUT))
    return pd.concat(frames, ignore_index=True)


def _check_s5_header(path: Path, header: list[str], header_row: int) -> None:
    known = (*S5_REQUIRED, *S5_DOUBLE)
    for name in header:
        if name not in known:
            raise SourceFormatError(path, f"unexpected column {name!r} (known: {', '.join(known)})", header_row, name)
    for name in S5_REQUIRED:
        if name not in header:
            raise SourceFormatError(path, f"missing column {name!r}", header_row, name)
    duplicated = [name for name in header if header.count(name) > 1]
    if duplicated:
        raise SourceFormatError(path, f"column {duplicated[0]!r} appears twice", header_row, duplicated[0])


def _require(path: Path, body: pd.DataFrame, column: str, rows: np.ndarray, message: str) -> None:
    """Raise on the first of `rows` (a boolean mask) whose `column` cell is blank."""
    blank = rows & (body[column] == "").to_numpy()
    if blank.any():
        position = int(np.flatnonzero(blank)[0])
        raise SourceFormatError(path, message, int(body.index[position]), column)


def read_kuzmin2020_fitness(
    path: str | Path,
    header_row: int = HEADER_ROW,
    *,
    rules: ValueRules = DEFAULT_RULES,
    report: QualityReport | None = None,
) -> pd.DataFrame:
    """Table S5 as typed rows (`FITNESS_COLUMNS`): query strain fitness and its standard deviation,
    with the second gene columns None for single mutants (or when the table has no double mutants).
    A query strain listed twice is refused; out-of-range fitness rows are dropped within `rules`."""
    path = Path(path)
    header, body = read_sheet_text(path, header_row, S5_REQUIRED)
    _check_s5_header(path, header, header_row)
    require_rows(path, len(body), header_row)
    declared = body["Mutant type"].str.lower().map(S5_MUTANT_TYPES)
    unknown = declared.isna().to_numpy()
    if unknown.any():
        position = int(np.flatnonzero(unknown)[0])
        raise SourceFormatError(
            path,
            f"unknown mutant type {body['Mutant type'].iloc[position]!r} (expected 'Single mutant' or 'Double mutant')",
            int(body.index[position]),
            "Mutant type",
        )
    double = (declared == "double").to_numpy()
    everyone = np.ones(len(body), dtype=bool)
    _require(path, body, "Query Strain ID", everyone, "blank query strain id")
    _require(path, body, "ORF1", everyone, "blank ORF1")
    if double.any() and "ORF2" not in header:
        position = int(np.flatnonzero(double)[0])
        raise SourceFormatError(
            path, "double mutant row but the table has no ORF2 column", int(body.index[position]), "ORF2"
        )
    if "ORF2" in header:
        _require(path, body, "ORF2", double, "double mutant without a second ORF")
        stray = ~double & (body["ORF2"] != "").to_numpy()
        if stray.any():
            position = int(np.flatnonzero(stray)[0])
            raise SourceFormatError(path, "single mutant row names a second ORF", int(body.index[position]), "ORF2")

    def text(column: str) -> pd.Series:
        if column not in header:
            return pd.Series([None] * len(body), dtype=object)
        values = body[column].to_numpy(dtype=object)
        return pd.Series(np.where(values == "", None, values), dtype=object)  # object keeps None, not NaN

    out = pd.DataFrame(
        {
            "query_strain": body["Query Strain ID"].to_numpy(dtype=object),
            "mutant_type": declared.to_numpy(dtype=object),
            "orf_1": body["ORF1"].to_numpy(dtype=object),
            "gene_1": text("Gene1"),
            "allele_1": text("Allele1"),
            "orf_2": text("ORF2"),
            "gene_2": text("Gene2"),
            "allele_2": text("Allele2"),
            "fitness": numeric_column(path, body, "Fitness", True),
            "fitness_std": numeric_column(path, body, "St.dev.", True),
        }
    )
    out["source_file"] = path.name
    out["line"] = body.index.to_numpy(dtype=np.int64)
    check_unique_key(path, body, S5_KEY)
    checked = [
        (column, out[name].to_numpy(), S5_RANGES[column])
        for column, name in (("Fitness", "fitness"), ("St.dev.", "fitness_std"))
    ]
    keep = drop_out_of_range(path, out["line"].to_numpy(), checked, rules, report)
    return out if keep.all() else out[keep].reset_index(drop=True)
