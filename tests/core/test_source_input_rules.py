"""What every source parser refuses and tolerates (issue 13): header-only files, repeated measurements,
byte order marks and broken encodings or workbooks, out-of-range values, and loaders writing nothing on failure."""

import gzip
import inspect
import io
import zipfile

import duckdb
import pandas as pd
import pytest

from tests.support.formats import (
    BIOGRID_NAME,
    BIOGRID_ROWS,
    DATA_S1_ROWS,
    REGULATORY_ROWS,
    S5_HEADER,
    S5_ROWS,
    S5_TITLE,
    SGA_HEADER,
    SGA_ROWS,
    STRING_HEADER,
    STRING_NAME,
    STRING_ROWS,
    biogrid_row,
    cells,
    sga_copies,
    write_data_s1,
    write_sga,
    write_smf,
    write_string,
    write_table,
    write_xlsx,
)
from torchcell_core.errors import DuplicateRowError, SourceFormatError
from torchcell_core.loaders import LOADERS
from torchcell_core.networks import read_biogrid_tab3, read_regulatory_tsv, read_string_detailed
from torchcell_core.networks.biogrid import BIOGRID_COLUMNS
from torchcell_core.networks.regulatory import REGULATORY_COLUMNS
from torchcell_core.ontology.obo import read_obo
from torchcell_core.sources.costanzo2016 import read_smf_xlsx
from torchcell_core.sources.costanzo2016_sga import read_sga_file, sga_files_to_parquet
from torchcell_core.sources.duckdb_csv import duckdb_errors_as_source_errors
from torchcell_core.sources.kuzmin2018 import read_kuzmin2018
from torchcell_core.sources.kuzmin2020 import SCREEN_TABLE_COLUMNS, read_kuzmin2020_fitness, read_kuzmin2020_screen
from torchcell_core.sources.load import load_costanzo2016, load_kuzmin2020
from torchcell_core.sources.quality import QualityReport, ValueRules
from torchcell_core.sources.registry import REGISTRY, ResolvedSource

BOM = b"\xef\xbb\xbf"
SMF_ROWS = [
    ["YAL002W_dma1", "YAL002W", "vps8", 0.91, 0.02, 0.92, 0.03],
    ["YAL001C_tsq508", "YAL001C", "tfc3-1", 0.75, 0.05, None, None],
]
KUZMIN_ROWS = [cells(row) for row in DATA_S1_ROWS]
SMF_NAME, S1_NAME, S5_NAME = (
    "strain_ids_and_single_mutant_fitness.xlsx",
    "aaz5667-Table-S1.xlsx",
    "aaz5667-Table-S5.xlsx",
)


def sga_rows(n):
    """`n` distinct, valid SGA rows (one query strain against `n` array strains)."""
    return [f"YAL002W_sn1\tvps8\tYBR066C_dma{i}\tnrg2\tDMA30\t0.01\t0.5\t0.9\t0.9\t0.82\t0.01" for i in range(1, n + 1)]


def raises(call, *args, **kwargs) -> SourceFormatError:
    with pytest.raises(SourceFormatError) as error:
        call(*args, **kwargs)
    return error.value


# --- (1) a file with a header and no rows names the file ---------------------------------------------------


HEADER_ONLY = {
    "sga": (lambda d: write_sga(d / "SGA_ExE.txt", []), read_sga_file, 1),
    "smf": (lambda d: write_smf(d / SMF_NAME, []), read_smf_xlsx, 1),
    "kuzmin2018": (lambda d: write_data_s1(d / "aao1729_data_s1.tsv", []), read_kuzmin2018, 1),
    "kuzmin2020_s1": (lambda d: write_xlsx(d / S1_NAME, SCREEN_TABLE_COLUMNS, []), read_kuzmin2020_screen, 2),
    "kuzmin2020_s5": (lambda d: write_xlsx(d / S5_NAME, S5_HEADER, [], S5_TITLE), read_kuzmin2020_fitness, 2),
    "string": (lambda d: write_string(d / STRING_NAME, []), read_string_detailed, 1),
    "biogrid": (lambda d: write_table(d / BIOGRID_NAME, BIOGRID_COLUMNS, []), read_biogrid_tab3, 1),
    "regulatory": (lambda d: write_table(d / "regulation.tsv", REGULATORY_COLUMNS, []), read_regulatory_tsv, 1),
}


