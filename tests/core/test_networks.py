"""Network parsers (STRING, BioGRID TAB3, regulatory TSV) on tiny files in the exact published format."""

import io
import subprocess
import sys

import numpy as np
import pytest

from tests.support.formats import (
    BIOGRID_NAME,
    BIOGRID_ROWS,
    REGULATORY_ROWS,
    STRING_HEADER,
    STRING_NAME,
    STRING_ROWS,
    biogrid_row,
    write_string,
    write_table,
)
from torchcell_core.errors import SourceFormatError
from torchcell_core.networks import read_biogrid_tab3, read_regulatory_tsv, read_string_detailed
from torchcell_core.networks.biogrid import BIOGRID_COLUMNS
from torchcell_core.networks.edges import check_field_counts_stream, group_rows
from torchcell_core.networks.regulatory import REGULATORY_COLUMNS
from torchcell_core.networks.string_db import string_version

GENOME = {"YAL001C", "YBL002W", "YCR003W", "YDL004W"}


def edges(frame, *columns):
    return [tuple(row) for row in frame[list(columns)].itertuples(index=False)]


def assert_stats(stats, **expected):
    assert {key: stats[key] for key in expected} == expected


# --- STRING ---------------------------------------------------------------------------------


def test_string_channels_are_undirected_and_exact(tmp_path):
    path = write_string(tmp_path / STRING_NAME, STRING_ROWS)
    tables, stats = read_string_detailed(path, genome_genes=GENOME)
    assert set(tables) == {
        "neighborhood",
        "fusion",
        "cooccurence",
        "coexpression",
        "experimental",
        "database",
        "combined_score",
    }
    assert edges(tables["combined_score"], "gene_a", "gene_b", "weight", "score") == [
        ("YAL001C", "YBL002W", 0.42, 420),
        ("YAL001C", "YCR003W", 0.91, 910),
        ("YBL002W", "YCR003W", 0.19, 190),
    ]
    assert edges(tables["neighborhood"], "gene_a", "gene_b", "weight") == [("YAL001C", "YCR003W", 0.25)]
    assert edges(tables["fusion"], "gene_a", "gene_b", "weight") == [("YBL002W", "YCR003W", 0.12)]
    assert edges(tables["cooccurence"], "gene_a", "gene_b", "weight") == [("YBL002W", "YCR003W", 0.08)]
    assert edges(tables["coexpression"], "gene_a", "gene_b", "weight") == [("YAL001C", "YBL002W", 0.15)]
    assert edges(tables["experimental"], "gene_a", "gene_b", "weight") == [("YAL001C", "YBL002W", 0.3)]
    assert edges(tables["database"], "gene_a", "gene_b", "weight") == [("YAL001C", "YCR003W", 0.9)]
    assert tables["combined_score"]["weight"].dtype == np.float64
    assert_stats(
        stats,
        rows_read=9,
        rows_outside_genome_dropped=2,
        genes_outside_genome_dropped=1,
        genes_outside_genome_examples=["Q0010"],
        self_loops_dropped=1,
        duplicates_merged=3,
        pairs_listed_in_one_direction_only=0,
        version="12.0",
    )
    assert stats["edges_kept"]["combined_score"] == 3 and stats["edges_kept"]["fusion"] == 1


def test_string_without_genome_keeps_every_gene_and_textmining_on_request(tmp_path):
    path = write_string(tmp_path / STRING_NAME, STRING_ROWS)
    tables, stats = read_string_detailed(path, channels=["combined_score", "textmining"])
    assert edges(tables["combined_score"], "gene_a", "gene_b")[0] == ("Q0010", "YAL001C")
    assert len(tables["combined_score"]) == 4
    assert edges(tables["textmining"], "gene_a", "gene_b", "weight") == [("YAL001C", "YBL002W", 0.1)]
    assert stats["genes_outside_genome_dropped"] == 0 and stats["rows_outside_genome_dropped"] == 0


def test_string_one_direction_and_differing_scores_are_counted(tmp_path):
    rows = [
        "4932.YAL001C 4932.YBL002W 0 0 0 150 0 0 0 150",
        "4932.YBL002W 4932.YAL001C 0 0 0 170 0 0 0 170",
        "4932.YCR003W 4932.YAL001C 0 0 0 0 400 0 0 400",
    ]
    tables, stats = read_string_detailed(write_string(tmp_path / STRING_NAME, rows))
    assert edges(tables["coexpression"], "gene_a", "gene_b", "score") == [("YAL001C", "YBL002W", 170)]
    assert_stats(stats, pairs_listed_in_one_direction_only=1, pairs_with_differing_scores=1)


