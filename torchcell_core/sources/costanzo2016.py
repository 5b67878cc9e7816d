"""Costanzo 2016 (Science 353:aaf1420) release: formats, and the single-mutant fitness table.

- `strain_ids_and_single_mutant_fitness.xlsx`: one row per strain, fitness at 26° and 30°.
- `SGA_ExE.txt`, `SGA_ExN_NxE.txt`, `SGA_NxN.txt`, `SGA_DAmP.txt`: tab-separated pair files
  with the 11 released columns, read by `costanzo2016_sga` in DuckDB.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from torchcell_core.sources.quality import DEFAULT_RULES, QualityReport, ValueRules, drop_out_of_range
from torchcell_core.sources.validation import (
    check_header,
    check_unique_key,
    numeric_column,
    require_rows,
    strain_columns,
    xlsx_errors_as_source_errors,
)

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
SMF_RANGE = (0.0, 2.0)
SMF_KEY = ("Strain ID",)  # one row per strain
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


def read_smf_xlsx(
    path: str | Path, *, rules: ValueRules = DEFAULT_RULES, report: QualityReport | None = None
) -> pd.DataFrame:
    """The single-mutant fitness table: strain, gene, allele and fitness at 26° and 30°.

    Refuses a corrupt workbook, a table without rows and a strain listed twice; rows with a fitness outside
    `SMF_RANGE` are dropped within `rules` and counted in `report`.
    """
    path = Path(path)
    with xlsx_errors_as_source_errors(path):
        frame = pd.read_excel(path, dtype=str, engine="openpyxl")
    check_header(path, [str(c) for c in frame.columns], SMF_COLUMNS)
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    frame = frame.fillna("")
    require_rows(path, len(frame))
    strain_columns(path, frame, "Strain ID")
    check_unique_key(path, frame, SMF_KEY)
    out = pd.DataFrame(
        {
            "strain": frame["Strain ID"].to_numpy(),
            "systematic_name": frame["Systematic gene name"].to_numpy(),
            "allele": frame["Allele/Gene name"].to_numpy(),
        }
    )
    names = ("smf_26", "smf_26_std", "smf_30", "smf_30_std")
    for column, name in zip(SMF_COLUMNS[3:], names, strict=True):
        out[name] = numeric_column(path, frame, column, True)
    checked = [(column, out[name].to_numpy(), SMF_RANGE) for column, name in zip(SMF_COLUMNS[3:], names, strict=True)]
    keep = drop_out_of_range(path, frame.index.to_numpy(), checked, rules, report)
    return out[keep].reset_index(drop=True)