@pytest.mark.parametrize("source", HEADER_ONLY)
def test_header_only_file_is_refused_naming_it(tmp_path, source):
    write, parse, header_line = HEADER_ONLY[source]
    path = write(tmp_path)
    error = raises(parse, path)
    assert (error.path, error.line) == (path, header_line)
    assert "no data rows" in str(error) and path.name in str(error)


def test_each_sga_file_needs_its_own_rows(tmp_path):
    """A header-only SGA_ExE.txt used to parse to 0 rows beside full files, silently emptying its screens."""
    full = write_sga(tmp_path / "SGA_NxN.txt", SGA_ROWS)
    empty = write_sga(tmp_path / "SGA_ExE.txt", [])
    (tmp_path / "SGA_DAmP.txt").write_text(SGA_HEADER + "\n\n\n", encoding="utf-8")  # blank lines are no rows
    error = raises(sga_files_to_parquet, [full, empty], tmp_path / "records.parquet")
    assert (error.path, error.line) == (empty, 1) and "no data rows" in error.reason
    error = raises(sga_files_to_parquet, [full, tmp_path / "SGA_DAmP.txt"], tmp_path / "records.parquet")
    assert error.path.name == "SGA_DAmP.txt"
    assert not (tmp_path / "records.parquet").exists()


# --- (4) a repeated measurement names both lines and the key ----------------------------------------------


def test_costanzo_repeated_measurement_across_files_names_both_lines(tmp_path):
    first = write_sga(tmp_path / "SGA_ExE.txt", [*SGA_ROWS, *sga_copies(SGA_ROWS, 1)])
    second = write_sga(
        tmp_path / "SGA_NxN.txt", [sga_copies(SGA_ROWS, 1, start=5)[0], SGA_ROWS[1].replace("\t0.3\t", "\t0.31\t")]
    )
    with pytest.raises(DuplicateRowError) as error:
        sga_files_to_parquet([first, second], tmp_path / "records.parquet")
    assert (error.value.path, error.value.line, error.value.first_path, error.value.first_line) == (second, 3, first, 3)
    assert error.value.key == ("YAL001C_tsq508", "YBL023C_tsa111", "TSA26")
    assert error.value.key_columns == ("Query Strain ID", "Array Strain ID", "Arraytype/Temp")
    assert f"repeats {first}, line 3" in str(error.value)
    assert not (tmp_path / "records.parquet").exists()
    # The same strains at another temperature are another measurement.
    write_sga(second, [SGA_ROWS[1].replace("\tTSA26\t", "\tTSA30\t")])
    assert sga_files_to_parquet([first, second], tmp_path / "records.parquet")["rows"] == 7


def test_costanzo_repeat_within_a_file_in_the_numbered_reader(tmp_path):
    path = write_sga(tmp_path / "SGA_NxN.txt", [*SGA_ROWS, SGA_ROWS[1]])
    with pytest.raises(DuplicateRowError) as error:
        read_sga_file(path)
    assert (error.value.line, error.value.first_line) == (5, 3)
    assert "repeats line 3" in str(error.value) and "'YAL001C_tsq508', 'YBL023C_tsa111', 'TSA26'" in str(error.value)


def test_kuzmin_repeated_measurements_name_both_lines(tmp_path):
    path = write_data_s1(tmp_path / "aao1729_data_s1.tsv", [*DATA_S1_ROWS, DATA_S1_ROWS[2]])
    with pytest.raises(DuplicateRowError) as error:
        read_kuzmin2018(path)
    assert (error.value.line, error.value.first_line) == (7, 4)
    assert error.value.key_columns == ("Query strain ID", "Array strain ID", "Combined mutant type")
    s1 = write_xlsx(tmp_path / S1_NAME, SCREEN_TABLE_COLUMNS, [*KUZMIN_ROWS, KUZMIN_ROWS[0]])
    with pytest.raises(DuplicateRowError) as error:
        read_kuzmin2020_screen(s1)
    assert (error.value.line, error.value.first_line) == (8, 3)  # spreadsheet rows: title, header, then data
    s5 = write_xlsx(tmp_path / S5_NAME, S5_HEADER, [*S5_ROWS, S5_ROWS[0]], title=S5_TITLE)
    with pytest.raises(DuplicateRowError) as error:
        read_kuzmin2020_fitness(s5)
    assert (error.value.line, error.value.first_line, error.value.key) == (6, 3, ("tm1",))


