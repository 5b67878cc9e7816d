"""Tiny hand-written source tables for the knowledge-graph tests (every expected row is checked by hand):
4 Costanzo double mutants, 2 single mutants (3 fitness measurements), 3 Kuzmin 2018 rows (1 digenic,
2 trigenic), a STRING and a BioGRID network and 2 regulatory edges."""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.parquet as pq

from torchcell_core.genome.gene_table import GENE_TABLE_SCHEMA
from torchcell_core.graph.tables import SourceOutputs
from torchcell_core.sources.costanzo2016_sga import RECORD_COLUMNS
from torchcell_core.sources.kuzmin2018 import SCREEN_COLUMNS

GENES = ["YAL001C", "YAL002W", "YBR001C", "YCR001W", "YDR001C"]
Q = "YAL001C+YDR001C_tm11"  # a Kuzmin double-mutant query strain
COSTANZO_FIELDS = (
    "query_strain",
    "query_gene",
    "query_kind",
    "query_allele",
    "array_strain",
    "array_gene",
    "array_kind",
    "array_allele",
    "temperature",
    "epsilon",
    "p_value",
    "dmf",
    "dmf_std",
    "source_file",
)
COSTANZO = [
    (
        "YAL001C_sn1",
        "YAL001C",
        "sn",
        "tfc3",
        "YAL002W_dma2",
        "YAL002W",
        "dma",
        "vps8",
        30,
        -0.2,
        0.01,
        0.5,
        0.02,
        "SGA_ExN_NxE.txt",
    ),
    (
        "YAL001C_sn1",
        "YAL001C",
        "sn",
        "tfc3",
        "YBR001C_dma3",
        "YBR001C",
        "dma",
        "nth2",
        30,
        0.05,
        0.3,
        0.8,
        0.03,
        "SGA_ExN_NxE.txt",
    ),
    (
        "YCR001W_tsq4",
        "YCR001W",
        "tsq",
        "cr1-4",
        "YAL002W_dma2",
        "YAL002W",
        "dma",
        "vps8",
        26,
        -0.1,
        0.04,
        0.4,
        0.05,
        "SGA_ExE.txt",
    ),
    (
        "YCR001W_tsq4",
        "YCR001W",
        "tsq",
        "cr1-4",
        "YBR001C_tsa5",
        "YBR001C",
        "tsa",
        "nth2-5",
        30,
        0.1,
        0.2,
        0.9,
        0.01,
        "SGA_ExE.txt",
    ),
]
KUZMIN_FIELDS = (
    "query_strain",
    "query_gene_1",
    "query_gene_2",
    "array_strain",
    "array_gene",
    "array_kind",
    "mutant_type",
    "adjusted_score",
    "p_value",
    "combined_fitness",
    "combined_fitness_std",
)
KUZMIN = [
    ("YDL227C+YDR001C_tm10", "YDR001C", None, "YAL002W_dma2", "YAL002W", "dma", "digenic", -0.15, 0.02, 0.6, 0.01),
    (Q, "YAL001C", "YDR001C", "YAL002W_dma2", "YAL002W", "dma", "trigenic", -0.3, 0.001, 0.3, 0.02),
    (Q, "YAL001C", "YDR001C", "YBR001C_dma3", "YBR001C", "dma", "trigenic", 0.02, 0.6, 0.7, 0.04),
]
KUZMIN_SCHEMA = pa.schema(
    [(c, pa.string()) for c in SCREEN_COLUMNS[:7]]
    + [(c, pa.float64()) for c in SCREEN_COLUMNS[7:14]]
    + [("source_file", pa.string()), ("line", pa.int64()), ("simulated", pa.bool_())]
)
DATASETS = ("costanzo2016", "costanzo2016_smf", "kuzmin2018")


def _write(path, columns: dict, schema: pa.Schema | None = None):
    pq.write_table(pa.table(columns, schema=schema), path)
    return path


def _columns(rows: list[dict], names) -> dict:
    return {name: [row[name] for row in rows] for name in names}


