"""Cell graphs from a tiny hand-written knowledge graph: edge types per set, both directions, weights, merging,
dropped-edge counting, the cache, the leakage rule, the summary, and the Dagster asset with its checks.

The graph holds 6 genes; the gene index lacks YEL001C, so every edge naming it is dropped and counted.
STRING 9.1 and 12.0 (two channels each, a reversed duplicate and a self loop in 12.0), BioGRID physical and
genetic, three regulatory records (one pair twice, one autoregulation) and three GO terms (2, 3 and 6 genes).
"""

from __future__ import annotations

import json

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from torchcell_assets.defs.cell_graphs.assets import CellGraphsConfig, cell_graphs
from torchcell_assets.defs.cell_graphs.checks import (
    edge_indices_in_range,
    edge_problems,
    no_genetic_edges_for_interaction_labels,
    nodes_match_genome,
)
from torchcell_assets.defs.graph.resources import GraphDatabase
from torchcell_assets.defs.sources.paths import GENOME_PARQUET
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.cell import queries
from torchcell_core.cell.cache import cache_path, content_digest, load_cell_graph, save_cell_graph
from torchcell_core.cell.cell_graph import build_cell_graph, build_cell_graphs
from torchcell_core.cell.edge_arrays import undirected_edges
from torchcell_core.cell.graph_sets import GENETIC, GRAPH_SETS, EdgeSpec, graph_set, string_edges
from torchcell_core.cell.leakage import LabelLeakageError, check_no_label_leakage
from torchcell_core.cell.summary import summarise
from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.genome.gene_table import GENE_TABLE_SCHEMA
from torchcell_core.graph.ladybug_backend import LadybugBackend
from torchcell_core.graph.tables import SourceOutputs, build_graph_tables

GRAPH_GENES = ["YAL001C", "YAL002W", "YBR001C", "YCR001W", "YDR001C", "YEL001C"]
INDEX = GeneIndex(GRAPH_GENES[:5])  # YEL001C is in the graph but not in the index
A1, A2, B, C, D = range(5)  # positions in INDEX
STRING = {  # (gene_a, gene_b, weight, channel)
    "9.1": [
        ("YAL001C", "YAL002W", 0.5, "coexpression"),
        ("YAL001C", "YBR001C", 0.7, "experimental"),
        ("YBR001C", "YEL001C", 0.3, "experimental"),
    ],
    "12.0": [
        ("YAL001C", "YAL002W", 0.6, "coexpression"),
        ("YAL002W", "YAL001C", 0.8, "coexpression"),
        ("YCR001W", "YCR001W", 0.9, "coexpression"),
        ("YBR001C", "YDR001C", 0.4, "database"),
    ],
}
BIOGRID = [("YAL001C", "YCR001W", 1.0, "physical"), ("YAL002W", "YBR001C", 1.0, "genetic")]
REGULATORY = [
    ("YAL001C", "YBR001C", "activator", 2.0),
    ("YAL001C", "YBR001C", "repressor", 1.0),
    ("YCR001W", "YCR001W", "activator", 1.0),
    ("YEL001C", "YAL001C", "repressor", 1.0),
]
TERMS = {
    "GO:0000001": ["YAL001C", "YAL002W", "YBR001C"],
    "GO:0000002": ["YAL001C", "YAL002W"],
    "GO:0000003": GRAPH_GENES,
}


def _rows(rows: list[tuple], names: tuple[str, ...]) -> pa.Table:
    return pa.table({name: [row[i] for row in rows] for i, name in enumerate(names)})


def write_genes(path, genes: list[str]) -> None:
    n = len(genes)
    columns = {
        "systematic_name": genes,
        "standard_name": genes,
        "chromosome": [1] * n,
        "start": list(range(n)),
        "end": list(range(1, n + 1)),
        "strand": ["+"] * n,
        "feature_type": ["CDS"] * n,
        "protein_length": [1] * n,
        "cds_sequence": ["ATG"] * n,
        "protein_sequence": ["M"] * n,
        "go_annotations": [[]] * n,
    }
    pq.write_table(pa.table(columns, schema=GENE_TABLE_SCHEMA), path)


