"""The embedded ladybug knowledge graph: atomic, idempotent builds from the graph tables and the named queries.

The inputs are tiny hand-written source tables, so every expected row below is checked by hand:
4 Costanzo double mutants, 2 single mutants (3 fitness measurements), 3 Kuzmin 2018 rows (1 digenic,
2 trigenic), a STRING and a BioGRID network and 2 regulatory edges.
"""

from __future__ import annotations

import json
import math
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from torchcell_core.genome.gene_table import GENE_TABLE_SCHEMA
from torchcell_core.graph import queries
from torchcell_core.graph.backend import GraphBuildError, load_query, query_names, table_names
from torchcell_core.graph.ladybug_backend import BUILD_FILE, LadybugBackend
from torchcell_core.graph.schema import NODE, REL, SCHEMA_VERSION, rel_columns
from torchcell_core.graph.tables import SourceOutputs, build_graph_tables
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
    ("YAL001C_sn1", "YAL001C", "sn", "tfc3", "YAL002W_dma2", "YAL002W", "dma", "vps8",
     30, -0.2, 0.01, 0.5, 0.02, "SGA_ExN_NxE.txt"),
    ("YAL001C_sn1", "YAL001C", "sn", "tfc3", "YBR001C_dma3", "YBR001C", "dma", "nth2",
     30, 0.05, 0.3, 0.8, 0.03, "SGA_ExN_NxE.txt"),
    ("YCR001W_tsq4", "YCR001W", "tsq", "cr1-4", "YAL002W_dma2", "YAL002W", "dma", "vps8",
     26, -0.1, 0.04, 0.4, 0.05, "SGA_ExE.txt"),
    ("YCR001W_tsq4", "YCR001W", "tsq", "cr1-4", "YBR001C_tsa5", "YBR001C", "tsa", "nth2-5",
     30, 0.1, 0.2, 0.9, 0.01, "SGA_ExE.txt"),
]  # fmt: skip
KUZMIN_FIELDS = ("query_strain", "query_gene_1", "query_gene_2", "array_strain", "array_gene", "array_kind",
                 "mutant_type", "adjusted_score", "p_value", "combined_fitness", "combined_fitness_std")  # fmt: skip
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
    genes = {"systematic_name": GENES, "standard_name": ["TFC3", "VPS8", "NTH2", "CR1", "DR1"],
             "chromosome": [1, 1, 2, 3, 4], "start": [100, 2000, 300, 400, 500], "end": [190, 2900, 390, 490, 590],
             "strand": ["-", "+", "-", "+", "-"], "feature_type": ["CDS"] * 5, "protein_length": [29, 299, 29, 29, 29],
             "cds_sequence": ["ATG"] * 5, "protein_sequence": ["M"] * 5, "go_annotations": [[]] * 5}  # fmt: skip
    costanzo = [dict(zip(COSTANZO_FIELDS, r, strict=True)) for r in COSTANZO]
    for row in costanzo:
        array_type = "TSA" if row["array_kind"] == "tsa" else "DMA"
        row |= {"array_type": array_type, "query_smf": 0.9, "array_smf": 0.9, "simulated": True}
    smf = {"strain": ["YAL002W_dma2", "YBR001C_dma3"], "systematic_name": ["YAL002W", "YBR001C"],
           "allele": ["vps8", "nth2"], "smf_26": [0.9, math.nan], "smf_26_std": [0.01, math.nan],
           "smf_30": [0.85, 0.95], "smf_30_std": [0.02, 0.03], "simulated": [True, True]}  # fmt: skip
    kuzmin = [dict(zip(KUZMIN_FIELDS, r, strict=True)) for r in KUZMIN]
    for line, row in enumerate(kuzmin, start=2):
        row |= {"raw_score": row["adjusted_score"], "query_fitness": 0.9, "array_fitness": 0.9,
                "source_file": "aao1729_data_s1.tsv", "line": line, "simulated": True}  # fmt: skip
    string = {"gene_a": ["YAL001C", "YBR001C"], "gene_b": ["YAL002W", "YAL001C"], "weight": [0.9, 0.5],
              "score": [900, 500], "channel": ["coexpression", "experiments"], "simulated": [True, True]}  # fmt: skip
    biogrid = {"gene_a": ["YAL001C"], "gene_b": ["YCR001W"], "weight": [1.0], "network": ["physical"]}
    regulatory = {"regulator": ["YAL001C", "YCR001W"], "target": ["YBR001C", "YAL001C"],
                  "regulation_type": ["activator", "repressor"], "weight": [2.0, 1.0]}  # fmt: skip
    terms = {"go_id": ["GO:0000001", "GO:0000002"], "name": ["a", "b"], "namespace": ["biological_process"] * 2,
             "genes": [["YAL001C", "YAL002W"], ["YAL001C"]]}  # fmt: skip
    datasets = tuple({"id": i, "name": i, "version": "1", "citation": "c", "url": "u", "source_sha256": "{}",
                      "simulated": True} for i in DATASETS)  # fmt: skip
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
        ),  # fmt: skip
        regulatory=_write(d / "regulatory.parquet", regulatory),
        datasets=datasets,
    )


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    d = tmp_path_factory.mktemp("graph_sources")
    counts = build_graph_tables(write_sources(d), d / "tables", memory_limit="256MB")
    return d / "tables", counts


