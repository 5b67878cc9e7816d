"""Build cell graphs: a `HeteroData` over every gene of a `GeneIndex`, one edge type per network of a graph set.

Node i is gene i of the index (`data["gene"].node_ids`); each edge type holds `edge_index`
[2, E] int64 and `edge_weight` [E] float32, plus its `network` and `version` names. Graphs
are cached as `.pt` files (`cache.py`); building several sets shares one query per table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch_geometric.data import HeteroData

from torchcell_core.cell import queries
from torchcell_core.cell.cache import cache_key, cache_path, graph_version, load_cell_graph, save_cell_graph
from torchcell_core.cell.edge_arrays import (
    DEFAULT_MAX_TERM_GENES,
    EdgeArrays,
    check_max_term_genes,
    directed_edges,
    go_coannotation_edges,
    undirected_edges,
)
from torchcell_core.cell.graph_sets import GO_COANNOTATION, INTERACTS, NODE_TYPE, EdgeSpec, GraphSet, graph_set
from torchcell_core.cell.leakage import check_no_label_leakage
from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.graph.backend import GraphBackend


@dataclass
class CellGraph:
    """One built (or cache-loaded) cell graph, its build report and where it is stored."""

    graph_set: GraphSet
    data: HeteroData
    report: dict[str, Any]
    key: str
    path: Path | None
    cache_hit: bool


class KnowledgeGraphEdges:
    """The knowledge-graph tables a cell graph needs, each queried once and kept for every later graph set.

    `queries_run` counts the queries sent to the backend.
    """

    def __init__(self, backend: GraphBackend) -> None:
        self.backend = backend
        self.queries_run = 0
        self._networks: dict[tuple[str, str], pa.Table] = {}
        self._regulatory: pa.Table | None = None
        self._annotations: pa.Table | None = None
        self._genes: list[str] | None = None

    def fetch_networks(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Query the INTERACTS edges of every (network, version) pair not fetched yet, in one query."""
        missing = sorted(set(pairs) - set(self._networks))
        if not missing:
            return
        table = queries.network_edges(self.backend, missing)
        self.queries_run += 1
        for network, version in missing:
            mask = pc.and_(pc.equal(table.column("network"), network), pc.equal(table.column("version"), version))
            self._networks[network, version] = table.filter(mask)

    def network(self, network: str, version: str) -> pa.Table:
        self.fetch_networks([(network, version)])
        return self._networks[network, version]

    def regulatory(self) -> pa.Table:
        if self._regulatory is None:
            self._regulatory = queries.regulatory_edges(self.backend)
            self.queries_run += 1
        return self._regulatory

    def annotations(self) -> pa.Table:
        if self._annotations is None:
            self._annotations = queries.gene_go_annotations(self.backend)
            self.queries_run += 1
        return self._annotations

    def genes(self) -> list[str]:
        if self._genes is None:
            self._genes = queries.gene_ids(self.backend)
            self.queries_run += 1
        return self._genes


def edge_arrays(spec: EdgeSpec, edges: KnowledgeGraphEdges, gene_index: GeneIndex, max_term_genes: int) -> EdgeArrays:
    """The edge arrays of one edge type over `gene_index`."""
    if spec.kind == INTERACTS:
        table = edges.network(spec.network, spec.version)
        return undirected_edges(table["gene_a"], table["gene_b"], table["weight"], gene_index, spec.relation)
    if spec.kind == GO_COANNOTATION:
        table = edges.annotations()
        return go_coannotation_edges(table["gene"], table["term"], gene_index, max_term_genes)
    table = edges.regulatory()
    return directed_edges(table["regulator"], table["target"], table["weight"], gene_index, spec.relation)


