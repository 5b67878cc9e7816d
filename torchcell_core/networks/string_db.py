"""STRING `4932.protein.links.detailed.v{version}.txt.gz`, parsed as published, into gene graphs.

The file is gzip-compressed and space-separated, with the header
`protein1 protein2 neighborhood fusion cooccurence coexpression experimental database
textmining combined_score` (STRING's own spelling "cooccurence"). Ids are `4932.<systematic
name>`, scores are integers in [0, 1000], and every pair is listed in both directions. The
same layout holds for v9.1, v11.0 and v12.0.

Each requested channel becomes one undirected edge table: pairs with score > 0, each
unordered pair once (gene_a < gene_b), weight = score / 1000. The file is read by Arrow's
multithreaded CSV reader; a file it rejects is re-scanned to report the exact line and column.

Rules: the two directions of a pair are two rows and are merged (counted in `duplicates_merged`);
the same DIRECTED pair on two lines never occurs in a STRING release and is refused
(`DuplicateRowError` naming both lines). A header with no rows is refused. A score outside
[0, 1000] drops its row, within `ValueRules.max_out_of_range_fraction` (see `sources.quality`).
"""

from __future__ import annotations

import csv
import gzip
import re
import zlib
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from torchcell_core.errors import DuplicateRowError, SourceFormatError
from torchcell_core.networks.edges import (
    check_field_counts_stream,
    drop_outside_genome,
    drop_self_loops,
    encode_genes,
    first_bad_row,
    first_repeat,
    group_rows,
    new_stats,
    read_first_line,
    undirected,
)
from torchcell_core.sources.quality import DEFAULT_RULES, QualityReport, ValueRules, drop_out_of_range
from torchcell_core.sources.validation import check_header, first_non_utf8_line, require_rows

STRING_COLUMNS = (
    "protein1",
    "protein2",
    "neighborhood",
    "fusion",
    "cooccurence",
    "coexpression",
    "experimental",
    "database",
    "textmining",
    "combined_score",
)
SCORE_COLUMNS = STRING_COLUMNS[2:]
# The six evidence channels used as gene graphs, and the combined score. `textmining` is in
# the file (and validated) but left out by default; pass it in `channels` to get it.
STRING_CHANNELS = (
    "neighborhood",
    "fusion",
    "cooccurence",
    "coexpression",
    "experimental",
    "database",
    "combined_score",
)
TAXON_PREFIX = "4932."
MAX_SCORE = 1000
_VERSION_IN_NAME = re.compile(r"\.v(\d+\.\d+)\.")
_GZIP_MAGIC = b"\x1f\x8b"


def string_version(path: str | Path, version: str | None = None) -> str:
    """The STRING release of a file: `version` if given (checked against the name), else from the name."""
    path = Path(path)
    match = _VERSION_IN_NAME.search(path.name)
    named = match.group(1) if match else None
    if version is None:
        if named is None:
            raise SourceFormatError(path, "cannot tell the STRING version from the file name; pass version=")
        return named
    version = version.removeprefix("v")
    if named is not None and named != version:
        raise SourceFormatError(path, f"version {version!r} was given but the file name says {named!r}")
    return version


