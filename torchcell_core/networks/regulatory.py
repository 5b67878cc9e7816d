"""Transcriptional regulatory networks (TF -> target) in torchcell's own TSV format.

Format (version 1), one regulation record per line:

- UTF-8 text, tab-separated, `\\n` or `\\r\\n` line endings, no quoting, no comment or blank lines.
- Line 1 is exactly this header (7 fields):
  `Regulator systematic name`, `Regulator standard name`, `Target systematic name`,
  `Target standard name`, `Regulation type`, `Evidence`, `Source`.
- `Regulator systematic name`, `Target systematic name`: required, e.g. `YKL112W`.
- `Regulator standard name`, `Target standard name`: optional (may be empty), e.g. `ABF1`.
- `Regulation type`: exactly one of `activator`, `repressor`, `unknown` (lower case).
- `Evidence`: free text, e.g. `ChIP-chip`; `Source`: free text, e.g. `YEASTRACT` or `SGD`.
  Neither may contain a tab or a newline.

The network is DIRECTED: pairs are never reordered. Records with the same regulator,
target and regulation type are merged into one edge; `n_evidence` counts the merged
records and is also the `weight`. A pair reported both as activator and as repressor keeps
one edge per type (counted in the stats as `pairs_with_several_types`).

Rules: several records of one edge are legitimate (other evidence, other sources) and merged,
and so are records repeated word for word, which conversions from YEASTRACT produce: they are
counted apart as `identical_rows_merged`. A header with no rows, or a body that is not UTF-8, is refused.
"""

from __future__ import annotations

import csv
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from torchcell_core.errors import SourceFormatError
from torchcell_core.networks.edges import (
    check_field_counts_stream,
    count_rows,
    drop_outside_genome,
    drop_self_loops,
    encode_genes,
    first_bad_row,
    group_rows,
    new_stats,
    read_first_line,
)
from torchcell_core.sources.quality import DEFAULT_RULES, QualityReport, ValueRules
from torchcell_core.sources.validation import check_header, first_non_utf8_line, require_rows

REGULATORY_COLUMNS = (
    "Regulator systematic name",
    "Regulator standard name",
    "Target systematic name",
    "Target standard name",
    "Regulation type",
    "Evidence",
    "Source",
)
REGULATION_TYPES = ("activator", "repressor", "unknown")
EDGE_COLUMNS = ("regulator", "target", "regulation_type", "n_evidence", "weight", "evidence", "sources")
NETWORK = "regulatory"


def read_regulatory_tsv(
    path: str | Path,
    genome_genes: Collection[str] | None = None,
    keep_self_loops: bool = False,
    *,
    rules: ValueRules = DEFAULT_RULES,
    report: QualityReport | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Directed edge table (columns `EDGE_COLUMNS`, sorted by regulator, target, type) and the parse stats.

    `evidence` and `sources` list the distinct values of the merged records, sorted and `; `-joined.
    Autoregulation (regulator == target) is dropped and counted unless `keep_self_loops`.
    No column is numeric, so `rules` drops nothing; `report` counts the rows read.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        check_header(path, read_first_line(handle, path).split("\t"), REGULATORY_COLUMNS)
        require_rows(path, check_field_counts_stream(handle, path, len(REGULATORY_COLUMNS), b"\t"))
    try:
        frame = pd.read_csv(
            path,
            sep="\t",
            header=0,
            names=list(REGULATORY_COLUMNS),
            dtype=str,
            keep_default_na=False,
            quoting=csv.QUOTE_NONE,
            encoding="utf-8",
            engine="c",
        )
    except UnicodeDecodeError as error:
        raise SourceFormatError(path, f"not UTF-8 ({error.reason})", first_non_utf8_line(path)) from None
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    _validate(path, frame)
    count_rows(report, len(frame))

    stats = new_stats(len(frame))
    stats["file"] = path.name
    stats["identical_rows_merged"] = int(frame.duplicated().sum())
    names, regulator, target = encode_genes(
        frame["Regulator systematic name"].to_numpy(), frame["Target systematic name"].to_numpy()
    )
    keep = drop_outside_genome(names, regulator, target, genome_genes, stats)
    if not keep_self_loops:
        keep[keep] = drop_self_loops(regulator[keep], target[keep], stats)
    frame, regulator, target = frame[keep], regulator[keep], target[keep]

    kind = pd.Categorical(frame["Regulation type"], categories=list(REGULATION_TYPES)).codes.astype(np.int64)
    groups = group_rows((regulator, len(names)), (target, len(names)), (kind, len(REGULATION_TYPES)))
    stats["duplicates_merged"] = len(frame) - groups.count
    edges = pd.DataFrame(
        {
            "regulator": names[regulator[groups.first_rows]],
            "target": names[target[groups.first_rows]],
            "regulation_type": np.asarray(REGULATION_TYPES, dtype=object)[kind[groups.first_rows]],
            "n_evidence": groups.sizes.astype(np.int64),
            "weight": groups.sizes.astype(np.float64),
            "evidence": groups.join_distinct(frame["Evidence"].to_numpy(), "; "),
            "sources": groups.join_distinct(frame["Source"].to_numpy(), "; "),
        }
    )
    pair = regulator[groups.first_rows].astype(np.int64) * max(len(names), 1) + target[groups.first_rows]
    stats["pairs_with_several_types"] = int((np.unique(pair, return_counts=True)[1] > 1).sum())
    stats["edges_kept"][NETWORK] = len(edges)
    return edges, stats


def _validate(path: Path, frame: pd.DataFrame) -> None:
    """Raise on the earliest bad value: an empty systematic name or an unknown regulation type."""
    problems = []
    for column in ("Regulator systematic name", "Target systematic name"):
        codes, uniques = pd.factorize(frame[column])
        row = first_bad_row(codes, pd.Series(uniques, dtype=object).str.strip().eq("").to_numpy(dtype=bool))
        if row >= 0:
            problems.append((row, column, "systematic name is empty"))
    column = "Regulation type"
    codes, uniques = pd.factorize(frame[column])
    row = first_bad_row(codes, ~np.isin(np.asarray(uniques, dtype=object), REGULATION_TYPES))
    if row >= 0:
        value = frame[column].iloc[row]
        problems.append((row, column, f"unknown regulation type {value!r} (known: {', '.join(REGULATION_TYPES)})"))
    if problems:
        row, column, message = min(problems, key=lambda p: (p[0], REGULATORY_COLUMNS.index(p[1])))
        raise SourceFormatError(path, message, int(frame.index[row]), column)