def assemble(chosen: GraphSet, gene_index: GeneIndex, arrays: dict[str, EdgeArrays]) -> HeteroData:
    """The `HeteroData` of a graph set from its edge arrays (keyed by relation name)."""
    data = HeteroData()
    data.graph_set = chosen.name
    data[NODE_TYPE].num_nodes = len(gene_index)
    data[NODE_TYPE].node_ids = list(gene_index.genes)
    for spec in chosen.edges:
        store = data[spec.edge_type]
        store.edge_index = torch.from_numpy(arrays[spec.relation].edge_index).to(torch.int64)
        store.edge_weight = torch.from_numpy(arrays[spec.relation].edge_weight).to(torch.float32)
        store.network, store.version = spec.network, spec.version
    return data


def _report(
    chosen: GraphSet,
    arrays: dict[str, EdgeArrays],
    graph_genes: list[str],
    gene_index: GeneIndex,
    max_term_genes: int,
    label_datasets: Sequence[str] | None,
) -> dict[str, Any]:
    outside = gene_index.unknown(graph_genes)
    return {
        "graph_set": chosen.name,
        "edge_types": {relation: array.stats for relation, array in arrays.items()},
        "empty_edge_types": [relation for relation, array in arrays.items() if array.num_edges == 0],
        "graph_genes": len(graph_genes),
        "graph_genes_outside_index": len(outside),
        "index_genes_not_in_graph": len(set(gene_index.genes) - set(graph_genes)),
        "max_term_genes": max_term_genes,
        "label_datasets": None if label_datasets is None else sorted(label_datasets),
    }


def build_cell_graphs(
    backend: GraphBackend,
    names: Sequence[str],
    gene_index: GeneIndex,
    *,
    max_term_genes: int = DEFAULT_MAX_TERM_GENES,
    label_datasets: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
    version: str | None = None,
    rebuild: bool = False,
) -> dict[str, CellGraph]:
    """Build (or load from `cache_dir`) the cell graph of each named graph set.

    `label_datasets`: the datasets the graphs will predict; every set is checked against them
    for label leakage before anything is queried (None: no check). `version`: the database's
    content version for the cache key (default `cache.graph_version(backend)`). `rebuild`:
    ignore cached files. Uncached sets share one query per table.
    """
    if isinstance(names, str):
        raise TypeError(f"names: a list of graph set names, not the single string {names!r}")
    if len(gene_index) == 0:
        raise ValueError("the gene index is empty: a cell graph needs at least one gene")
    max_term_genes = check_max_term_genes(max_term_genes)
    chosen = [graph_set(name) for name in dict.fromkeys(names)]
    if label_datasets is not None:
        for each in chosen:
            check_no_label_leakage(each, label_datasets)
    version = version or graph_version(backend)
    keys = {each.name: cache_key(each, version, gene_index, max_term_genes) for each in chosen}
    results: dict[str, CellGraph] = {}
    for each in chosen:
        path = cache_path(cache_dir, each, keys[each.name]) if cache_dir is not None else None
        if path is not None and path.is_file() and not rebuild:
            data, report = load_cell_graph(path)
            results[each.name] = CellGraph(each, data, report, keys[each.name], path, cache_hit=True)
    edges = KnowledgeGraphEdges(backend)
    todo = [each for each in chosen if each.name not in results]
    edges.fetch_networks((s.network, s.version) for each in todo for s in each.edges if s.kind == INTERACTS)
    for each in todo:
        arrays = {spec.relation: edge_arrays(spec, edges, gene_index, max_term_genes) for spec in each.edges}
        data = assemble(each, gene_index, arrays)
        report = _report(each, arrays, edges.genes(), gene_index, max_term_genes, label_datasets)
        path = cache_path(cache_dir, each, keys[each.name]) if cache_dir is not None else None
        if path is not None:
            save_cell_graph(path, data, report)
        results[each.name] = CellGraph(each, data, report, keys[each.name], path, cache_hit=False)
    return {name: results[name] for name in dict.fromkeys(names)}


def build_cell_graph(backend: GraphBackend, name: str, gene_index: GeneIndex, **options: Any) -> CellGraph:
    """`build_cell_graphs` for one graph set."""
    return build_cell_graphs(backend, [name], gene_index, **options)[name]