def write_sources(d) -> SourceOutputs:
    write_genes(d / "genes.parquet", GRAPH_GENES)
    networks = []
    for version, rows in STRING.items():
        pq.write_table(_rows(rows, ("gene_a", "gene_b", "weight", "channel")), d / f"string{version}.parquet")
        networks.append(("string", version, d / f"string{version}.parquet"))
    pq.write_table(_rows(BIOGRID, ("gene_a", "gene_b", "weight", "network")), d / "biogrid.parquet")
    networks.append(("biogrid", GENETIC.version, d / "biogrid.parquet"))
    pq.write_table(_rows(REGULATORY, ("regulator", "target", "regulation_type", "weight")), d / "regulatory.parquet")
    terms = {
        "go_id": list(TERMS),
        "name": list(TERMS),
        "namespace": ["biological_process"] * len(TERMS),
        "genes": list(TERMS.values()),
    }
    pq.write_table(pa.table(terms), d / "terms.parquet")
    return SourceOutputs(
        genes=d / "genes.parquet",
        go_terms=d / "terms.parquet",
        networks=tuple(networks),
        regulatory=d / "regulatory.parquet",
    )


@pytest.fixture(scope="module")
def graph_dir(tmp_path_factory):
    """A ladybug database at `<dir>/torchcell` (where `GraphDatabase(path=dir)` looks for it)."""
    d = tmp_path_factory.mktemp("cell_sources")
    counts = build_graph_tables(write_sources(d), d / "tables", memory_limit="256MB")
    root = tmp_path_factory.mktemp("cell_graph_db")
    with LadybugBackend(root / "torchcell", buffer_pool_size=128 * 2**20) as backend:
        backend.build(d / "tables", counts)
    return root


@pytest.fixture()
def backend(graph_dir):
    with LadybugBackend(graph_dir / "torchcell", buffer_pool_size=128 * 2**20, read_only=True) as opened:
        yield opened


class CountingBackend:
    """A backend that counts the named queries it runs (everything else is passed through)."""

    def __init__(self, inner) -> None:
        self.inner, self.queries = inner, []

    def query(self, name, parameters=None):
        self.queries.append(name)
        return self.inner.query(name, parameters)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def edges(data, relation) -> dict[tuple[int, int], float]:
    store = data["gene", relation, "gene"]
    assert store.edge_index.dtype == torch.int64 and store.edge_weight.dtype == torch.float32
    assert store.edge_index.shape == (2, store.edge_weight.shape[0])
    pairs = [tuple(p) for p in store.edge_index.t().tolist()]
    assert len(pairs) == len(set(pairs))  # deduplicated
    return dict(zip(pairs, [round(w, 6) for w in store.edge_weight.tolist()], strict=True))


def test_graph_sets_name_their_edge_types():
    assert [spec.relation for spec in string_edges("9.1")] == [
        "string_neighborhood_9_1",
        "string_fusion_9_1",
        "string_cooccurence_9_1",
        "string_coexpression_9_1",
        "string_experimental_9_1",
        "string_database_9_1",
    ]
    assert graph_set("string12").relations[0] == "string_neighborhood_12_0"
    assert graph_set("physical+regulatory").relations == ["physical_TAB3", "regulatory"]
    every = graph_set("all").relations
    assert "go_coannotation" in every and "physical_TAB3" in every and "regulatory" in every
    assert not any(r.startswith("genetic") or r.endswith("9_1") or r.endswith("11_0") for r in every)
    assert graph_set("all+genetic").relations == [*every, "genetic_TAB3"]
    assert all("." not in r and "__" not in r for s in GRAPH_SETS.values() for r in s.relations)
    with pytest.raises(KeyError, match="no graph set named 'string13'"):
        graph_set("string13")
    with pytest.raises(ValueError, match="needs a network and a version"):
        EdgeSpec("interacts", "physical")
    with pytest.raises(ValueError, match="edge kind 'coexpression'"):
        EdgeSpec("coexpression", "x", "1")


def test_queries_return_the_graph(backend):
    assert queries.gene_ids(backend) == GRAPH_GENES
    table = queries.network_edges(backend, [("string_coexpression", "12.0"), ("physical", "TAB3")])
    assert sorted(zip(table["network"].to_pylist(), table["version"].to_pylist(), strict=True)) == [
        ("physical", "TAB3"),
        *[("string_coexpression", "12.0")] * 3,
    ]
    assert queries.network_edges(backend, [("string_coexpression", "9.1")]).num_rows == 1
    assert queries.network_edges(backend, []).num_rows == 0
    assert queries.regulatory_edges(backend).num_rows == 4
    assert queries.gene_go_annotations(backend).num_rows == 11
    with pytest.raises(TypeError, match="network pair"):
        queries.network_edges(backend, ["physical"])