def test_string_plain_text_file_is_read_too(tmp_path):
    path = write_string(tmp_path / "4932.protein.links.detailed.v11.0.txt", STRING_ROWS, compress=False)
    tables, stats = read_string_detailed(path, GENOME)
    assert len(tables["combined_score"]) == 3 and stats["version"] == "11.0"


def test_string_version_from_name_or_explicit(tmp_path):
    assert string_version("4932.protein.links.detailed.v9.1.txt.gz") == "9.1"
    assert string_version("4932.protein.links.detailed.v11.0.txt.gz") == "11.0"
    assert string_version("links.txt.gz", "v12.0") == "12.0"
    with pytest.raises(SourceFormatError, match="cannot tell the STRING version"):
        string_version("links.txt.gz")
    with pytest.raises(SourceFormatError, match="file name says '9.1'"):
        string_version("4932.protein.links.detailed.v9.1.txt.gz", "12.0")


@pytest.mark.parametrize(
    ("header", "column"),
    [
        (STRING_HEADER.replace("cooccurence", "cooccurrence"), "cooccurence"),
        (STRING_HEADER.replace(" textmining", ""), "textmining"),
        ("protein1\tprotein2", "protein1"),
    ],
)
def test_string_wrong_header_names_line_1_and_the_field(tmp_path, header, column):
    path = write_string(tmp_path / STRING_NAME, STRING_ROWS, header=header)
    with pytest.raises(SourceFormatError) as error:
        read_string_detailed(path)
    assert (error.value.line, error.value.column) == (1, column)
    assert STRING_NAME in str(error.value)


@pytest.mark.parametrize(
    ("line", "bad_row", "column", "reason"),
    [
        (4, "4932.YCR003W 4932.YAL001C 250 x 0 0 0 900 0 910", "fusion", "'x' is not an integer"),
        (5, "4932.YAL001C 4932.YCR003W 250 0 0 0 0 900 0 9.5", "combined_score", "'9.5' is not an integer"),
        (6, "4932.YBL002W 4932.YCR003W 0 1001 0 0 0 0 0 190", "fusion", "1001 outside the plausible range [0, 1000]"),
        (7, "4932.YCR003W 4932.YBL002W 0 -1 0 0 0 0 0 190", "fusion", "-1 outside the plausible range [0, 1000]"),
        (3, "4932.YBL002W 9606.ENSP0001 0 0 0 150 300 0 100 420", "protein2", "'9606.ENSP0001' is not a yeast"),
        (8, "YAL001C 4932.Q0010 0 0 0 500 0 0 0 500", "protein1", "'YAL001C' is not a yeast"),
        (9, "4932.YDL004W 4932.YDL004W 0 0 0 0 700 0 NA 700", "textmining", "'NA' is not an integer"),
    ],
)
def test_string_bad_values_name_line_and_column(tmp_path, line, bad_row, column, reason):
    rows = list(STRING_ROWS)
    rows[line - 2] = bad_row
    path = write_string(tmp_path / STRING_NAME, rows)
    with pytest.raises(SourceFormatError) as error:
        read_string_detailed(path)
    assert (error.value.line, error.value.column) == (line, column)
    assert reason in str(error.value) and STRING_NAME in str(error.value)


@pytest.mark.parametrize(
    ("bad_row", "found"), [("4932.YAL001C 4932.YBL002W 0 0 0 150 300 0 420", "9 fields"), ("", "a blank line")]
)
def test_string_wrong_field_count_names_the_line(tmp_path, bad_row, found):
    rows = list(STRING_ROWS)
    rows[3] = bad_row
    with pytest.raises(SourceFormatError, match=found) as error:
        read_string_detailed(write_string(tmp_path / STRING_NAME, rows))
    assert error.value.line == 5


def test_string_truncated_gzip_names_the_file(tmp_path):
    rng = np.random.default_rng(0)
    genes = [f"4932.Y{letter}L{i:03d}W" for letter in "ABCDEFGHIJKLMNOP" for i in range(1, 60)]
    pairs = np.unique(rng.integers(0, len(genes), size=(4000, 2)), axis=0)  # a directed pair is listed once
    scores = rng.integers(0, 1001, size=(len(pairs), 8))
    rows = [f"{genes[a]} {genes[b]} " + " ".join(map(str, s)) for (a, b), s in zip(pairs, scores, strict=True)]
    whole = write_string(tmp_path / STRING_NAME, rows)
    read_string_detailed(whole)  # the whole file is fine
    data = whole.read_bytes()
    cut = tmp_path / "cut" / STRING_NAME
    cut.parent.mkdir()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceFormatError, match="truncated or corrupt gzip") as error:
        read_string_detailed(cut)
    assert str(cut) in str(error.value)