@pytest.fixture(scope="module")
def graph(tables, tmp_path_factory):
    tables_dir, counts = tables
    backend = LadybugBackend(tmp_path_factory.mktemp("graph") / "db", buffer_pool_size=256 * 2**20)
    record = backend.build(tables_dir, counts)
    yield backend, record
    backend.close()


def corrupted(tables_dir, tmp_path, name, change) -> object:
    """A copy of `tables_dir` with `<name>.parquet` replaced by `change(table)`."""
    copy = tmp_path / f"corrupt_{name}"
    shutil.copytree(tables_dir, copy)
    pq.write_table(change(pq.read_table(copy / f"{name}.parquet")), copy / f"{name}.parquet")
    return copy


def test_counts_match_the_tables(graph, tables):
    backend, record = graph
    counts = backend.counts()
    assert counts == tables[1]
    assert set(counts) == set(table_names())
    # By hand: 4 Costanzo + 3 single-mutant (YAL002W at 26 and 30 °C, YBR001C at 30 °C) + 3 Kuzmin experiments.
    assert counts["Experiment"] == 10 and counts["OF_GENOTYPE"] == counts["IN_DATASET"] == 10
    # Alleles: 5 Costanzo strains, YBR001C_dma3 again in Kuzmin, the 3 Kuzmin query alleles (gene@strain).
    assert counts["Allele"] == 8 and counts["Gene"] == 5 and counts["Dataset"] == 3
    assert counts["INTERACTS"] == 3 and counts["REGULATES"] == 2 and counts["ANNOTATED_TO"] == 3
    assert record["counts"] == counts and record["schema_version"] == SCHEMA_VERSION
    assert backend.schema_version() == SCHEMA_VERSION
    assert backend.build_record()["counts"] == counts
    assert (backend.path / BUILD_FILE).is_file()
    assert {name: t["rows"] for name, t in record["tables"].items()} == counts
    assert not list(backend.path.parent.glob("db.building-*")) and not list(backend.path.parent.glob("db.previous-*"))


def test_digenic_experiments(graph):
    backend, _ = graph
    table = queries.digenic_experiments(backend, ["costanzo2016", "kuzmin2018"], [])
    rows = {(r["dataset"], r["gene_1"], r["gene_2"], r["allele_1"], r["allele_2"], r["fitness"], r["fitness_std"],
             r["interaction"], r["interaction_p_value"], r["environment"]) for r in table.to_pylist()}  # fmt: skip
    assert table.num_rows == 5 and len(set(table.column("experiment").to_pylist())) == 5
    assert rows == {
        ("costanzo2016", "YAL001C", "YAL002W", "YAL001C_sn1", "YAL002W_dma2", 0.5, 0.02, -0.2, 0.01, "YPD_30C"),
        ("costanzo2016", "YAL001C", "YBR001C", "YAL001C_sn1", "YBR001C_dma3", 0.8, 0.03, 0.05, 0.3, "YPD_30C"),
        ("costanzo2016", "YAL002W", "YCR001W", "YAL002W_dma2", "YCR001W_tsq4", 0.4, 0.05, -0.1, 0.04, "YPD_26C"),
        ("costanzo2016", "YBR001C", "YCR001W", "YBR001C_tsa5", "YCR001W_tsq4", 0.9, 0.01, 0.1, 0.2, "YPD_30C"),
        ("kuzmin2018", "YAL002W", "YDR001C", "YAL002W_dma2", "YDR001C@YDL227C+YDR001C_tm10", 0.6, 0.01, -0.15, 0.02,
         "YPD_30C"),
    }  # fmt: skip
    assert table.column_names == list(queries.DIGENIC_COLUMNS)
    assert table.column("experiment").to_pylist() == sorted(table.column("experiment").to_pylist())