class EmptyBackend:
    """Answers every query with no rows and null-typed columns, as the Neo4j backend does for an empty result."""

    def __init__(self, columns: dict[str, tuple[str, ...]]) -> None:
        self.columns = columns

    def query(self, name, parameters=None):
        return pa.table({column: pa.array([]) for column in self.columns[name]})


def test_empty_results_and_bad_input():
    columns = {
        "network_edges": queries.NETWORK_COLUMNS,
        "regulatory_edges": queries.REGULATORY_COLUMNS,
        "gene_go_annotations": queries.ANNOTATION_COLUMNS,
        "gene_ids": ("gene",),
    }
    empty = build_cell_graph(EmptyBackend(columns), "all", INDEX, version="v")
    assert summarise(empty.data)["edges"] == 0 and len(empty.report["empty_edge_types"]) == 9
    assert empty.data["gene", "regulatory", "gene"].edge_index.shape == (2, 0)
    with pytest.raises(RuntimeError, match="query 'regulatory_edges' returned columns"):
        build_cell_graph(
            EmptyBackend(columns | {"regulatory_edges": ("a", "b")}), "physical+regulatory", INDEX, version="v"
        )
    with pytest.raises(TypeError, match="not the single string 'all'"):
        build_cell_graphs(EmptyBackend(columns), "all", INDEX, version="v")
    with pytest.raises(ValueError, match="physical_TAB3: 1 edges have a missing or non-finite weight"):
        undirected_edges(
            pa.array(["YAL001C"]), pa.array(["YAL002W"]), pa.array([None], pa.float64()), INDEX, "physical_TAB3"
        )
    with pytest.raises(ValueError, match="gene index is empty"):
        build_cell_graph(EmptyBackend(columns), "all", GeneIndex([]), version="v")


def test_string_sets_both_directions_dedup_and_drops(backend):
    string9 = build_cell_graph(backend, "string9.1", INDEX)
    data = string9.data
    assert data["gene"].num_nodes == 5 and data["gene"].node_ids == INDEX.genes
    assert edges(data, "string_coexpression_9_1") == {(A1, A2): 0.5, (A2, A1): 0.5}
    assert edges(data, "string_experimental_9_1") == {(A1, B): 0.7, (B, A1): 0.7}  # the YEL001C edge dropped
    stats = string9.report["edge_types"]["string_experimental_9_1"]
    assert stats["rows"] == 2 and stats["rows_outside_index_dropped"] == 1
    assert stats["genes_outside_index_examples"] == ["YEL001C"]
    assert string9.report["empty_edge_types"] == [
        "string_neighborhood_9_1",
        "string_fusion_9_1",
        "string_cooccurence_9_1",
        "string_database_9_1",
    ]
    assert string9.report["graph_genes_outside_index"] == 1
    string12 = build_cell_graph(backend, "string12", INDEX).data
    assert edges(string12, "string_coexpression_12_0") == {(A1, A2): 0.8, (A2, A1): 0.8}  # duplicate: largest weight
    stats = build_cell_graph(backend, "string12", INDEX).report["edge_types"]["string_coexpression_12_0"]
    assert stats["duplicates_merged"] == 1 and stats["self_loops_dropped"] == 1 and stats["edges"] == 2
    assert edges(string12, "string_database_12_0") == {(B, D): 0.4, (D, B): 0.4}
    assert string12["gene", "string_database_12_0", "gene"].version == "12.0"