def write_sources(d) -> SourceOutputs:
    genes = {
        "systematic_name": GENES,
        "standard_name": ["TFC3", "VPS8", "NTH2", "CR1", "DR1"],
        "chromosome": [1, 1, 2, 3, 4],
        "start": [100, 2000, 300, 400, 500],
        "end": [190, 2900, 390, 490, 590],
        "strand": ["-", "+", "-", "+", "-"],
        "feature_type": ["CDS"] * 5,
        "protein_length": [29, 299, 29, 29, 29],
        "cds_sequence": ["ATG"] * 5,
        "protein_sequence": ["M"] * 5,
        "go_annotations": [[]] * 5,
    }
    costanzo = [dict(zip(COSTANZO_FIELDS, r, strict=True)) for r in COSTANZO]
    for row in costanzo:
        array_type = "TSA" if row["array_kind"] == "tsa" else "DMA"
        row |= {"array_type": array_type, "query_smf": 0.9, "array_smf": 0.9, "simulated": True}
    smf = {
        "strain": ["YAL002W_dma2", "YBR001C_dma3"],
        "systematic_name": ["YAL002W", "YBR001C"],
        "allele": ["vps8", "nth2"],
        "smf_26": [0.9, math.nan],
        "smf_26_std": [0.01, math.nan],
        "smf_30": [0.85, 0.95],
        "smf_30_std": [0.02, 0.03],
        "simulated": [True, True],
    }
    kuzmin = [dict(zip(KUZMIN_FIELDS, r, strict=True)) for r in KUZMIN]
    for line, row in enumerate(kuzmin, start=2):
        row |= {
            "raw_score": row["adjusted_score"],
            "query_fitness": 0.9,
            "array_fitness": 0.9,
            "source_file": "aao1729_data_s1.tsv",
            "line": line,
            "simulated": True,
        }
    string = {
        "gene_a": ["YAL001C", "YBR001C"],
        "gene_b": ["YAL002W", "YAL001C"],
        "weight": [0.9, 0.5],
        "score": [900, 500],
        "channel": ["coexpression", "experiments"],
        "simulated": [True, True],
    }
    biogrid = {"gene_a": ["YAL001C"], "gene_b": ["YCR001W"], "weight": [1.0], "network": ["physical"]}
    regulatory = {
        "regulator": ["YAL001C", "YCR001W"],
        "target": ["YBR001C", "YAL001C"],
        "regulation_type": ["activator", "repressor"],
        "weight": [2.0, 1.0],
    }
    terms = {
        "go_id": ["GO:0000001", "GO:0000002"],
        "name": ["a", "b"],
        "namespace": ["biological_process"] * 2,
        "genes": [["YAL001C", "YAL002W"], ["YAL001C"]],
    }
    datasets = tuple(
        {"id": i, "name": i, "version": "1", "citation": "c", "url": "u", "source_sha256": "{}", "simulated": True}
        for i in DATASETS
    )
    return SourceOutputs(
        genes=_write(d / "genes.parquet", genes, GENE_TABLE_SCHEMA),
        go_terms=_write(d / "terms.parquet", terms),
        go_edges=_write(
            d / "go_edges.parquet", {"child": ["GO:0000002"], "parent": ["GO:0000001"], "relation": ["is_a"]}
        ),
        costanzo_records=_write(d / "costanzo.parquet", _columns(costanzo, [c for c in RECORD_COLUMNS if c != "line"])),
        costanzo_fitness=_write(d / "smf.parquet", smf),
        kuzmin2018_records=_write(d / "kuzmin2018.parquet", _columns(kuzmin, KUZMIN_SCHEMA.names), KUZMIN_SCHEMA),
        networks=(
            ("string", "12.0", _write(d / "string.parquet", string)),
            ("biogrid", "TAB3", _write(d / "biogrid.parquet", biogrid)),
        ),
        regulatory=_write(d / "regulatory.parquet", regulatory),
        datasets=datasets,
    )
