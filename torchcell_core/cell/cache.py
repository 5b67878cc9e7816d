"""Cell graphs cached as `.pt` files keyed by a digest of everything that shapes them.

The key covers the graph set's name and edge types, the graph database's build version,
`max_term_genes`, the gene index and this file format, so the same inputs load the file
instead of querying the database. Files hold plain tensors, lists and dicts only, so they
load with `torch.load(weights_only=True)` (no pickled code runs on load).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from torch_geometric.data import HeteroData

from torchcell_core.cell.graph_sets import NODE_TYPE, GraphSet
from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.graph.backend import GraphBackend
from torchcell_core.hashing import json_digest

CACHE_FORMAT = "1"


def graph_version(backend: GraphBackend) -> str:
    """A version of the database's content: its build record where the backend keeps one (ladybug: a new
    build, even of the same tables, is a new version), else its schema version and per-table counts."""
    record = getattr(backend, "build_record", lambda: None)()
    if record:
        return json_digest(["build", record])
    return json_digest(["counts", backend.schema_version(), backend.counts()])


def cache_key(graph_set: GraphSet, version: str, gene_index: GeneIndex, max_term_genes: int) -> str:
    """A digest of the inputs of one cell graph (see the module docstring)."""
    genes = hashlib.sha256("\n".join(gene_index.genes).encode()).hexdigest()
    edges = [spec.as_dict() for spec in graph_set.edges]
    return json_digest([CACHE_FORMAT, graph_set.name, edges, version, genes, int(max_term_genes)])


def cache_path(directory: str | Path, graph_set: GraphSet, key: str) -> Path:
    """`<directory>/<set slug>-<key>.pt`."""
    return Path(directory) / f"{graph_set.slug}-{key}.pt"


def save_cell_graph(path: str | Path, data: HeteroData, report: dict[str, Any]) -> Path:
    """Write `data` and its build `report` to `path` atomically; older files of the same set are removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CACHE_FORMAT,
        "node_ids": list(data[NODE_TYPE].node_ids),
        "edges": {
            rel: {
                "edge_index": data[src, rel, dst].edge_index,
                "edge_weight": data[src, rel, dst].edge_weight,
                "network": data[src, rel, dst].network,
                "version": data[src, rel, dst].version,
            }
            for src, rel, dst in data.edge_types
        },
        "graph_set": data.graph_set,
        "report": report,
    }
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    torch.save(payload, partial)
    partial.replace(path)
    slug = path.name.rsplit("-", 1)[0]
    for stale in path.parent.glob(f"{slug}-*.pt"):
        if stale != path and stale.name.rsplit("-", 1)[0] == slug:
            stale.unlink()
    return path


def load_cell_graph(path: str | Path) -> tuple[HeteroData, dict[str, Any]]:
    """The `HeteroData` and build report saved at `path`."""
    payload = torch.load(Path(path), weights_only=True)
    if payload.get("format") != CACHE_FORMAT:
        raise ValueError(f"{path}: cell graph format {payload.get('format')!r}, expected {CACHE_FORMAT!r}")
    data = HeteroData()
    data.graph_set = payload["graph_set"]
    data[NODE_TYPE].node_ids = payload["node_ids"]
    data[NODE_TYPE].num_nodes = len(payload["node_ids"])
    for relation, edges in payload["edges"].items():
        store = data[NODE_TYPE, relation, NODE_TYPE]
        store.edge_index, store.edge_weight = edges["edge_index"], edges["edge_weight"]
        store.network, store.version = edges["network"], edges["version"]
    return data, payload["report"]


def content_digest(data: HeteroData) -> str:
    """A digest of the graph's content (node ids, and each edge type's indices and weights): a data version."""
    digest = hashlib.sha256("\n".join(data[NODE_TYPE].node_ids).encode())
    for src, rel, dst in sorted(data.edge_types):
        store = data[src, rel, dst]
        digest.update(f"|{src}|{rel}|{dst}|".encode())
        digest.update(store.edge_index.contiguous().numpy().tobytes())
        digest.update(store.edge_weight.contiguous().numpy().tobytes())
    return digest.hexdigest()
