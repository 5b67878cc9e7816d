"""Kuzmin 2018 / 2020 trigenic parsers and the trigenic score, on tiny files in the published formats."""

import numpy as np
import pandas as pd
import pytest

from tests.support.formats import (
    DATA_S1_HEADER,
    DATA_S1_ROWS,
    S5_HEADER,
    S5_ROWS,
    S5_TITLE,
    cells,
    write_data_s1,
    write_xlsx,
)
from torchcell_core.errors import SourceFormatError
from torchcell_core.sources.kuzmin2018 import DATA_S1_COLUMNS, SCREEN_COLUMNS, read_kuzmin2018
from torchcell_core.sources.kuzmin2020 import (
    FITNESS_COLUMNS,
    SCREEN_TABLE_COLUMNS,
    SCREEN_TABLE_OUTPUT,
    read_kuzmin2020_fitness,
    read_kuzmin2020_screen,
    read_kuzmin2020_screens,
)
from torchcell_core.sources.trigenic import (
    digenic_epsilon,
    raw_trigenic_epsilon,
    score_consistency,
    trigenic_tau,
)


def copies(rows, n):
    """`n` copies of `rows` with their array strains renumbered (`_dma91` → `_dma{91 + 1000k}`), all distinct."""
    out = []
    for k in range(n):
        for row in rows:
            fields = row.split("\t")
            strain, number = fields[2].rstrip("0123456789"), fields[2][len(fields[2].rstrip("0123456789")) :]
            fields[2] = f"{strain}{int(number) + 1000 * k}"
            out.append("\t".join(fields))
    return out


def tsv_error(tmp_path, rows, header=DATA_S1_HEADER):
    path = write_data_s1(tmp_path / "aao1729_data_s1.tsv", rows, header)
    with pytest.raises(SourceFormatError) as error:
        read_kuzmin2018(path)
    return error.value


def test_data_s1_parses_digenic_and_trigenic_rows(tmp_path):
    frame = read_kuzmin2018(write_data_s1(tmp_path / "aao1729_data_s1.tsv", DATA_S1_ROWS))
    assert tuple(frame.columns) == SCREEN_COLUMNS
    assert list(frame["mutant_type"]) == ["digenic", "digenic", "trigenic", "digenic", "digenic"]
    # The hoΔ marker is dropped wherever it sits; digenic rows have no second query gene.
    assert list(frame["query_gene_1"]) == ["YAL015C", "YAL015C", "YAR002W", "YAR002W", "YBR160W"]
    assert list(frame["query_gene_2"]) == [None, None, "YBR160W", None, None]
    assert list(frame["array_gene"]) == ["YBL007C", "YBL023C", "YBR066C", "YBL023C", "YBR066C"]
    assert list(frame["array_kind"]) == ["dma", "tsa", "dma", "tsa", "dma"]
    assert frame["p_value"].tolist() == pytest.approx([0.45, 0.01, 0.001, 0.2, 0.3])
    assert frame["adjusted_score"][2] == pytest.approx(-0.15) and frame["raw_score"][2] == pytest.approx(-0.2)
    assert np.isnan(frame["combined_fitness_std"][3])
    assert frame["combined_fitness"].dtype == np.float64 and frame["line"].dtype == np.int64
    assert list(frame["line"]) == [2, 3, 4, 5, 6]
    assert set(frame["source_file"]) == {"aao1729_data_s1.tsv"}


def test_wrong_column_name_is_named(tmp_path):
    header = DATA_S1_HEADER.replace("Adjusted genetic interaction score (epsilon or tau)", "Adjusted score")
    error = tsv_error(tmp_path, DATA_S1_ROWS, header)
    assert (error.line, error.column) == (1, "Adjusted genetic interaction score (epsilon or tau)")
    assert "'Adjusted score'" in str(error)


def test_missing_column_is_named(tmp_path):
    columns = [c for c in DATA_S1_COLUMNS if c != "P-value"]
    rows = ["\t".join(f for n, f in enumerate(row.split("\t")) if n != 7) for row in DATA_S1_ROWS]
    error = tsv_error(tmp_path, rows, "\t".join(columns))
    assert (error.line, error.column) == (1, "P-value")


def test_non_numeric_score_names_file_line_and_column(tmp_path):
    rows = [*DATA_S1_ROWS[:2], DATA_S1_ROWS[2].replace("\t-0.2\t", "\tn/a\t")]
    error = tsv_error(tmp_path, rows)
    assert (error.path.name, error.line, error.column) == (
        "aao1729_data_s1.tsv",
        4,
        "Raw genetic interaction score (epsilon)",
    )
    assert "'n/a'" in str(error)