def read_string_detailed(
    path: str | Path,
    genome_genes: Collection[str] | None = None,
    version: str | None = None,
    channels: Iterable[str] = STRING_CHANNELS,
    *,
    rules: ValueRules = DEFAULT_RULES,
    report: QualityReport | None = None,
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Channel -> undirected edge table (gene_a, gene_b, weight, score), and the parse stats.

    Genes outside `genome_genes` (when given) are dropped and counted in the stats; rows with a score
    outside [0, 1000] are dropped within `rules` and counted in `report`.
    """
    path = Path(path)
    channels = tuple(channels)
    unknown = [c for c in channels if c not in SCORE_COLUMNS]
    if unknown:
        raise ValueError(f"unknown STRING channels {unknown}; known: {', '.join(SCORE_COLUMNS)}")
    version = string_version(path, version)
    compressed = _is_gzip(path)
    with _open(path, compressed) as handle:
        header = _guard(path, lambda: read_first_line(handle, path))
    check_header(path, header.split(" "), STRING_COLUMNS)
    table = _read_table(path, compressed)
    require_rows(path, table.num_rows)

    stats = new_stats(table.num_rows)
    stats.update(file=path.name, version=version)
    genes, positions = _protein_ids(path, table)
    values = {column: table.column(column).to_numpy() for column in SCORE_COLUMNS}
    del table
    pa.default_memory_pool().release_unused()

    names, codes_1, codes_2 = encode_genes(genes["protein1"], genes["protein2"])
    gene_a, gene_b = codes_1[positions.pop("protein1")], codes_2[positions.pop("protein2")]
    _check_directed_pairs(path, names, gene_a, gene_b)
    lines = np.arange(2, len(gene_a) + 2)
    in_range = [(column, values[column], (0, MAX_SCORE)) for column in SCORE_COLUMNS]
    keep = drop_out_of_range(path, lines, in_range, rules, report)
    stats["out_of_range_rows_dropped"] = int((~keep).sum())
    gene_a, gene_b, values = _subset(keep, gene_a, gene_b, values)
    scores = {column: column_values.astype(np.int16) for column, column_values in values.items()}  # [0, 1000]
    del values
    keep = drop_outside_genome(names, gene_a, gene_b, genome_genes, stats)
    gene_a, gene_b, scores = _subset(keep, gene_a, gene_b, scores)
    keep = drop_self_loops(gene_a, gene_b, stats)
    gene_a, gene_b, scores = _subset(keep, gene_a, gene_b, scores)

    low, high = undirected(gene_a, gene_b)
    del gene_a, gene_b
    groups = group_rows((low, len(names)), (high, len(names)))
    stats["duplicates_merged"] = len(low) - groups.count
    stats["pairs_listed_in_one_direction_only"] = int((groups.sizes == 1).sum())
    differing = np.zeros(groups.count, dtype=bool)
    best = {}
    for column in SCORE_COLUMNS:
        best[column] = groups.max(scores[column])
        differing |= best[column] != groups.min(scores[column])
    stats["pairs_with_differing_scores"] = int(differing.sum())  # kept at the larger score

    pair_a, pair_b = names[low[groups.first_rows]], names[high[groups.first_rows]]
    tables = {}
    for channel in channels:
        present = best[channel] > 0
        score = best[channel][present]
        tables[channel] = pd.DataFrame(
            {
                "gene_a": pair_a[present],
                "gene_b": pair_b[present],
                "weight": score.astype(np.float64) / MAX_SCORE,
                "score": score.astype(np.int16),
            }
        )
        stats["edges_kept"][channel] = int(present.sum())
    return tables, stats


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == _GZIP_MAGIC


def _open(path: Path, compressed: bool):
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _guard(path: Path, read):
    """Run `read`, turning a broken gzip stream into a SourceFormatError naming the file."""
    try:
        return read()
    except (EOFError, OSError, zlib.error) as error:
        raise SourceFormatError(path, f"truncated or corrupt gzip stream ({error})") from None


def _read_table(path: Path, compressed: bool) -> pa.Table:
    """All data rows, ids dictionary-encoded and scores as int32; diagnoses a file Arrow rejects."""
    types = {name: pa.dictionary(pa.int32(), pa.string()) for name in STRING_COLUMNS[:2]}
    types.update({name: pa.int32() for name in SCORE_COLUMNS})
    try:
        with pa.input_stream(str(path), compression="gzip" if compressed else None) as stream:
            return pcsv.read_csv(
                stream,
                read_options=pcsv.ReadOptions(skip_rows=1, column_names=list(STRING_COLUMNS)),
                parse_options=pcsv.ParseOptions(delimiter=" ", quote_char=False, ignore_empty_lines=False),
                convert_options=pcsv.ConvertOptions(column_types=types, null_values=[], strings_can_be_null=False),
            )
    except (pa.ArrowInvalid, OSError) as error:
        _diagnose(path, compressed)
        raise SourceFormatError(path, f"unreadable STRING file: {error}") from None


def _diagnose(path: Path, compressed: bool) -> None:
    """Re-scan a file Arrow rejected and raise on its first bad line (fields, then values)."""

    def scan() -> None:
        line = first_non_utf8_line(path, lambda p: _open(p, compressed))
        if line is not None:
            raise SourceFormatError(path, "not UTF-8 (STRING files are UTF-8 text)", line)
        with _open(path, compressed) as handle:
            handle.readline()
            check_field_counts_stream(handle, path, len(STRING_COLUMNS), b" ")
        with _open(path, compressed) as handle:
            reader = pd.read_csv(
                handle,
                sep=" ",
                header=None,
                skiprows=1,
                names=list(STRING_COLUMNS),
                dtype=str,
                keep_default_na=False,
                quoting=csv.QUOTE_NONE,
                chunksize=1_000_000,
                engine="c",
            )
            first_line = 2
            for chunk in reader:
                chunk.index = pd.RangeIndex(first_line, first_line + len(chunk))
                first_line += len(chunk)
                _check_text_chunk(path, chunk)

    _guard(path, scan)


def _check_text_chunk(path: Path, chunk: pd.DataFrame) -> None:
    problems = []
    for column in STRING_COLUMNS:
        codes, uniques = pd.factorize(chunk[column])
        uniques = pd.Series(uniques, dtype=object)
        if column in STRING_COLUMNS[:2]:
            bad = ~uniques.str.startswith(TAXON_PREFIX) | (uniques.str.len() <= len(TAXON_PREFIX))
            message = "id {!r} is not a yeast STRING id ('4932.<systematic name>')"
        else:  # out-of-range integers are read by Arrow and dropped within the rules, not refused here
            digits = uniques.str.fullmatch(r"-?[0-9]{1,9}")
            bad = ~digits
            message = "score {!r} is not an integer"
        row = first_bad_row(codes, bad.to_numpy(dtype=bool))
        if row >= 0:
            problems.append((int(chunk.index[row]), column, message.format(chunk[column].iloc[row])))
    _raise_first(path, problems)


def _protein_ids(path: Path, table: pa.Table) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per id column: distinct systematic names (prefix removed) and each row's position in them."""
    genes, positions, problems = {}, {}, []
    for column in STRING_COLUMNS[:2]:
        chunked = table.column(column).unify_dictionaries()
        if chunked.num_chunks == 0:
            dictionary, indices = pa.array([], pa.string()), np.zeros(0, dtype=np.int64)
        else:
            dictionary = chunked.chunk(0).dictionary
            indices = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in chunked.chunks])
        valid = pc.and_(
            pc.starts_with(dictionary, TAXON_PREFIX), pc.greater(pc.utf8_length(dictionary), len(TAXON_PREFIX))
        )
        row = first_bad_row(indices, ~valid.to_numpy(zero_copy_only=False).astype(bool))
        if row >= 0:
            value = dictionary[int(indices[row])].as_py()
            problems.append((row + 2, column, f"id {value!r} is not a yeast STRING id ('4932.<systematic name>')"))
        sliced = pc.utf8_slice_codeunits(dictionary, len(TAXON_PREFIX))
        genes[column] = np.asarray(sliced.to_numpy(zero_copy_only=False), dtype=object)
        positions[column] = indices
    _raise_first(path, problems)
    return genes, positions


def _check_directed_pairs(path: Path, names: np.ndarray, gene_a: np.ndarray, gene_b: np.ndarray) -> None:
    """Raise `DuplicateRowError` when one directed pair (protein1, protein2) is listed on two lines."""
    repeat = first_repeat(gene_a.astype(np.int64) * max(len(names), 1) + gene_b)
    if repeat is not None:
        row, earlier = repeat
        key = (TAXON_PREFIX + names[gene_a[row]], TAXON_PREFIX + names[gene_b[row]])
        raise DuplicateRowError(path, row + 2, path, earlier + 2, STRING_COLUMNS[:2], key)


def _raise_first(path: Path, problems: list[tuple[int, str, str]]) -> None:
    """Raise the problem on the earliest line (leftmost column on a tie), if any."""
    if problems:
        line, column, message = min(problems, key=lambda p: (p[0], STRING_COLUMNS.index(p[1])))
        raise SourceFormatError(path, message, line, column)


def _subset(keep: np.ndarray, gene_a: np.ndarray, gene_b: np.ndarray, scores: dict[str, np.ndarray]):
    if keep.all():
        return gene_a, gene_b, scores
    return gene_a[keep], gene_b[keep], {column: values[keep] for column, values in scores.items()}