# --- BioGRID --------------------------------------------------------------------------------


def test_biogrid_physical_and_genetic_graphs(tmp_path):
    path = write_table(tmp_path / BIOGRID_NAME, BIOGRID_COLUMNS, BIOGRID_ROWS)
    tables, stats = read_biogrid_tab3(path, genome_genes=GENOME)
    columns = ("gene_a", "gene_b", "weight", "experimental_systems", "n_publications")
    assert edges(tables["physical"], *columns) == [
        ("YAL001C", "YBL002W", 3.0, "Affinity Capture-MS|Two-hybrid", 2),
    ]
    assert edges(tables["genetic"], *columns) == [
        ("YAL001C", "YCR003W", 2.0, "Negative Genetic|Synthetic Lethality", 1),
    ]
    assert_stats(
        stats,
        rows_read=9,
        rows_other_organism=1,
        rows_missing_systematic_name=1,
        self_loops_dropped=1,
        rows_outside_genome_dropped=1,
        genes_outside_genome_dropped=1,
        duplicates_merged=3,
        genes_outside_genome_examples=["YZZ999W"],
        edges_kept={"physical": 1, "genetic": 1},
        version="4.4.240",
    )


def test_biogrid_small_chunks_give_the_same_graphs(tmp_path):
    path = write_table(tmp_path / BIOGRID_NAME, BIOGRID_COLUMNS, BIOGRID_ROWS)
    tables, stats = read_biogrid_tab3(path, chunk_rows=2)
    assert edges(tables["genetic"], "gene_a", "gene_b", "weight") == [
        ("YAL001C", "YCR003W", 2.0),
        ("YCR003W", "YZZ999W", 1.0),
    ]
    assert stats["rows_read"] == 9 and stats["genes_outside_genome_dropped"] == 0


def test_biogrid_wrong_header_names_the_column(tmp_path):
    header = "\t".join(BIOGRID_COLUMNS).replace("Organism ID Interactor A", "Organism Interactor A")
    path = write_table(tmp_path / BIOGRID_NAME, BIOGRID_COLUMNS, BIOGRID_ROWS, header=header)
    with pytest.raises(SourceFormatError) as error:
        read_biogrid_tab3(path)
    assert (error.value.line, error.value.column) == (1, "Organism ID Interactor A")
    assert BIOGRID_NAME in str(error.value)


@pytest.mark.parametrize(
    ("line", "row", "column"),
    [
        (
            4,
            biogrid_row(3, "YAL001C", "YBL002W", "Two-hybrid", "physical", "P:1", organism_a="yeast"),
            "Organism ID Interactor A",
        ),
        (
            6,
            biogrid_row(5, "YAL001C", "YBL002W", "Two-hybrid", "physical", "P:1", organism_b="559292.0"),
            "Organism ID Interactor B",
        ),
        (3, biogrid_row(2, "YAL001C", "YBL002W", "Two-hybrid", "physicall", "P:1"), "Experimental System Type"),
    ],
)
def test_biogrid_bad_values_name_line_and_column(tmp_path, line, row, column):
    rows = list(BIOGRID_ROWS)
    rows[line - 2] = row
    with pytest.raises(SourceFormatError) as error:
        read_biogrid_tab3(write_table(tmp_path / BIOGRID_NAME, BIOGRID_COLUMNS, rows), chunk_rows=3)
    assert (error.value.line, error.value.column) == (line, column)


def test_biogrid_wrong_field_count_names_the_line(tmp_path):
    rows = list(BIOGRID_ROWS)
    rows[5] = rows[5].rsplit("\t", 1)[0]
    with pytest.raises(SourceFormatError, match="expected 37 tab-separated fields, found 36") as error:
        read_biogrid_tab3(write_table(tmp_path / BIOGRID_NAME, BIOGRID_COLUMNS, rows))
    assert error.value.line == 7


# --- regulatory -----------------------------------------------------------------------------


def test_regulatory_directed_edges_merge_duplicates(tmp_path):
    path = write_table(tmp_path / "regulation.tsv", REGULATORY_COLUMNS, REGULATORY_ROWS)
    table, stats = read_regulatory_tsv(path, genome_genes=GENOME | {"YKL112W"})
    assert edges(table, "regulator", "target", "regulation_type", "n_evidence", "weight") == [
        ("YAL001C", "YKL112W", "repressor", 1, 1.0),
        ("YKL112W", "YAL001C", "activator", 3, 3.0),
        ("YKL112W", "YBL002W", "repressor", 1, 1.0),
        ("YKL112W", "YBL002W", "unknown", 1, 1.0),
    ]
    assert table["evidence"].tolist()[1] == "ChIP-chip; ChIP-seq"
    assert table["sources"].tolist()[1] == "SGD; YEASTRACT"
    assert table["evidence"].tolist()[3] == ""
    assert_stats(
        stats,
        rows_read=8,
        duplicates_merged=2,
        self_loops_dropped=1,
        rows_outside_genome_dropped=1,
        genes_outside_genome_examples=["YZZ999W"],
        pairs_with_several_types=1,
        edges_kept={"regulatory": 4},
    )


