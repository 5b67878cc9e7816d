"""Checks on the cell graphs; each can fail."""

import json

import dagster as dg
import torch
from torch_geometric.data import HeteroData

from torchcell_assets.defs.cell_graphs.assets import cell_graphs
from torchcell_assets.defs.sources.paths import GENOME_PARQUET
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.cell.cache import load_cell_graph
from torchcell_core.cell.graph_sets import GRAPH_SETS, NODE_TYPE
from torchcell_core.cell.leakage import INTERACTION_LABEL_DATASETS, LabelLeakageError, check_no_label_leakage
from torchcell_core.genome.gene_index import GeneIndex

NODES_MATCH_GENOME = "nodes_match_genome"
EDGES_IN_RANGE = "edge_indices_in_range"
NO_GENETIC_FOR_INTERACTION_LABELS = "no_genetic_edges_for_interaction_labels"


def _built(storage: TorchcellStorage) -> dict[str, tuple[HeteroData, dict]]:
    """Every graph set of the manifest, loaded from its file."""
    manifest = json.loads(storage.cell_graphs_manifest().read_text())
    directory = storage.cell_graphs_manifest().parent
    entries = manifest["graph_sets"].items()
    return {name: (load_cell_graph(directory / entry["file"])[0], entry) for name, entry in entries}


@dg.asset_check(asset=cell_graphs, name=NODES_MATCH_GENOME, blocking=True)
def nodes_match_genome(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Every cell graph has one node per genome gene, in gene-index order."""
    genes = GeneIndex.from_gene_table(storage.path(*GENOME_PARQUET)).genes
    problems = {}
    for name, (data, _) in _built(storage).items():
        if int(data[NODE_TYPE].num_nodes) != len(genes) or list(data[NODE_TYPE].node_ids) != genes:
            problems[name] = {"nodes": int(data[NODE_TYPE].num_nodes), "genome_genes": len(genes)}
    return dg.AssetCheckResult(
        passed=not problems, metadata={"genome_genes": len(genes), "problems": dg.MetadataValue.json(problems)}
    )


def edge_problems(data: HeteroData) -> dict[str, str]:
    """Per edge type, what is wrong with its `edge_index` [2, E] / `edge_weight` [E] (empty when nothing is)."""
    num_nodes = int(data[NODE_TYPE].num_nodes)
    problems = {}
    for src, rel, dst in data.edge_types:
        index, weight = data[src, rel, dst].edge_index, data[src, rel, dst].edge_weight
        if index.dtype != torch.int64 or index.dim() != 2 or index.shape[0] != 2:
            problems[rel] = f"edge_index {tuple(index.shape)} {index.dtype}, expected [2, E] int64"
        elif index.numel() and (int(index.min()) < 0 or int(index.max()) >= num_nodes):
            problems[rel] = f"indices span {int(index.min())}..{int(index.max())}, nodes 0..{num_nodes - 1}"
        elif weight.shape != (index.shape[1],) or not bool(torch.isfinite(weight).all()):
            problems[rel] = f"edge_weight {tuple(weight.shape)} for {index.shape[1]} edges, or not finite"
    return problems


@dg.asset_check(asset=cell_graphs, name=EDGES_IN_RANGE, blocking=True)
def edge_indices_in_range(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Every edge index is a node of its graph; weights are finite and one per edge."""
    problems = {name: found for name, (data, _) in _built(storage).items() if (found := edge_problems(data))}
    return dg.AssetCheckResult(passed=not problems, metadata={"problems": dg.MetadataValue.json(problems)})


@dg.asset_check(asset=cell_graphs, name=NO_GENETIC_FOR_INTERACTION_LABELS, blocking=True)
def no_genetic_edges_for_interaction_labels(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """No graph set meant for interaction labels (every set but those marked otherwise, e.g. "all+genetic")
    holds an edge type built from the Costanzo/Kuzmin screens (the BioGRID genetic network)."""
    leaks, checked = {}, []
    for name, (data, _) in _built(storage).items():
        if name in GRAPH_SETS and not GRAPH_SETS[name].for_interaction_labels:
            continue
        checked.append(name)
        try:
            check_no_label_leakage(data, INTERACTION_LABEL_DATASETS)
        except LabelLeakageError as error:
            leaks[name] = error.leaks
    return dg.AssetCheckResult(
        passed=not leaks,
        metadata={"checked_sets": dg.MetadataValue.json(checked), "leaks": dg.MetadataValue.json(leaks)},
    )