def test_parameters_filter_the_result(graph):
    backend, _ = graph
    only_costanzo = queries.digenic_experiments(backend, ["costanzo2016"], [])
    assert set(only_costanzo.column("dataset").to_pylist()) == {"costanzo2016"} and only_costanzo.num_rows == 4
    genes = ["YAL001C", "YAL002W", "YDR001C"]
    filtered = queries.digenic_experiments(backend, ["costanzo2016", "kuzmin2018"], genes)
    assert {(r["gene_1"], r["gene_2"]) for r in filtered.to_pylist()} == {
        ("YAL001C", "YAL002W"),
        ("YAL002W", "YDR001C"),
    }
    assert queries.digenic_experiments(backend, ["costanzo2016"], ["YAL001C"]).num_rows == 0  # both genes must match
    # The wrapper runs digenic_experiments_by_genes for a gene set; the general query filters the same way.
    parameters = {"datasets": ["costanzo2016", "kuzmin2018"], "genes": genes}
    assert backend.query("digenic_experiments", parameters).sort_by("experiment").equals(filtered)
    assert backend.query("digenic_experiments_by_genes", parameters | {"genes": []}).num_rows == 0
    assert queries.digenic_experiments(backend, [], []).num_rows == 0
    assert queries.trigenic_experiments(backend, ["costanzo2016"]).num_rows == 0
    # A gene id that looks like Cypher stays a value.
    assert queries.digenic_experiments(backend, ["costanzo2016"], ["x' OR 1=1 //"]).num_rows == 0
    assert queries.gene_neighbourhood(backend, "YAL001C' OR true //").num_rows == 0


def test_trigenic_experiments(graph):
    backend, _ = graph
    table = queries.trigenic_experiments(backend, ["kuzmin2018"])
    assert table.column_names == list(queries.TRIGENIC_COLUMNS)
    assert {tuple(r[c] for c in queries.TRIGENIC_COLUMNS[1:]) for r in table.to_pylist()} == {
        ("kuzmin2018", "YAL001C", "YAL002W", "YDR001C", -0.3, 0.001, 0.3, "kuzmin2018"),
        ("kuzmin2018", "YAL001C", "YBR001C", "YDR001C", 0.02, 0.6, 0.7, "kuzmin2018"),
    }


def test_single_mutant_fitness(graph):
    backend, _ = graph
    assert queries.single_mutant_fitness(backend).to_pylist() == [
        {"gene": "YAL002W", "allele": "YAL002W_dma2", "fitness": 0.9, "fitness_std": 0.01, "environment": "YPD_26C",
         "dataset": "costanzo2016_smf"},
        {"gene": "YAL002W", "allele": "YAL002W_dma2", "fitness": 0.85, "fitness_std": 0.02, "environment": "YPD_30C",
         "dataset": "costanzo2016_smf"},
        {"gene": "YBR001C", "allele": "YBR001C_dma3", "fitness": 0.95, "fitness_std": 0.03, "environment": "YPD_30C",
         "dataset": "costanzo2016_smf"},
    ]  # fmt: skip


def test_gene_neighbourhood(graph):
    backend, _ = graph
    rows = [tuple(r.values()) for r in queries.gene_neighbourhood(backend, "YAL001C").to_pylist()]
    assert rows == [
        ("INTERACTS", "undirected", "physical", "TAB3", "", 1.0, "YCR001W"),
        ("INTERACTS", "undirected", "string_coexpression", "12.0", "", 0.9, "YAL002W"),
        ("INTERACTS", "undirected", "string_experiments", "12.0", "", 0.5, "YBR001C"),
        ("REGULATES", "in", "regulatory", "", "repressor", 1.0, "YCR001W"),
        ("REGULATES", "out", "regulatory", "", "activator", 2.0, "YBR001C"),
    ]
    assert [r["other"] for r in queries.gene_neighbourhood(backend, "YDR001C").to_pylist()] == []
    assert queries.gene_neighbourhood(backend, "YBR001C").num_rows == 2  # STRING to YAL001C, regulated by it


