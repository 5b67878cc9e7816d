"""The Costanzo 2016 loader on tiny files in the exact released format, good and malformed."""

import numpy as np
import pandas as pd
import pytest

from tests.support.formats import SGA_HEADER, SGA_ROWS, sga_copies, write_sga, write_smf
from torchcell_core.errors import SourceFormatError
from torchcell_core.sources.costanzo2016 import read_smf_xlsx
from torchcell_core.sources.costanzo2016_sga import iter_digenic_records, read_sga_file, sga_files_to_parquet
from torchcell_core.sources.strains import parse_strain_id


def test_sga_file_parses_typed_records(tmp_path):
    path = write_sga(tmp_path / "SGA_NxN.txt", SGA_ROWS)
    chunk = read_sga_file(path)
    assert list(chunk["query_gene"]) == ["YAL002W", "YAL001C", "YAL001C"]
    assert list(chunk["query_kind"]) == ["sn", "tsq", "tsq"]
    assert list(chunk["array_kind"]) == ["dma", "tsa", "damp"]
    assert list(chunk["array_type"]) == ["DMA", "TSA", "DMA"]
    assert list(chunk["temperature"]) == [30, 26, 26]
    assert chunk["epsilon"].tolist() == pytest.approx([-0.0348, 0.0521, -0.1])
    assert pd.isna(chunk["dmf_std"][1]) and pd.isna(chunk["p_value"][2])
    assert list(chunk["line"]) == [2, 3, 4]
    records = list(iter_digenic_records([path]))
    assert records[0].query_allele == "vps8" and records[0].array_smf == pytest.approx(0.9881)
    assert records[0].source_file == "SGA_NxN.txt"


def test_line_numbers_follow_the_file_across_reader_chunks(tmp_path):
    """DuckDB reads in parallel chunks; every row must still carry its own file line."""
    n = 250_000
    lines = np.arange(2, n + 2)
    rows = [f"YAL002W_sn1\tvps8\tYBR066C_dma{line}\tnrg2\tDMA30\t0.0\t0.5\t0.9\t0.9\t0.81\t{line}e-9" for line in lines]
    path = write_sga(tmp_path / "SGA_NxN.txt", rows)
    frame = read_sga_file(path)
    assert (frame["line"].to_numpy() == lines).all()
    assert np.allclose(frame["dmf_std"].to_numpy() * 1e9, frame["line"].to_numpy())


def test_bulk_parquet_counts_unknown_genes_and_keeps_old_output_on_failure(tmp_path):
    first = write_sga(tmp_path / "SGA_NxN.txt", SGA_ROWS[:2])
    second = write_sga(tmp_path / "SGA_DAmP.txt", SGA_ROWS[2:])
    out = tmp_path / "records.parquet"
    stats = sga_files_to_parquet([first, second], out, genome_genes={"YAL002W", "YAL001C", "YBR066C"})
    assert stats["rows"] == 3 and stats["rows_per_file"] == {"SGA_DAmP.txt": 1, "SGA_NxN.txt": 2}
    assert stats["unknown_genes"] == 2 and stats["unknown_gene_examples"] == ["YBL023C", "YDL227C"]
    assert stats["rows_with_unknown_genes"] == 2
    before = out.read_bytes()
    write_sga(second, [SGA_ROWS[2].replace("\t-0.1\t", "\tabc\t")])
    with pytest.raises(SourceFormatError) as error:
        sga_files_to_parquet([first, second], out)
    assert (error.value.path.name, error.value.line, error.value.column) == (
        "SGA_DAmP.txt",
        2,
        "Genetic interaction score (ε)",
    )
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


def test_missing_file_names_the_expected_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="SGA_ExE.txt"):
        read_sga_file(tmp_path / "SGA_ExE.txt")


def test_wrong_header_names_the_column(tmp_path):
    bad_header = SGA_HEADER.replace("Genetic interaction score (ε)", "Genetic interaction score")
    path = write_sga(tmp_path / "SGA_NxN.txt", SGA_ROWS, header=bad_header)
    with pytest.raises(SourceFormatError) as error:
        read_sga_file(path)
    assert error.value.line == 1
    assert error.value.column == "Genetic interaction score (ε)"
    assert "SGA_NxN.txt" in str(error.value)


def test_non_numeric_score_names_file_line_and_column(tmp_path):
    rows = [SGA_ROWS[0], SGA_ROWS[1].replace("\t0.0521\t", "\tabc\t")]
    path = write_sga(tmp_path / "SGA_ExN_NxE.txt", rows)
    with pytest.raises(SourceFormatError) as error:
        read_sga_file(path)
    assert (error.value.path.name, error.value.line, error.value.column) == (
        "SGA_ExN_NxE.txt",
        3,
        "Genetic interaction score (ε)",
    )
    assert "'abc'" in str(error.value)


def test_unknown_strain_suffix_is_an_error(tmp_path):
    rows = [SGA_ROWS[0], SGA_ROWS[1], SGA_ROWS[2].replace("YDL227C_damp5", "YDL227C_xyz5")]
    path = write_sga(tmp_path / "SGA_DAmP.txt", rows)
    with pytest.raises(SourceFormatError) as error:
        read_sga_file(path)
    assert (error.value.line, error.value.column) == (4, "Array Strain ID")
    assert "'xyz'" in str(error.value)