def test_smf_strain_listed_twice_is_refused(tmp_path):
    path = write_smf(tmp_path / SMF_NAME, [*SMF_ROWS, [*SMF_ROWS[0][:3], 0.5, 0.1, 0.5, 0.1]])
    with pytest.raises(DuplicateRowError) as error:
        read_smf_xlsx(path)
    assert (error.value.line, error.value.first_line, error.value.key) == (4, 2, ("YAL002W_dma1",))


def test_string_directed_pair_twice_is_refused_but_both_directions_merge(tmp_path):
    rows = [*STRING_ROWS, STRING_ROWS[2]]
    with pytest.raises(DuplicateRowError) as error:
        read_string_detailed(write_string(tmp_path / STRING_NAME, rows))
    assert (error.value.line, error.value.first_line) == (11, 4)
    assert error.value.key == ("4932.YCR003W", "4932.YAL001C")


def test_biogrid_repeated_interaction_id_is_refused_but_repeated_pairs_merge(tmp_path):
    rows = [*BIOGRID_ROWS, biogrid_row(4, "YAL001C", "YCR003W", "Synthetic Lethality", "genetic", "PUBMED:1")]
    with pytest.raises(DuplicateRowError) as error:
        read_biogrid_tab3(write_table(tmp_path / BIOGRID_NAME, BIOGRID_COLUMNS, rows), chunk_rows=4)
    assert (error.value.line, error.value.first_line, error.value.key) == (11, 5, ("4",))
    report = QualityReport()
    _, stats = read_biogrid_tab3(write_table(tmp_path / BIOGRID_NAME, BIOGRID_COLUMNS, BIOGRID_ROWS), report=report)
    assert stats["duplicates_merged"] == 3 and report.rows_read == 9


def test_regulatory_identical_rows_are_merged_and_counted(tmp_path):
    _, stats = read_regulatory_tsv(write_table(tmp_path / "regulation.tsv", REGULATORY_COLUMNS, REGULATORY_ROWS))
    assert stats["identical_rows_merged"] == 1 and stats["duplicates_merged"] == 2


# --- (9) byte order marks, encodings and broken workbooks ---------------------------------------------------


def with_bom(path):
    path.write_bytes(BOM + path.read_bytes())
    return path


def test_text_parsers_accept_a_utf8_byte_order_mark(tmp_path):
    sga = with_bom(write_sga(tmp_path / "SGA_NxN.txt", SGA_ROWS))
    assert read_sga_file(sga)["line"].tolist() == [2, 3, 4]
    assert sga_files_to_parquet([sga], tmp_path / "records.parquet")["rows"] == 3
    s1 = with_bom(write_data_s1(tmp_path / "aao1729_data_s1.tsv", DATA_S1_ROWS))
    assert read_kuzmin2018(s1)["line"].tolist()[0] == 2
    plain = with_bom(write_string(tmp_path / "4932.protein.links.detailed.v11.0.txt", STRING_ROWS, compress=False))
    assert read_string_detailed(plain)[1]["rows_read"] == 9
    zipped = tmp_path / STRING_NAME
    zipped.write_bytes(gzip.compress(BOM + gzip.decompress(write_string(zipped, STRING_ROWS).read_bytes())))
    assert read_string_detailed(zipped)[1]["rows_read"] == 9
    biogrid = with_bom(write_table(tmp_path / BIOGRID_NAME, BIOGRID_COLUMNS, BIOGRID_ROWS))
    assert read_biogrid_tab3(biogrid)[1]["rows_read"] == 9
    regulatory = with_bom(write_table(tmp_path / "regulation.tsv", REGULATORY_COLUMNS, REGULATORY_ROWS))
    assert read_regulatory_tsv(regulatory)[1]["rows_read"] == 8


def test_byte_order_mark_keeps_line_numbers_and_header_checks(tmp_path):
    path = with_bom(write_sga(tmp_path / "SGA_NxN.txt", [SGA_ROWS[0], SGA_ROWS[1].replace("\t0.0521\t", "\tabc\t")]))
    error = raises(sga_files_to_parquet, [path], tmp_path / "records.parquet")
    assert (error.line, error.column) == (3, "Genetic interaction score (ε)")
    path = with_bom(write_sga(tmp_path / "SGA_NxN.txt", SGA_ROWS, header=SGA_HEADER.replace("Array SMF", "SMF")))
    error = raises(read_sga_file, path)
    assert (error.line, error.column) == (1, "Array SMF") and "'SMF'" in str(error)