def test_rebuild_is_idempotent(graph, tables):
    backend, first = graph
    before = {name: backend.query(name, p).sort_by("experiment") for name, p in
              [("digenic_experiments", {"datasets": list(DATASETS), "genes": []}),
               ("trigenic_experiments", {"datasets": list(DATASETS)})]}  # fmt: skip
    second = backend.build(*tables)
    assert second["counts"] == first["counts"] == backend.counts() == tables[1]
    for name, table in before.items():
        params = {"datasets": list(DATASETS)} | ({"genes": []} if name.startswith("digenic") else {})
        assert backend.query(name, params).sort_by("experiment").equals(table)
    assert not list(backend.path.parent.glob("db.building-*"))


@pytest.mark.parametrize(
    ("name", "change", "reason"),
    [
        # An allele whose gene is not a Gene node.
        ("OF_GENE", lambda t: t.set_column(1, "to", pa.array(["YZZ999W"] * t.num_rows)), "YZZ999W"),
        # A genotype id twice.
        ("Genotype", lambda t: pa.concat_tables([t, t.slice(0, 1)]), "duplicated primary key"),
        # A column missing.
        ("Experiment", lambda t: t.drop_columns(["screen"]), "columns"),
    ],
)
def test_failed_build_names_the_table_and_keeps_the_previous_database(graph, tables, tmp_path, name, change, reason):
    backend, _ = graph
    before = backend.counts()
    with pytest.raises(GraphBuildError) as caught:
        backend.build(corrupted(tables[0], tmp_path, name, change), tables[1])
    assert caught.value.table == name and str(caught.value).startswith(f"{name}: ")
    assert reason.lower() in str(caught.value).lower()
    assert backend.counts() == before and backend.schema_version() == SCHEMA_VERSION
    assert queries.trigenic_experiments(backend, ["kuzmin2018"]).num_rows == 2
    assert not list(backend.path.parent.glob("db.building-*"))


def test_count_mismatch_fails_the_build(graph, tables):
    backend, _ = graph
    wrong = dict(tables[1]) | {"HAS_ALLELE": tables[1]["HAS_ALLELE"] + 1}
    with pytest.raises(GraphBuildError, match=rf"HAS_ALLELE: loaded {tables[1]['HAS_ALLELE']} rows but the graph "
                                              rf"tables hold {wrong['HAS_ALLELE']}"):  # fmt: skip
        backend.build(tables[0], wrong)
    assert backend.counts() == tables[1]


def test_a_missing_table_file_is_named(graph, tables, tmp_path):
    backend, _ = graph
    copy = tmp_path / "partial"
    shutil.copytree(tables[0], copy)
    (copy / "REGULATES.parquet").unlink()
    with pytest.raises(GraphBuildError, match="REGULATES: no table file"):
        backend.build(copy, tables[1])
    # The file path is the one value written into COPY (ladybug binds no path parameter): no quote can end it.
    quoted = shutil.copytree(tables[0], tmp_path / "it's")
    with pytest.raises(GraphBuildError, match="Gene: .*may not hold quotes"):
        backend.build(quoted, tables[1])
    assert backend.counts() == tables[1]


def test_first_build_into_an_empty_place(tables, tmp_path):
    backend = LadybugBackend(tmp_path / "fresh" / "graph", buffer_pool_size=128 * 2**20)
    assert backend.schema_version() is None
    with pytest.raises(FileNotFoundError):
        backend.counts()
    with pytest.raises(GraphBuildError, match="Genotype"):
        backend.build(corrupted(tables[0], tmp_path, "Genotype", lambda t: pa.concat_tables([t, t])), tables[1])
    assert not backend.path.exists() and backend.schema_version() is None
    with backend:
        assert backend.build(*tables)["counts"] == tables[1]
    read_only = LadybugBackend(backend.path, buffer_pool_size=128 * 2**20, read_only=True)
    assert read_only.counts() == tables[1]
    read_only.close()


