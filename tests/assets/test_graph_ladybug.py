"""The embedded ladybug knowledge graph: atomic, idempotent builds from the graph tables and the named queries.

The inputs are tiny hand-written source tables, so every expected row below is checked by hand:
4 Costanzo double mutants, 2 single mutants (3 fitness measurements), 3 Kuzmin 2018 rows (1 digenic,
2 trigenic), a STRING and a BioGRID network and 2 regulatory edges.
"""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.graph_sources import DATASETS, write_sources
from torchcell_core.graph import queries
from torchcell_core.graph.backend import GraphBuildError, load_query, query_names, table_names
from torchcell_core.graph.ladybug_backend import BUILD_FILE, LadybugBackend
from torchcell_core.graph.schema import NODE, REL, SCHEMA_VERSION, rel_columns
from torchcell_core.graph.tables import build_graph_tables


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
    rows = {
        (
            r["dataset"],
            r["gene_1"],
            r["gene_2"],
            r["allele_1"],
            r["allele_2"],
            r["fitness"],
            r["fitness_std"],
            r["interaction"],
            r["interaction_p_value"],
            r["environment"],
        )
        for r in table.to_pylist()
    }
    assert table.num_rows == 5 and len(set(table.column("experiment").to_pylist())) == 5
    assert rows == {
        ("costanzo2016", "YAL001C", "YAL002W", "YAL001C_sn1", "YAL002W_dma2", 0.5, 0.02, -0.2, 0.01, "YPD_30C"),
        ("costanzo2016", "YAL001C", "YBR001C", "YAL001C_sn1", "YBR001C_dma3", 0.8, 0.03, 0.05, 0.3, "YPD_30C"),
        ("costanzo2016", "YAL002W", "YCR001W", "YAL002W_dma2", "YCR001W_tsq4", 0.4, 0.05, -0.1, 0.04, "YPD_26C"),
        ("costanzo2016", "YBR001C", "YCR001W", "YBR001C_tsa5", "YCR001W_tsq4", 0.9, 0.01, 0.1, 0.2, "YPD_30C"),
        (
            "kuzmin2018",
            "YAL002W",
            "YDR001C",
            "YAL002W_dma2",
            "YDR001C@YDL227C+YDR001C_tm10",
            0.6,
            0.01,
            -0.15,
            0.02,
            "YPD_30C",
        ),
    }
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
        {
            "gene": "YAL002W",
            "allele": "YAL002W_dma2",
            "fitness": 0.9,
            "fitness_std": 0.01,
            "environment": "YPD_26C",
            "dataset": "costanzo2016_smf",
        },
        {
            "gene": "YAL002W",
            "allele": "YAL002W_dma2",
            "fitness": 0.85,
            "fitness_std": 0.02,
            "environment": "YPD_30C",
            "dataset": "costanzo2016_smf",
        },
        {
            "gene": "YBR001C",
            "allele": "YBR001C_dma3",
            "fitness": 0.95,
            "fitness_std": 0.03,
            "environment": "YPD_30C",
            "dataset": "costanzo2016_smf",
        },
    ]


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
    before = {
        name: backend.query(name, p).sort_by("experiment")
        for name, p in [
            ("digenic_experiments", {"datasets": list(DATASETS), "genes": []}),
            ("trigenic_experiments", {"datasets": list(DATASETS)}),
        ]
    }
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
    with pytest.raises(
        GraphBuildError,
        match=rf"HAS_ALLELE: loaded {tables[1]['HAS_ALLELE']} rows but the graph "
        rf"tables hold {wrong['HAS_ALLELE']}",
    ):
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
    types = {
        "STRING": pa.string(),
        "INT8": pa.int8(),
        "INT16": pa.int16(),
        "INT32": pa.int32(),
        "INT64": pa.int64(),
        "DOUBLE": pa.float64(),
        "BOOLEAN": pa.bool_(),
    }
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