def test_implausible_fitness_is_an_error(tmp_path):
    error = tsv_error(tmp_path, [DATA_S1_ROWS[0], DATA_S1_ROWS[1].replace("\t0.71\t", "\t71\t")])
    assert (error.line, error.column) == (3, "Combined mutant fitness")


def test_unknown_array_suffix_is_an_error(tmp_path):
    error = tsv_error(tmp_path, [*DATA_S1_ROWS[:3], DATA_S1_ROWS[3].replace("YBL023C_tsa111", "YBL023C_xyz111")])
    assert (error.line, error.column) == (5, "Array strain ID")
    assert "'xyz'" in str(error)


def test_query_kind_in_array_column_is_an_error(tmp_path):
    error = tsv_error(tmp_path, [DATA_S1_ROWS[0], DATA_S1_ROWS[1].replace("YBL023C_tsa111", "YBL023C_tsq111")])
    assert (error.line, error.column) == (3, "Array strain ID")


def test_unknown_or_malformed_query_strain_is_an_error(tmp_path):
    error = tsv_error(tmp_path, [DATA_S1_ROWS[0], DATA_S1_ROWS[2].replace("_tm802", "_qq802")])
    assert (error.line, error.column) == (3, "Query strain ID") and "'qq'" in str(error)
    error = tsv_error(tmp_path, [DATA_S1_ROWS[1].replace("YAL015C+YDL227C_tm461", "YAL015C_tm461")])
    assert (error.line, error.column) == (2, "Query strain ID") and "malformed" in str(error)


def test_mutant_type_must_agree_with_the_ho_marker(tmp_path):
    rows = [DATA_S1_ROWS[0], DATA_S1_ROWS[2], DATA_S1_ROWS[1].replace("\tdigenic\t", "\ttrigenic\t")]
    error = tsv_error(tmp_path, rows)
    assert (error.line, error.column) == (4, "Combined mutant type")
    assert "YDL227C" in str(error) and "digenic" in str(error)
    error = tsv_error(tmp_path, [DATA_S1_ROWS[0], DATA_S1_ROWS[2].replace("\ttrigenic\t", "\tdigenic\t")])
    assert (error.line, error.column) == (3, "Combined mutant type")
    error = tsv_error(tmp_path, [DATA_S1_ROWS[0].replace("\tdigenic\t", "\tquadrigenic\t")])
    assert (error.line, error.column) == (2, "Combined mutant type")


def test_wrong_field_count_names_the_line(tmp_path):
    assert tsv_error(tmp_path, [DATA_S1_ROWS[0], DATA_S1_ROWS[1] + "\textra", DATA_S1_ROWS[2]]).line == 3
    assert tsv_error(tmp_path, [*DATA_S1_ROWS[:3], DATA_S1_ROWS[3].rsplit("\t", 2)[0]]).line == 5


def test_many_rows_keep_their_lines(tmp_path):
    frame = read_kuzmin2018(write_data_s1(tmp_path / "aao1729_data_s1.tsv", copies(DATA_S1_ROWS, 1000)))
    assert len(frame) == 5000 and frame["line"].tolist() == list(range(2, 5002))
    assert (frame["mutant_type"] == "trigenic").sum() == 1000


# --- Kuzmin 2020 spreadsheets -------------------------------------------------------------------------

# 2020 S3 style: the digenic query fitness is left blank, dead combinations score below zero.
S3_ROW = cells(
    "YMR198W+YDL227C_tm467\tcik1Δ+hoΔ\tYPR162C_tsa1247\torc4-5001\tdigenic\t-0.718108\t-0.718108\t1.71E-57\t\t0.6379\t-0.0802\t0.0671"
)


def test_2020_tables_keep_s1_and_s3_apart(tmp_path):
    s1 = write_xlsx(tmp_path / "aaz5667-Table-S1.xlsx", SCREEN_TABLE_COLUMNS, [cells(r) for r in DATA_S1_ROWS[:3]])
    s3 = write_xlsx(tmp_path / "aaz5667-Table-S3.xlsx", SCREEN_TABLE_COLUMNS, [S3_ROW])
    frame = read_kuzmin2020_screens([s1, s3])
    assert tuple(frame.columns) == SCREEN_TABLE_OUTPUT
    assert list(frame["screen_id"]) == ["kuzmin2020_s1"] * 3 + ["kuzmin2020_s3"]
    assert list(frame["line"]) == [3, 4, 5, 3]  # title on row 1, header on row 2
    assert list(frame["mutant_type"]) == ["digenic", "digenic", "trigenic", "digenic"]
    assert list(frame["query_gene_2"]) == [None, None, "YBR160W", None]
    assert np.isnan(frame["query_fitness"][3]) and frame["combined_fitness"][3] == pytest.approx(-0.0802)
    assert frame["p_value"][3] == pytest.approx(1.71e-57)
    assert list(frame["source_file"]) == ["aaz5667-Table-S1.xlsx"] * 3 + ["aaz5667-Table-S3.xlsx"]