def test_query_files():
    assert query_names() == [
        "datasets",
        "digenic_experiments",
        "digenic_experiments_by_genes",
        "environments",
        "experiment_count",
        "experiments_with_genes",
        "gene_go_annotations",
        "gene_ids",
        "gene_neighbourhood",
        "network_edges",
        "orphans",
        "regulatory_edges",
        "single_mutant_fitness",
        "trigenic_experiments",
    ]
    for name in query_names():
        text = load_query(name)
        assert text.startswith("MATCH") and "//" not in text and "{" not in text.replace("{id: $gene}", "")
    with pytest.raises(ValueError):
        load_query("../schema")
    with pytest.raises(KeyError):
        load_query("no_such_query")


def _schema_tables(d, rows: dict[str, list[tuple]]) -> dict[str, int]:
    """Graph tables written directly: `rows[name]` in schema column order; tables not given are empty."""
    d.mkdir()
    types = {"STRING": pa.string(), "INT8": pa.int8(), "INT16": pa.int16(), "INT32": pa.int32(),
             "INT64": pa.int64(), "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_()}  # fmt: skip
    counts = {}
    for name in table_names():
        columns = NODE[name].columns if name in NODE else rel_columns(REL[name])
        schema = pa.schema([(column, types[kind]) for column, kind in columns])
        data = rows.get(name, [])
        pq.write_table(
            pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in data], schema), d / f"{name}.parquet"
        )
        counts[name] = len(data)
    return counts


def test_trigenic_genes_in_order_with_two_alleles_of_one_gene(tmp_path):
    """Three alleles over two genes: the repeated gene appears twice, wherever it falls in the order."""
    alleles = {"A_1": "YAL001C", "A_2": "YAL001C", "B_1": "YBR001C", "C_1": "YCR001W", "C_2": "YCR001W"}
    genotypes = {1: ["A_1", "A_2", "B_1"], 2: ["B_1", "C_1", "C_2"], 3: ["C_1", "A_1", "B_1"]}
    rows = {
        "Gene": [(g, None, None, None, None, None, None, None) for g in sorted(set(alleles.values()))],
        "Dataset": [("kuzmin2020", None, None, None, None, None, True)],
        "Allele": [(a, a, a, "deletion_natmx", g) for a, g in alleles.items()],
        "OF_GENE": [(a, g) for a, g in alleles.items()],
        "Genotype": [(g, 3) for g in genotypes],
        "HAS_ALLELE": [(g, a) for g, members in genotypes.items() for a in members],
        "Experiment": [(10 + g, "interaction", 3, 0.5, 0.1, -0.2, 0.01, "YPD_30C", "s1", "f") for g in genotypes],
        "OF_GENOTYPE": [(10 + g, g) for g in genotypes],
        "IN_DATASET": [(10 + g, "kuzmin2020") for g in genotypes],
    }
    tables_dir = tmp_path / "tables"
    counts = _schema_tables(tables_dir, rows)
    with LadybugBackend(tmp_path / "db", buffer_pool_size=128 * 2**20) as backend:
        backend.build(tables_dir, counts)
        table = queries.trigenic_experiments(backend, ["kuzmin2020"])
    assert [(r["experiment"], r["gene_1"], r["gene_2"], r["gene_3"]) for r in table.to_pylist()] == [
        (11, "YAL001C", "YAL001C", "YBR001C"),
        (12, "YBR001C", "YCR001W", "YCR001W"),
        (13, "YAL001C", "YBR001C", "YCR001W"),
    ]


# -- crashes: a kill at any step leaves a graph, and the next open or build cleans up -------------------------

KILL = """import json, os, pathlib, sys
from torchcell_core.graph.ladybug_backend import LadybugBackend
calls, kill_at, real_rename, real_replace = [0], int(sys.argv[4]), pathlib.Path.rename, os.replace
def step(real):
    def wrapped(*args, **kwargs):
        calls[0] += 1
        if calls[0] == kill_at:
            os._exit(9)  # killed here: no cleanup runs
        return real(*args, **kwargs)
    return wrapped
pathlib.Path.rename, os.replace = step(real_rename), step(real_replace)
LadybugBackend(sys.argv[1], buffer_pool_size=128 * 2**20).build(sys.argv[2], json.loads(sys.argv[3]))
"""


def _built(tables, path) -> LadybugBackend:
    backend = LadybugBackend(path, buffer_pool_size=128 * 2**20)
    backend.build(*tables)
    backend.close()
    return backend