def test_out_of_range_fitness_is_an_error(tmp_path):
    rows = [SGA_ROWS[0].replace("\t0.8698\t", "\t-0.5\t")]
    path = write_sga(tmp_path / "SGA_NxN.txt", rows)
    with pytest.raises(SourceFormatError, match="outside the plausible range") as error:
        read_sga_file(path)
    assert error.value.column == "Double mutant fitness"


def test_missing_field_is_an_error(tmp_path):
    path = write_sga(tmp_path / "SGA_NxN.txt", [SGA_ROWS[0], "YAL002W_sn273\tvps8\tYBR066C_dma1"])
    with pytest.raises(SourceFormatError, match="expected 11 delimited fields, found 3") as error:
        read_sga_file(path)
    assert error.value.line == 3
    path = write_sga(tmp_path / "SGA_NxN.txt", [SGA_ROWS[0] + "\textra"])
    with pytest.raises(SourceFormatError, match="found 12") as error:
        read_sga_file(path)
    assert error.value.line == 2


def test_strain_id_parser():
    strain = parse_strain_id("YBL023C_tsa111")
    assert (strain.systematic_name, strain.kind, strain.number) == ("YBL023C", "tsa", 111)
    assert strain.perturbation_type == "temperature_sensitive"
    with pytest.raises(ValueError, match="unknown strain suffix"):
        parse_strain_id("YBL023C_foo1")


def test_smf_xlsx(tmp_path):
    path = write_smf(
        tmp_path / "strain_ids_and_single_mutant_fitness.xlsx",
        [
            ["YAL002W_dma1", "YAL002W", "vps8", 0.91, 0.02, 0.92, 0.03],
            ["YAL001C_tsq508", "YAL001C", "tfc3-1", 0.75, 0.05, None, None],
        ],
    )
    smf = read_smf_xlsx(path)
    assert list(smf["strain"]) == ["YAL002W_dma1", "YAL001C_tsq508"]
    assert smf["smf_26"].tolist() == pytest.approx([0.91, 0.75])
    assert pd.isna(smf["smf_30"][1])


def test_smf_xlsx_bad_value_names_row_and_column(tmp_path):
    path = write_smf(
        tmp_path / "strain_ids_and_single_mutant_fitness.xlsx",
        [["YAL002W_dma1", "YAL002W", "vps8", 0.91, 0.02, "n/a?", 0.03]],
    )
    with pytest.raises(SourceFormatError) as error:
        read_smf_xlsx(path)
    assert (error.value.line, error.value.column) == (2, "Single mutant fitness (30°)")


def test_bad_array_type_names_line_in_a_later_chunk(tmp_path):
    rows = sga_copies(SGA_ROWS, 3) + [SGA_ROWS[0].replace("\tDMA30\t", "\t30DMA\t")]
    path = write_sga(tmp_path / "SGA_NxN.txt", rows)
    with pytest.raises(SourceFormatError, match="'30DMA'") as error:
        read_sga_file(path)
    assert (error.value.line, error.value.column) == (11, "Arraytype/Temp")


def test_malformed_strain_id_in_a_later_chunk(tmp_path):
    rows = sga_copies(SGA_ROWS, 2) + [SGA_ROWS[1].replace("YAL001C_tsq508", "YAL001C-tsq508")]
    path = write_sga(tmp_path / "SGA_NxN.txt", rows)
    with pytest.raises(SourceFormatError, match="malformed strain id 'YAL001C-tsq508'") as error:
        read_sga_file(path)
    assert (error.value.line, error.value.column) == (8, "Query Strain ID")


def test_bulk_parse_locates_the_line_of_a_range_error(tmp_path):
    first = write_sga(tmp_path / "SGA_NxN.txt", sga_copies(SGA_ROWS, 4))
    rows = [SGA_ROWS[0], SGA_ROWS[1].replace("\t0.6121\t", "\t2.5\t"), SGA_ROWS[2]]
    second = write_sga(tmp_path / "SGA_ExE.txt", rows)
    with pytest.raises(SourceFormatError, match="outside the plausible range") as error:
        sga_files_to_parquet([first, second], tmp_path / "out.parquet")
    assert (error.value.path.name, error.value.line, error.value.column) == ("SGA_ExE.txt", 3, "Double mutant fitness")
    assert not (tmp_path / "out.parquet").exists()


def test_blank_line_inside_a_file_is_refused_but_trailing_ones_are_fine(tmp_path):
    path = tmp_path / "SGA_NxN.txt"
    path.write_text("\n".join([SGA_HEADER, SGA_ROWS[0], "", SGA_ROWS[1]]) + "\n", encoding="utf-8")
    with pytest.raises(SourceFormatError, match="blank line") as error:
        read_sga_file(path)
    assert error.value.line == 3
    path.write_text("\n".join([SGA_HEADER, *SGA_ROWS]) + "\n\n\n", encoding="utf-8")
    assert len(read_sga_file(path)) == 3
