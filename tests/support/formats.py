"""Tiny files in the published formats the source parsers read, shared by the parser and loader tests:
Costanzo 2016 SGA pair files and SMF workbook, Kuzmin 2018 Data S1 and Kuzmin 2020 tables, STRING, BioGRID TAB3
and the regulatory TSV. Row comments give the file line a row lands on where tests assert it."""

import gzip
import re

import openpyxl
import pandas as pd

from torchcell_core.networks.biogrid import BIOGRID_COLUMNS
from torchcell_core.networks.string_db import STRING_COLUMNS
from torchcell_core.sources.costanzo2016 import SGA_COLUMNS, SMF_COLUMNS
from torchcell_core.sources.kuzmin2018 import DATA_S1_COLUMNS

# --- Costanzo 2016 ------------------------------------------------------------------------------------------

SGA_HEADER = "\t".join(SGA_COLUMNS)
SGA_ROWS = [
    "YAL002W_sn273\tvps8\tYBR066C_dma1\tnrg2\tDMA30\t-0.0348\t0.01226\t0.9155\t0.9881\t0.8698\t0.0408",
    "YAL001C_tsq508\ttfc3-1\tYBL023C_tsa111\tmcm2-1\tTSA26\t0.0521\t0.3\t0.7\t0.8\t0.6121\t",
    "YAL001C_tsq508\ttfc3-1\tYDL227C_damp5\tho\tDMA26\t-0.1\tNaN\t0.7\t0.9\t0.53\t0.02",
]


def sga_copies(rows, n, start=1):
    """`n` sga_copies of `rows` with their array strains renumbered, so that no measurement repeats."""
    out = []
    for k in range(start, start + n):
        for row in rows:
            fields = row.split("\t")
            fields[2] = re.sub(r"\d+$", lambda m, k=k: str(int(m.group()) + 1000 * k), fields[2])
            out.append("\t".join(fields))
    return out


def write_sga(path, rows, header=SGA_HEADER):
    """An SGA pair file (`SGA_NxN.txt` style): tab-separated, header line first."""
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def write_smf(path, rows):
    """The single-mutant fitness workbook (`strain_ids_and_single_mutant_fitness.xlsx`)."""
    pd.DataFrame(rows, columns=list(SMF_COLUMNS)).to_excel(path, index=False, engine="openpyxl")
    return path


# --- Kuzmin 2018 / 2020 ------------------------------------------------------------------------------------

DATA_S1_HEADER = "\t".join(DATA_S1_COLUMNS)
# raw score = combined − query·array on every row but the 4th (0.95 − 1.0·0.8 = 0.15, file says 0.1).
DATA_S1_ROWS = [
    "YAL015C+YDL227C_tm461\tntg1Δ+hoΔ\tYBL007C_dma91\tsla1Δ\tdigenic\t0.0075\t0.0075\t4.50E-01\t0.95\t0.9\t0.8625\t0.0465",
    "YAL015C+YDL227C_tm461\tntg1Δ+hoΔ\tYBL023C_tsa111\tmcm2-1\tdigenic\t-0.05\t-0.05\t0.01\t0.95\t0.8\t0.71\t0.03",
    "YAR002W+YBR160W_tm802\tnup60Δ+cdc28-4\tYBR066C_dma1\tnrg2Δ\ttrigenic\t-0.2\t-0.15\t0.001\t0.8\t0.9\t0.52\t0.02",
    "YDL227C+YAR002W_tm3180\thoΔ+nup60Δ\tYBL023C_tsa111\tmcm2-1\tdigenic\t0.1\t0.1\t0.2\t1.0\t0.8\t0.95\t",
    "YBR160W+YDL227C_tsq508\tcdc28-4+hoΔ\tYBR066C_dma1\tnrg2Δ\tdigenic\t0.02\t0.02\t0.3\t0.83\t0.9\t0.767\t0.04",
]


def write_data_s1(path, rows, header=DATA_S1_HEADER):
    """Kuzmin 2018 Data S1 (`aao1729_data_s1.tsv`): tab-separated, header line first."""
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def cells(row: str) -> list:
    """A Data S1 text row as spreadsheet cells: numbers as numbers, blanks as empty cells."""
    out = []
    for field in row.split("\t"):
        try:
            out.append(float(field))
        except ValueError:
            out.append(field or None)
    return out


def write_xlsx(path, header, rows, title="Table S1. Raw genetic interaction dataset."):
    """A Kuzmin 2020 table as published: a title on row 1 (unless `title` is None), the header, then `rows`."""
    book = openpyxl.Workbook()
    sheet = book.active
    if title is not None:
        sheet.append([title])
    sheet.append(list(header))
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


S5_HEADER = [
    "Query Strain ID",
    "ORF1",
    "ORF2",
    "Gene1",
    "Gene2",
    "Allele1",
    "Allele2",
    "Mutant type",
    "Fitness",
    "St.dev.",
]
S5_TITLE = "Table S5. Fitness standard for single and double mutant query strains and query-query interactions."
S5_ROWS = [
    ["tm1", "YAR002C-A", "YGL002W", "ERP1", "ERP6", "erp1Δ", "erp6Δ", "Double mutant", 0.87051, 0.007],
    ["tm101", "YDR146C", "YLR131C", "SWI5", "ACE2", "swi5Δ", "ace2Δ", "Double mutant", "NaN", "NaN"],
    ["tm461", "YAL015C", None, "NTG1", None, "ntg1Δ", None, "Single mutant", 0.962, 0.01],
]