def test_2020_header_on_row_one_is_an_error(tmp_path):
    path = write_xlsx(tmp_path / "aaz5667-Table-S1.xlsx", SCREEN_TABLE_COLUMNS, [S3_ROW, S3_ROW], title=None)
    with pytest.raises(SourceFormatError) as error:
        read_kuzmin2020_screen(path)
    assert error.value.line == 2
    assert "header expected on row 2" in str(error.value) and "on row 1" in str(error.value)
    assert "YMR198W+YDL227C_tm467" in str(error.value)


def test_2020_uses_its_own_fitness_column_names(tmp_path):
    path = write_xlsx(tmp_path / "aaz5667-Table-S1.xlsx", DATA_S1_COLUMNS, [S3_ROW])
    with pytest.raises(SourceFormatError) as error:
        read_kuzmin2020_screen(path)
    assert (error.value.line, error.value.column) == (2, "Double/triple mutant fitness")


def test_2020_bad_cell_names_the_spreadsheet_row(tmp_path):
    bad = list(S3_ROW)
    bad[6] = "high"
    path = write_xlsx(tmp_path / "pilot.xlsx", SCREEN_TABLE_COLUMNS, [S3_ROW, [], bad])
    with pytest.raises(SourceFormatError) as error:
        read_kuzmin2020_screen(path, screen_id="kuzmin2020_s3")
    assert (error.value.line, error.value.column) == (5, "Adjusted genetic interaction score (epsilon or tau)")


def test_2020_screen_id_needs_a_table_name(tmp_path):
    path = write_xlsx(tmp_path / "pilot.xlsx", SCREEN_TABLE_COLUMNS, [S3_ROW])
    with pytest.raises(ValueError, match="screen_id"):
        read_kuzmin2020_screen(path)


def test_s5_single_and_double_mutant_fitness(tmp_path):
    path = write_xlsx(tmp_path / "aaz5667-Table-S5.xlsx", S5_HEADER, S5_ROWS, title=S5_TITLE)
    frame = read_kuzmin2020_fitness(path)
    assert tuple(frame.columns) == FITNESS_COLUMNS
    assert list(frame["mutant_type"]) == ["double", "double", "single"]
    assert list(frame["orf_2"]) == ["YGL002W", "YLR131C", None]
    assert list(frame["allele_1"]) == ["erp1Δ", "swi5Δ", "ntg1Δ"]
    assert frame["fitness"][0] == pytest.approx(0.87051) and np.isnan(frame["fitness"][1])
    assert list(frame["line"]) == [3, 4, 5]


def test_s5_without_double_mutant_columns(tmp_path):
    header = ["Mutant type", "Query Strain ID", "ORF1", "Gene1", "Allele1", "Fitness", "St.dev."]
    rows = [["Single mutant", "tm461", "YAL015C", "NTG1", "ntg1Δ", 0.962, 0.01]]
    frame = read_kuzmin2020_fitness(write_xlsx(tmp_path / "s5.xlsx", header, rows, title=S5_TITLE))
    assert frame["orf_2"].tolist() == [None] and frame["fitness_std"].tolist() == pytest.approx([0.01])
    assert frame["line"].tolist() == [3]
    untitled = write_xlsx(tmp_path / "untitled.xlsx", header, rows, title=None)
    with pytest.raises(SourceFormatError, match="header expected on row 2.*on row 1"):
        read_kuzmin2020_fitness(untitled)
    assert read_kuzmin2020_fitness(untitled, header_row=1)["line"].tolist() == [2]


