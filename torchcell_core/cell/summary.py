"""Summary figures of a cell graph for metadata: nodes, edges per type, degree distribution per type."""

from __future__ import annotations

from typing import Any

import torch
from torch_geometric.data import HeteroData

from torchcell_core.cell.graph_sets import NODE_TYPE


def degree_summary(edge_index: torch.Tensor, num_nodes: int) -> dict[str, float]:
    """Min, mean, median and max out-degree over ALL nodes (isolated ones count as 0), from `edge_index` [2, E].

    Undirected types are stored in both directions, so out-degree is the degree; for a directed type
    (regulatory) it is the number of targets a gene regulates.
    """
    if num_nodes == 0:
        return {"min": 0, "mean": 0.0, "median": 0.0, "max": 0, "isolated": 0}
    degree = torch.bincount(edge_index[0], minlength=num_nodes).double()
    return {
        "min": int(degree.min()),
        "mean": round(float(degree.mean()), 4),
        "median": float(degree.quantile(0.5)),
        "max": int(degree.max()),
        "isolated": int((degree == 0).sum()),
    }


def summarise(data: HeteroData) -> dict[str, Any]:
    """`{"nodes": n, "edges": total, "edge_types": {relation: {"edges": E, "degree": {...}}}}`."""
    num_nodes = int(data[NODE_TYPE].num_nodes)
    types = {}
    for src, rel, dst in data.edge_types:
        edge_index = data[src, rel, dst].edge_index
        types[rel] = {"edges": int(edge_index.shape[1]), "degree": degree_summary(edge_index, num_nodes)}
    return {"nodes": num_nodes, "edges": sum(t["edges"] for t in types.values()), "edge_types": types}


def summary_rows(graph_set: str, summary: dict[str, Any], report: dict[str, Any] | None = None) -> list[dict]:
    """One flat row per edge type (for a Markdown table): set, edge type, edges, degree figures, rows dropped."""
    rows = []
    for relation, figures in summary["edge_types"].items():
        stats = (report or {}).get("edge_types", {}).get(relation, {})
        degree = figures["degree"]
        rows.append(
            {
                "set": graph_set,
                "edge type": relation,
                "nodes": summary["nodes"],
                "edges": figures["edges"],
                "degree min": degree["min"],
                "degree mean": degree["mean"],
                "degree median": degree["median"],
                "degree max": degree["max"],
                "isolated": degree["isolated"],
                "dropped (outside index)": stats.get("rows_outside_index_dropped", 0),
            }
        )
    return rows