def test_regulatory_can_keep_autoregulation(tmp_path):
    path = write_table(tmp_path / "regulation.tsv", REGULATORY_COLUMNS, REGULATORY_ROWS)
    table, stats = read_regulatory_tsv(path, keep_self_loops=True)
    assert ("YKL112W", "YKL112W") in edges(table, "regulator", "target")
    assert stats["self_loops_dropped"] == 0 and len(table) == 6


@pytest.mark.parametrize(
    ("line", "row", "column"),
    [
        (5, "YAL001C\tTFC3\tYKL112W\tABF1\tActivator\tChIP-chip\tSGD", "Regulation type"),
        (3, "YKL112W\tABF1\tYAL001C\tTFC3\tpositive\tChIP-chip\tSGD", "Regulation type"),
        (4, "YKL112W\tABF1\t\tTFC3\tactivator\tChIP-chip\tSGD", "Target systematic name"),
    ],
)
def test_regulatory_bad_values_name_line_and_column(tmp_path, line, row, column):
    rows = list(REGULATORY_ROWS)
    rows[line - 2] = row
    with pytest.raises(SourceFormatError) as error:
        read_regulatory_tsv(write_table(tmp_path / "regulation.tsv", REGULATORY_COLUMNS, rows))
    assert (error.value.line, error.value.column) == (line, column)
    assert "regulation.tsv" in str(error.value)


def test_regulatory_wrong_header_and_field_count(tmp_path):
    header = "\t".join(REGULATORY_COLUMNS).replace("Regulation type", "Type")
    path = write_table(tmp_path / "regulation.tsv", REGULATORY_COLUMNS, REGULATORY_ROWS, header=header)
    with pytest.raises(SourceFormatError) as error:
        read_regulatory_tsv(path)
    assert (error.value.line, error.value.column) == (1, "Regulation type")
    rows = [*REGULATORY_ROWS[:2], "YKL112W\tABF1\tYAL001C\tTFC3\tactivator\tChIP-chip\tSGD\textra"]
    with pytest.raises(SourceFormatError, match="found 8 fields") as error:
        read_regulatory_tsv(write_table(tmp_path / "regulation.tsv", REGULATORY_COLUMNS, rows))
    assert error.value.line == 4


# --- shared helpers -------------------------------------------------------------------------


def test_field_count_check_across_blocks_and_line_endings(tmp_path):
    data = b"a b\r\n" + b"c d\n" * 50 + b"e f g\n"
    with pytest.raises(SourceFormatError) as error:
        check_field_counts_stream(io.BytesIO(data), tmp_path / "x", 2, b" ", block_bytes=7)
    assert error.value.line == 53  # the header is line 1, so the stream starts at line 2
    check_field_counts_stream(io.BytesIO(b"a b\nc d"), tmp_path / "x", 2, b" ", block_bytes=3)


def test_group_rows_orders_groups_by_key():
    groups = group_rows((np.array([2, 0, 2, 1]), 3), (np.array([0, 1, 0, 1]), 2))
    assert groups.sizes.tolist() == [1, 1, 2]
    assert groups.max(np.array([5, 6, 7, 8])).tolist() == [6, 8, 7]
    assert groups.join_distinct(np.array(["b", "x", "a", "y"], dtype=object), "|").tolist() == ["x", "y", "a|b"]
    assert groups.count_distinct(np.array(["p", "p", "p", "q"], dtype=object)).tolist() == [1, 1, 1]


def test_networks_package_never_imports_dagster():
    code = "import sys, torchcell_core.networks; assert 'dagster' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_string_reports_the_earliest_bad_line_whatever_the_column(tmp_path):
    rows = list(STRING_ROWS)
    rows[5] = "4932.YCR003W 4932.YBL002W 0 1001 0 0 0 0 0 190"  # line 7, fusion
    rows[2] = "4932.YCR003W 4932.YAL001C 250 0 0 0 0 900 0 2000"  # line 4, combined_score
    with pytest.raises(SourceFormatError) as error:
        read_string_detailed(write_string(tmp_path / STRING_NAME, rows))
    assert (error.value.line, error.value.column) == (4, "combined_score")