def test_s5_errors(tmp_path):
    missing = [name for name in S5_HEADER if name != "St.dev."]
    path = write_xlsx(tmp_path / "s5.xlsx", missing, [row[:-1] for row in S5_ROWS], title=S5_TITLE)
    with pytest.raises(SourceFormatError) as error:
        read_kuzmin2020_fitness(path)
    assert (error.value.line, error.value.column) == (2, "St.dev.")
    rows = [S5_ROWS[0], [*S5_ROWS[1][:2], None, *S5_ROWS[1][3:]]]
    with pytest.raises(SourceFormatError) as error:
        read_kuzmin2020_fitness(write_xlsx(tmp_path / "s5.xlsx", S5_HEADER, rows, title=S5_TITLE))
    assert (error.value.line, error.value.column) == (4, "ORF2")
    rows = [[*S5_ROWS[0][:7], "Triple mutant", *S5_ROWS[0][8:]]]
    with pytest.raises(SourceFormatError) as error:
        read_kuzmin2020_fitness(write_xlsx(tmp_path / "s5.xlsx", S5_HEADER, rows, title=S5_TITLE))
    assert (error.value.line, error.value.column) == (3, "Mutant type")


# --- Scores --------------------------------------------------------------------------------------------


def test_tau_on_hand_computed_numbers():
    # f_i .9, f_j .8, f_k .7; ε_ij = .6 − .72 = −.12, ε_ik = .65 − .63 = .02, ε_jk = .5 − .56 = −.06;
    # τ = .2 − .504 − (−.12)(.7) − (.02)(.8) − (−.06)(.9) = .2 − .504 + .084 − .016 + .054 = −.182
    tau = trigenic_tau(0.2, 0.9, 0.8, 0.7, 0.6, 0.65, 0.5)
    assert tau.shape == () and float(tau) == pytest.approx(-0.182)
    assert float(digenic_epsilon(0.6, 0.9, 0.8)) == pytest.approx(-0.12)
    assert float(raw_trigenic_epsilon(0.2, 0.6, 0.7)) == pytest.approx(0.2 - 0.42)


def test_tau_vectorised_and_zero_without_interactions():
    rng = np.random.default_rng(0)
    f_i, f_j, f_k = rng.uniform(0.3, 1.1, (3, 50))
    no_interaction = trigenic_tau(f_i * f_j * f_k, f_i, f_j, f_k, f_i * f_j, f_i * f_k, f_j * f_k)
    assert no_interaction.shape == (50,) and np.allclose(no_interaction, 0.0)
    f_ij, f_ik, f_jk, f_ijk = rng.uniform(0.1, 1.0, (4, 50))
    tau = trigenic_tau(f_ijk, f_i, f_j, f_k, f_ij, f_ik, f_jk)
    # τ = raw ε_ijk − ε_ik·f_j − ε_jk·f_i (the raw score already holds ε_ij·f_k)
    expected = raw_trigenic_epsilon(f_ijk, f_ij, f_k) - digenic_epsilon(f_ik, f_i, f_k) * f_j
    expected -= digenic_epsilon(f_jk, f_j, f_k) * f_i
    assert np.allclose(tau, expected)
    assert trigenic_tau(f_ijk[:, None], f_i, f_j, f_k, f_ij, f_ik, f_jk).shape == (50, 50)
    assert np.isnan(trigenic_tau(np.nan, 1, 1, 1, 1, 1, 1))


def test_score_consistency_on_data_s1_rows(tmp_path):
    frame = read_kuzmin2018(write_data_s1(tmp_path / "aao1729_data_s1.tsv", DATA_S1_ROWS))
    report = score_consistency(frame, tolerance=1e-6)
    assert report["checked"] == 5 and report["skipped"] == 0
    assert report["fraction_within"] == pytest.approx(4 / 5)
    assert report["max_deviation"] == pytest.approx(0.05)
    assert report["by_mutant_type"]["trigenic"] == {
        "checked": 1,
        "fraction_within": 1.0,
        "max_deviation": pytest.approx(0),
    }
    assert report["by_mutant_type"]["digenic"]["fraction_within"] == pytest.approx(3 / 4)
    assert score_consistency(frame, tolerance=0.06)["fraction_within"] == 1.0


def test_score_consistency_skips_rows_without_query_fitness():
    frame = pd.DataFrame(
        {
            "mutant_type": ["digenic", "trigenic"],
            "raw_score": [-0.718108, -0.2],
            "query_fitness": [np.nan, 0.8],
            "array_fitness": [0.6379, 0.9],
            "combined_fitness": [-0.0802, 0.52],
        }
    )
    report = score_consistency(frame)
    assert (report["checked"], report["skipped"], report["fraction_within"]) == (1, 1, 1.0)
    assert list(report["by_mutant_type"]) == ["trigenic"]