def test_obo_with_a_byte_order_mark_keeps_its_header(tmp_path):
    path = tmp_path / "go-basic.obo"
    text = "format-version: 1.2\ndata-version: releases/2024-01-01\n\n[Term]\nid: GO:0008150\nname: bp\n"
    path.write_bytes(BOM + (text + "namespace: biological_process\n").encode())
    dag = read_obo(path)
    assert dag.metadata["format_version"] == "1.2" and dag.metadata["go_release"] == "2024-01-01"


def broken_sheet_xml(tmp_path) -> bytes:
    """A real workbook whose sheet XML is cut in half (the zip itself is sound)."""
    whole = write_xlsx(tmp_path / "whole.xlsx", SCREEN_TABLE_COLUMNS, KUZMIN_ROWS).read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(whole)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            target.writestr(item, data[: len(data) // 2] if "sheet1" in item.filename else data)
    return out.getvalue()


@pytest.mark.parametrize(
    "content",
    [b"", b"PK\x03\x04 not really a zip", b"just text", broken_sheet_xml],
    ids=["empty", "cut", "text", "bad-xml"],
)
def test_broken_workbooks_name_the_file(tmp_path, content):
    content = content(tmp_path) if callable(content) else content
    for name, parse in (
        (SMF_NAME, read_smf_xlsx),
        (S1_NAME, read_kuzmin2020_screen),
        (S5_NAME, read_kuzmin2020_fitness),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        error = raises(parse, path)
        assert error.path == path and "not a valid xlsx workbook" in error.reason


def test_duckdb_error_without_a_line_keeps_its_reason(tmp_path):
    path = tmp_path / "SGA_NxN.txt"
    path.write_bytes(b"header\nok\nbad \xe9 byte\n")
    message = (
        "Invalid Input Error: Invalid unicode (byte sequence mismatch) detected. This file is not utf-8 encoded.\n\n"
        f"Possible Solution: Set the correct encoding\n\n  file = {path}\n  delimiter = \t (Set By User)\n"
    )
    with pytest.raises(SourceFormatError) as error:
        with duckdb_errors_as_source_errors(tmp_path / "other.txt"):
            raise duckdb.InvalidInputException(message)
    assert error.value.path == path and error.value.line == 3
    assert error.value.reason.startswith("Invalid unicode (byte sequence mismatch) detected")


def test_latin1_bodies_are_refused_with_the_line(tmp_path):
    path = write_sga(tmp_path / "SGA_NxN.txt", SGA_ROWS)
    path.write_bytes(path.read_bytes() + SGA_ROWS[0].replace("vps8", "vps\xe9").encode("latin-1") + b"\n")
    error = raises(sga_files_to_parquet, [path], tmp_path / "records.parquet")
    assert (error.path, error.line) == (path, 5) and "not utf-8 encoded" in error.reason
    regulatory = write_table(tmp_path / "regulation.tsv", REGULATORY_COLUMNS, REGULATORY_ROWS)
    latin = "YKL112W\tABF1\tYAL001C\tTFC3\tactivator\tChIP\tSGD \xe9\n".encode("latin-1")
    regulatory.write_bytes(regulatory.read_bytes() + latin)
    error = raises(read_regulatory_tsv, regulatory)
    assert error.line == 10 and "not UTF-8" in error.reason
    rows = [*STRING_ROWS[:5], "4932.YBL002W 4932.YCR\xe9 0 0 0 150 300 0 100 420"]
    string = tmp_path / STRING_NAME
    string.write_bytes(gzip.compress(("\n".join([STRING_HEADER, *rows]) + "\n").encode("latin-1")))
    error = raises(read_string_detailed, string)
    assert (error.path, error.line) == (string, 7) and "not UTF-8" in error.reason
    obo = tmp_path / "go-basic.obo"
    obo.write_bytes(b"format-version: 1.2\n\n[Term]\nid: GO:0008150\nname: biological_proc\xe9ss\n")
    error = raises(read_obo, obo)
    assert (error.path, error.line) == (obo, 5) and "not UTF-8" in error.reason


# --- (12) out-of-range values are dropped and reported, up to a fraction ---------------------------------------


def test_costanzo_drops_a_rare_out_of_range_value_and_reports_it(tmp_path):
    rows = sga_rows(2500)
    rows[1200] = rows[1200].replace("\t0.82\t", "\t2.5\t")  # line 1202
    first = write_sga(tmp_path / "SGA_NxN.txt", rows)
    second = write_sga(tmp_path / "SGA_ExE.txt", SGA_ROWS)
    out, report = tmp_path / "records.parquet", QualityReport()
    stats = sga_files_to_parquet([first, second], out, report=report)
    assert stats["rows"] == 2502 and stats["rows_per_file"] == {"SGA_ExE.txt": 3, "SGA_NxN.txt": 2499}
    assert report.as_dict() == {
        "rows_read": 2503,
        "out_of_range_rows_dropped": 1,
        "out_of_range_by_column": {"Double mutant fitness": 1},
        "out_of_range_examples": [
            {"file": "SGA_NxN.txt", "line": 1202, "column": "Double mutant fitness", "value": 2.5, "bounds": [0.0, 2.0]}
        ],
    }
    kept = pd.read_parquet(out)
    assert len(kept) == 2502 and kept["dmf"].max() <= 2.0 and not (tmp_path / "records.parquet.partial").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SGA_ExE.txt", "SGA_NxN.txt", "records.parquet"]
    assert len(read_sga_file(first)) == 2499  # the numbered reader drops it too
    error = raises(sga_files_to_parquet, [first, second], out, rules=ValueRules(max_out_of_range_fraction=0.0))
    assert (error.path, error.line, error.column) == (first, 1202, "Double mutant fitness")
    assert "1 of 2503 rows" in error.reason and "0.0000% tolerated" in error.reason


def test_costanzo_fails_when_too_many_values_are_out_of_range(tmp_path):
    rows = sga_rows(500)
    for position in (10, 300, 310):
        rows[position] = rows[position].replace("\t0.01\t0.5\t", "\t-2.5\t0.5\t")
    path = write_sga(tmp_path / "SGA_NxN.txt", rows)
    error = raises(sga_files_to_parquet, [path], tmp_path / "records.parquet")
    assert (error.line, error.column) == (12, "Genetic interaction score (ε)")
    assert "value -2.5 outside the plausible range [-2, 2]; 3 of 500 rows (0.6000%)" in error.reason
    assert "more than the 0.1000% tolerated" in error.reason
    report = QualityReport()
    stats = sga_files_to_parquet([path], tmp_path / "records.parquet", rules=ValueRules(0.01), report=report)
    assert stats["rows"] == 497 and [e["line"] for e in report.examples] == [12, 302, 312]


def test_non_numbers_still_fail_at_once_whatever_the_rules(tmp_path):
    rows = sga_rows(3000)
    rows[5] = rows[5].replace("\t0.82\t", "\tn/a\t")
    path = write_sga(tmp_path / "SGA_NxN.txt", rows)
    error = raises(sga_files_to_parquet, [path], tmp_path / "r.parquet", rules=ValueRules(1.0))
    assert (error.line, error.column) == (7, "Double mutant fitness")


def test_small_parsers_drop_out_of_range_rows_within_the_rules(tmp_path):
    lenient, report = ValueRules(max_out_of_range_fraction=0.5), QualityReport()
    s1 = [DATA_S1_ROWS[0], DATA_S1_ROWS[1].replace("\t0.71\t", "\t71\t"), DATA_S1_ROWS[2]]
    frame = read_kuzmin2018(write_data_s1(tmp_path / "aao1729_data_s1.tsv", s1), rules=lenient, report=report)
    assert frame["line"].tolist() == [2, 4]
    s5 = [S5_ROWS[0], [*S5_ROWS[2][:8], 4.2, 0.01]]
    fitness = read_kuzmin2020_fitness(
        write_xlsx(tmp_path / S5_NAME, S5_HEADER, s5, S5_TITLE), rules=lenient, report=report
    )
    assert fitness["line"].tolist() == [3]
    smf = read_smf_xlsx(
        write_smf(tmp_path / SMF_NAME, [*SMF_ROWS, ["YAL003W_dma2", "YAL003W", "efb1", 9, 0, 1, 0]]),
        rules=lenient,
        report=report,
    )
    assert smf["strain"].tolist() == ["YAL002W_dma1", "YAL001C_tsq508"]
    string_rows = [*STRING_ROWS[:4], "4932.YBL002W 4932.YCR003W 0 1200 0 0 0 0 0 190"]
    read_string_detailed(write_string(tmp_path / STRING_NAME, string_rows), rules=lenient, report=report)
    assert [(e["file"], e["line"], e["column"], e["value"]) for e in report.examples] == [
        ("aao1729_data_s1.tsv", 3, "Combined mutant fitness", 71.0),
        (S5_NAME, 4, "Fitness", 4.2),
        (SMF_NAME, 4, "Single mutant fitness (26°)", 9.0),
        (STRING_NAME, 6, "fusion", 1200.0),
    ]
    assert report.rows_read == 3 + 2 + 3 + 5 and report.out_of_range_rows == 4
    with pytest.raises(SourceFormatError, match="outside the plausible range"):
        read_kuzmin2018(tmp_path / "aao1729_data_s1.tsv")  # 1 of 3 rows is above the default 0.1%


# --- load.py: the rules reach every parser, and a bad file means nothing written --------------------------------


def resolved(key, directory, files):
    return ResolvedSource(REGISTRY[key], directory, {name: directory / name for name in files}, False, {})


def test_every_loader_takes_rules_and_reports_what_it_tolerated(tmp_path):
    for name, loader in LOADERS.items():
        assert list(inspect.signature(loader).parameters)[3] == "rules", name
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    out.mkdir()
    write_smf(raw / SMF_NAME, SMF_ROWS)
    rows = sga_rows(2000)
    rows[7] = rows[7].replace("\t0.9\t0.82\t", "\t2.9\t0.82\t")
    write_sga(raw / "SGA_NxN.txt", rows)
    summary = load_costanzo2016(resolved("costanzo2016", raw, [SMF_NAME, "SGA_NxN.txt"]), out, {"YAL002W"})
    assert summary["rows"] == 1999 and summary["rows_read"] == 2002 and summary["duplicates_merged"] == 0
    assert summary["out_of_range_rows_dropped"] == 1 and summary["out_of_range_by_column"] == {"Array SMF": 1}
    assert summary["out_of_range_examples"][0]["line"] == 9
    with pytest.raises(SourceFormatError):
        load_costanzo2016(
            resolved("costanzo2016", raw, [SMF_NAME, "SGA_NxN.txt"]), tmp_path, {"YAL002W"}, rules=ValueRules(0.0)
        )


def test_kuzmin2020_loader_writes_nothing_when_a_later_table_fails(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    out.mkdir()
    write_xlsx(raw / S1_NAME, SCREEN_TABLE_COLUMNS, KUZMIN_ROWS)
    (raw / S5_NAME).write_bytes(b"")
    with pytest.raises(SourceFormatError, match="not a valid xlsx workbook") as error:
        load_kuzmin2020(resolved("kuzmin2020", raw, [S1_NAME, S5_NAME]), out, set())
    assert error.value.path == raw / S5_NAME
    assert list(out.iterdir()) == []
    write_xlsx(raw / S5_NAME, S5_HEADER, S5_ROWS, title=S5_TITLE)
    summary = load_kuzmin2020(resolved("kuzmin2020", raw, [S1_NAME, S5_NAME]), out, set())
    assert summary["outputs"] == {"records.parquet": 5, "single_mutant_fitness.parquet": 3}
    assert summary["rows_read"] == 8 and summary["out_of_range_rows_dropped"] == 0


def test_costanzo_loader_writes_nothing_when_an_sga_file_fails(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    out.mkdir()
    write_smf(raw / SMF_NAME, SMF_ROWS)
    write_sga(raw / "SGA_NxN.txt", SGA_ROWS)
    write_sga(raw / "SGA_ExE.txt", [])
    files = [SMF_NAME, "SGA_NxN.txt", "SGA_ExE.txt"]
    with pytest.raises(SourceFormatError, match="no data rows"):
        load_costanzo2016(resolved("costanzo2016", raw, files), out, set())
    assert list(out.iterdir()) == []
    assert load_costanzo2016(resolved("costanzo2016", raw, files[:2]), out, set())["rows"] == 3