# --- networks -----------------------------------------------------------------------------------------------

STRING_NAME = "4932.protein.links.detailed.v12.0.txt.gz"
STRING_HEADER = " ".join(STRING_COLUMNS)
STRING_ROWS = [
    "4932.YAL001C 4932.YBL002W 0 0 0 150 300 0 100 420",  # line 2
    "4932.YBL002W 4932.YAL001C 0 0 0 150 300 0 100 420",
    "4932.YCR003W 4932.YAL001C 250 0 0 0 0 900 0 910",
    "4932.YAL001C 4932.YCR003W 250 0 0 0 0 900 0 910",
    "4932.YBL002W 4932.YCR003W 0 120 80 0 0 0 0 190",
    "4932.YCR003W 4932.YBL002W 0 120 80 0 0 0 0 190",
    "4932.Q0010 4932.YAL001C 0 0 0 500 0 0 0 500",  # Q0010 is outside the tests' genome
    "4932.YAL001C 4932.Q0010 0 0 0 500 0 0 0 500",
    "4932.YDL004W 4932.YDL004W 0 0 0 0 700 0 0 700",  # line 10: a self-loop
]


def write_string(path, rows, header=STRING_HEADER, compress=True):
    """A STRING detailed-links file: space-separated, gzip-compressed unless `compress` is False."""
    text = ("\n".join([header, *rows]) + "\n").encode()
    path.write_bytes(gzip.compress(text) if compress else text)
    return path


BIOGRID_NAME = "BIOGRID-ORGANISM-Saccharomyces_cerevisiae_S288c-4.4.240.tab3.txt"


def biogrid_row(number, a, b, system, kind, publication, organism_a="559292", organism_b="559292"):
    """One BioGRID TAB3 line: `-` in every column but those that say who interacts, how and where."""
    values = {name: "-" for name in BIOGRID_COLUMNS}
    values.update(
        {
            "#BioGRID Interaction ID": str(number),
            "Entrez Gene Interactor A": "851229",
            "Entrez Gene Interactor B": "852203",
            "Systematic Name Interactor A": a,
            "Systematic Name Interactor B": b,
            "Official Symbol Interactor A": "TFC3",
            "Official Symbol Interactor B": "ABC1",
            "Experimental System": system,
            "Experimental System Type": kind,
            "Author": "Gavin AC (2006)",
            "Publication Source": publication,
            "Organism ID Interactor A": organism_a,
            "Organism ID Interactor B": organism_b,
            "Throughput": "High Throughput",
            "Source Database": "BIOGRID",
            "Organism Name Interactor A": "Saccharomyces cerevisiae (S288c)",
            "Organism Name Interactor B": "Saccharomyces cerevisiae (S288c)",
        }
    )
    return "\t".join(values[name] for name in BIOGRID_COLUMNS)


BIOGRID_ROWS = [
    biogrid_row(1, "YAL001C", "YBL002W", "Affinity Capture-MS", "physical", "PUBMED:16429126"),  # line 2
    biogrid_row(2, "YBL002W", "YAL001C", "Two-hybrid", "physical", "PUBMED:11283351"),
    biogrid_row(3, "YAL001C", "YBL002W", "Affinity Capture-MS", "physical", "PUBMED:16429126"),
    biogrid_row(4, "YAL001C", "YCR003W", "Synthetic Lethality", "genetic", "PUBMED:20093466"),
    biogrid_row(5, "YCR003W", "YAL001C", "Negative Genetic", "genetic", "PUBMED:20093466"),
    biogrid_row(6, "YAL001C", "YBL002W", "Two-hybrid", "physical", "PUBMED:1", organism_b="9606"),
    biogrid_row(7, "-", "YBL002W", "Two-hybrid", "physical", "PUBMED:2"),
    biogrid_row(8, "YDL004W", "YDL004W", "Two-hybrid", "physical", "PUBMED:3"),  # self-loop
    biogrid_row(9, "YZZ999W", "YCR003W", "Dosage Rescue", "genetic", "PUBMED:4"),  # line 10, outside the tests' genome
]


def write_table(path, columns, rows, header=None):
    """A tab-separated file with `columns` as header (or `header` verbatim): BioGRID TAB3, the regulatory TSV."""
    path.write_text("\n".join([header or "\t".join(columns), *rows]) + "\n", encoding="utf-8")
    return path


REGULATORY_ROWS = [
    "YKL112W\tABF1\tYAL001C\tTFC3\tactivator\tChIP-chip\tYEASTRACT",  # line 2
    "YKL112W\tABF1\tYAL001C\tTFC3\tactivator\tChIP-seq\tSGD",  # duplicate record, other evidence
    "YKL112W\tABF1\tYAL001C\tTFC3\tactivator\tChIP-chip\tYEASTRACT",  # exact duplicate
    "YAL001C\tTFC3\tYKL112W\tABF1\trepressor\tmicroarray\tYEASTRACT",  # reverse direction: its own edge
    "YKL112W\tABF1\tYBL002W\t\tunknown\t\tSGD",
    "YKL112W\tABF1\tYBL002W\t\trepressor\tEMSA\tSGD",
    "YKL112W\tABF1\tYKL112W\tABF1\tactivator\tChIP-chip\tYEASTRACT",  # autoregulation
    "YKL112W\tABF1\tYZZ999W\t\tactivator\tChIP-chip\tYEASTRACT",  # line 9, outside the genome
]