def _others(path) -> list[str]:
    """What lies beside the database `path` other than it and the version it links to."""
    return sorted(p.name for p in path.parent.iterdir() if p.name not in (path.name, path.resolve().name))


def _crash_layout(path, dead: int):
    """The state the old two-rename swap left when killed between its renames, plus a half-written build."""
    version = path.resolve()
    if path.is_symlink():
        path.unlink()
    version.rename(path.with_name(f"{path.name}.previous-{dead}"))
    (path.with_name(f"{path.name}.building-{dead}") / "half").mkdir(parents=True)


@pytest.mark.parametrize("kill_at", [1, 2])
def test_a_build_killed_at_any_swap_step_leaves_the_old_graph_and_the_next_build_cleans_up(tables, tmp_path,
                                                                                          kill_at):  # fmt: skip
    import json
    import subprocess
    import sys

    path = tmp_path / "db"
    _built(tables, path)
    args = [str(path), str(tables[0]), json.dumps(tables[1]), str(kill_at)]
    killed = subprocess.Popen([sys.executable, "-c", KILL, *args], stderr=subprocess.PIPE, text=True)
    assert killed.wait(120) == 9, killed.stderr.read()
    assert (path / "graph.lbug").is_file()  # no recovery needed to find it
    with LadybugBackend(path, buffer_pool_size=128 * 2**20, read_only=True) as reader:
        assert reader.counts() == tables[1] and reader.build_record()["counts"] == tables[1]
    left = _others(path)
    assert left and all(name.endswith(f"-{killed.pid}") for name in left), left  # the killed build's folders
    with LadybugBackend(path, buffer_pool_size=128 * 2**20) as backend:
        assert backend.build(*tables)["counts"] == tables[1]
    assert _others(path) == []


def test_an_open_after_a_kill_between_the_old_layouts_renames_puts_the_graph_back(tables, tmp_path):
    from tests.support.processes import dead_pid

    path = tmp_path / "db"
    _built(tables, path)
    dead = dead_pid()
    _crash_layout(path, dead)
    with LadybugBackend(path, buffer_pool_size=128 * 2**20, read_only=True) as reader:
        assert reader.counts() == tables[1]
    assert _others(path) == []


def test_a_dangling_link_is_replaced_by_the_next_build(tables, tmp_path):
    path = tmp_path / "db"
    _built(tables, path)
    shutil.rmtree(path.resolve())  # the version folder deleted by hand: the link points nowhere
    path.unlink(missing_ok=True)
    path.symlink_to("db.v-1-1")
    with pytest.raises(FileNotFoundError, match="no graph database at"):
        LadybugBackend(path, read_only=True).counts()
    with LadybugBackend(path, buffer_pool_size=128 * 2**20) as backend:
        assert backend.build(*tables)["counts"] == tables[1] == backend.counts()
    assert path.resolve().is_dir() and _others(path) == []


def test_the_knowledge_graph_asset_recovers_and_reports_it(tables, tmp_path):
    import dagster as dg

    from tests.support.processes import dead_pid
    from torchcell_assets.defs.graph.assets import knowledge_graph
    from torchcell_assets.defs.graph.resources import GraphDatabase
    from torchcell_assets.defs.graph.tables import COUNTS_FILE, GRAPH_TABLES_DIR
    from torchcell_assets.lib.storage import TorchcellStorage

    storage = TorchcellStorage(data_dir=str(tmp_path / "data"))
    shutil.copytree(tables[0], storage.root().joinpath(*GRAPH_TABLES_DIR))
    storage.root().joinpath(*GRAPH_TABLES_DIR, COUNTS_FILE).write_text(json.dumps(tables[1]))
    path = tmp_path / "graph" / "torchcell"
    _built(tables, path)
    dead = dead_pid()
    _crash_layout(path, dead)
    graph = GraphDatabase(path=str(path.parent), buffer_pool_gib=0.125)
    result = dg.materialize([knowledge_graph], resources={"storage": storage, "graph": graph})
    (event,) = result.get_asset_materialization_events()
    lines = event.materialization.metadata["recovered"].value
    assert f"restored {path} from torchcell.previous-{dead}" in lines
    assert f"removed torchcell.building-{dead} (left by process {dead}, which is gone)" in lines
    assert event.materialization.metadata["experiments"].value == tables[1]["Experiment"]
    assert _others(path) == []