def test_physical_regulatory_and_go(backend):
    built = build_cell_graphs(backend, ["physical+regulatory", "all"], INDEX, max_term_genes=3)
    pr = built["physical+regulatory"].data
    assert pr.edge_types == [("gene", "physical_TAB3", "gene"), ("gene", "regulatory", "gene")]
    assert edges(pr, "physical_TAB3") == {(A1, C): 1.0, (C, A1): 1.0}
    # Directed: activator + repressor records of one pair summed, autoregulation kept, YEL001C's edge dropped.
    assert edges(pr, "regulatory") == {(A1, B): 3.0, (C, C): 1.0}
    stats = built["physical+regulatory"].report["edge_types"]["regulatory"]
    assert (stats["duplicates_merged"], stats["self_loops_kept"], stats["rows_outside_index_dropped"]) == (1, 1, 1)
    # GO: terms of 2 and 3 genes used; the 6-gene term (5 in the index) is too large at 3.
    assert edges(built["all"].data, "go_coannotation") == {
        (A1, A2): 2.0,
        (A2, A1): 2.0,
        (A1, B): 1.0,
        (B, A1): 1.0,
        (A2, B): 1.0,
        (B, A2): 1.0,
    }
    go = built["all"].report["edge_types"]["go_coannotation"]
    assert (go["terms"], go["terms_used"], go["terms_too_large"], go["rows_outside_index_dropped"]) == (3, 2, 1, 1)
    wide = build_cell_graph(backend, "all", INDEX, max_term_genes=5).data
    assert len(edges(wide, "go_coannotation")) == 20  # every pair of the 5 genes
    assert edges(wide, "go_coannotation")[A1, A2] == 3.0 and edges(wide, "go_coannotation")[C, D] == 1.0
    for bad in (1, 2.5, True):
        with pytest.raises(ValueError, match="max_term_genes must be an integer >= 2"):
            build_cell_graph(backend, "all", INDEX, max_term_genes=bad)


def test_leakage_rule(backend):
    with pytest.raises(LabelLeakageError, match=r"genetic_TAB3 \(built from costanzo2016\)") as caught:
        build_cell_graph(backend, "all+genetic", INDEX, label_datasets=["costanzo2016"])
    assert caught.value.leaks == {"genetic_TAB3": ["costanzo2016"]}
    leaky = build_cell_graph(backend, "all+genetic", INDEX, label_datasets=[])
    assert edges(leaky.data, "genetic_TAB3") == {(A2, B): 1.0, (B, A2): 1.0}
    with pytest.raises(LabelLeakageError):
        check_no_label_leakage(leaky.data, ["kuzmin2020"])  # the built graph is checked by its edge networks
    with pytest.raises(LabelLeakageError):
        check_no_label_leakage([("gene", "genetic_TAB3", "gene")], ["costanzo2016_smf"])
    check_no_label_leakage(graph_set("all"), ["costanzo2016", "kuzmin2018", "kuzmin2020"])
    with pytest.raises(ValueError, match=r"unknown label datasets \['costanzo_2016'\]"):
        check_no_label_leakage(graph_set("all"), ["costanzo_2016"])  # a typo may not bypass the rule
    with pytest.raises(TypeError, match="not the single string"):
        check_no_label_leakage(graph_set("all"), "costanzo2016")


def test_cache_hit_does_not_query(backend, tmp_path):
    counting = CountingBackend(backend)
    first = build_cell_graphs(counting, ["string12", "all"], INDEX, cache_dir=tmp_path)
    # One network query for both sets, plus regulatory, GO and the gene ids.
    assert sorted(counting.queries) == ["gene_go_annotations", "gene_ids", "network_edges", "regulatory_edges"]
    assert not any(r.cache_hit for r in first.values()) and all(r.path.is_file() for r in first.values())
    counting.queries.clear()
    second = build_cell_graphs(counting, ["string12", "all"], INDEX, cache_dir=tmp_path)
    assert counting.queries == [] and all(r.cache_hit for r in second.values())
    for name in first:
        assert content_digest(second[name].data) == content_digest(first[name].data)
        assert second[name].report == first[name].report
    other = build_cell_graph(counting, "all", INDEX, cache_dir=tmp_path, max_term_genes=5)  # another key
    assert not other.cache_hit and other.key != first["all"].key and counting.queries
    assert sorted(p.name.split("-")[0] for p in tmp_path.glob("*.pt")) == ["all", "string12"]  # stale file replaced
    assert not build_cell_graph(backend, "string12", INDEX, cache_dir=tmp_path, version="other").cache_hit
    assert not build_cell_graph(backend, "string12", GeneIndex(GRAPH_GENES), cache_dir=tmp_path).cache_hit


def test_summary_figures(backend):
    summary = summarise(build_cell_graph(backend, "physical+regulatory", INDEX).data)
    assert summary["nodes"] == 5 and summary["edges"] == 4
    # physical degrees over the 5 genes: A1 1, A2 0, B 0, C 1, D 0.
    assert summary["edge_types"]["physical_TAB3"] == {
        "edges": 2,
        "degree": {"min": 0, "mean": 0.4, "median": 0.0, "max": 1, "isolated": 3},
    }
    # regulatory out-degree: A1 1 (B), C 1 (itself).
    assert summary["edge_types"]["regulatory"]["degree"]["max"] == 1


def test_edge_problems_and_load_checks(backend, tmp_path):
    data = build_cell_graph(backend, "physical+regulatory", INDEX).data
    assert edge_problems(data) == {}
    data["gene", "physical_TAB3", "gene"].edge_index = torch.tensor([[0, 5], [5, 0]])
    assert "indices span 0..5, nodes 0..4" in edge_problems(data)["physical_TAB3"]
    data["gene", "physical_TAB3", "gene"].edge_index = torch.tensor([[0, 1]])
    assert "expected [2, E] int64" in edge_problems(data)["physical_TAB3"]
    path = tmp_path / "broken.pt"
    torch.save({"format": "0"}, path)
    with pytest.raises(ValueError, match="cell graph format '0'"):
        load_cell_graph(path)


def _storage(tmp_path) -> TorchcellStorage:
    storage = TorchcellStorage(data_dir=str(tmp_path / "data"))
    write_genes(storage.path(*GENOME_PARQUET), GRAPH_GENES[:5])
    return storage


def _materialize(storage, graph_dir, config: CellGraphsConfig):
    checks = [nodes_match_genome, edge_indices_in_range, no_genetic_edges_for_interaction_labels]
    return dg.materialize(
        [cell_graphs, *checks],
        resources={"storage": storage, "graph": GraphDatabase(path=str(graph_dir), buffer_pool_gib=0.125)},
        run_config=dg.RunConfig(ops={"cell_graphs": config}),
        raise_on_error=False,
    )


def test_asset_builds_every_default_set_and_its_checks_pass(graph_dir, tmp_path):
    storage = _storage(tmp_path)
    result = _materialize(storage, graph_dir, CellGraphsConfig(max_term_genes=3))
    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["graph_sets"].value == ["string9.1", "string12", "physical+regulatory", "all"]
    assert metadata["nodes"].value == 5 and metadata["cache_hits"].value == 0
    assert metadata["edges_per_type"].value["physical+regulatory"] == {"physical_TAB3": 2, "regulatory": 2}
    assert metadata["rows_outside_index_dropped"].value["all"]["go_coannotation"] == 1
    summary = [record.data for record in metadata["summary"].value.records]  # a table: one row per set and edge type
    assert any(r["set"] == "physical+regulatory" and r["edge type"] == "regulatory" for r in summary)
    evaluations = result.get_asset_check_evaluations()
    assert all(e.passed for e in evaluations) and len(evaluations) == 3
    manifest = json.loads(storage.cell_graphs_manifest().read_text())["graph_sets"]
    assert sorted(p.name for p in storage.root().joinpath("cell_graphs").glob("*.pt")) == sorted(
        e["file"] for e in manifest.values()
    )
    again = _materialize(storage, graph_dir, CellGraphsConfig(max_term_genes=3))
    (second,) = again.get_asset_materialization_events()
    assert second.materialization.metadata["cache_hits"].value == 4
    assert second.materialization.tags["dagster/data_version"] == event.materialization.tags["dagster/data_version"]


def test_asset_refuses_a_leaking_set_and_the_check_catches_a_planted_one(graph_dir, tmp_path):
    storage = _storage(tmp_path)
    refused = _materialize(storage, graph_dir, CellGraphsConfig(graph_sets=["all+genetic"]))
    assert not refused.success
    assert "LabelLeakageError" in str(refused.get_step_failure_events()[0].event_specific_data.error)
    assert _materialize(storage, graph_dir, CellGraphsConfig(graph_sets=["all+genetic"], label_datasets=[])).success
    # Plant genetic edges in the "all" file: the leakage check fails, naming the set.
    built = _materialize(storage, graph_dir, CellGraphsConfig(graph_sets=["all"]))
    entry = json.loads(storage.cell_graphs_manifest().read_text())["graph_sets"]["all"]
    with LadybugBackend(graph_dir / "torchcell", buffer_pool_size=128 * 2**20, read_only=True) as backend:
        leaky = build_cell_graph(backend, "all+genetic", INDEX, label_datasets=[])
    save_cell_graph(storage.root() / "cell_graphs" / entry["file"], leaky.data, leaky.report)
    evaluation = no_genetic_edges_for_interaction_labels(storage=storage)
    assert built.success and not evaluation.passed
    assert evaluation.metadata["leaks"].value == {"all": {"genetic_TAB3": ["costanzo2016", "kuzmin2018", "kuzmin2020"]}}
    assert cache_path(storage.root(), graph_set("all"), "x").name == "all-x.pt"
