"""Typed wrappers around the cell-graph queries (`gene_ids`, `network_edges`, `regulatory_edges`,
`gene_go_annotations`), for any `GraphBackend`; each checks the columns it gets back."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from torchcell_core.graph.backend import GraphBackend

NETWORK_COLUMNS = ("gene_a", "gene_b", "network", "version", "weight")
REGULATORY_COLUMNS = ("regulator", "target", "regulation", "weight")
ANNOTATION_COLUMNS = ("gene", "term")


def _checked(table: pa.Table, name: str, columns: tuple[str, ...]) -> pa.Table:
    """`table` with the expected columns, cast to string (and `weight` to float64): an empty result from
    the Neo4j backend comes back with null-typed columns."""
    if tuple(table.column_names) != columns:
        raise RuntimeError(f"query {name!r} returned columns {table.column_names}, expected {list(columns)}")
    schema = pa.schema([(c, pa.float64() if c == "weight" else pa.string()) for c in columns])
    return table.cast(schema)


def gene_ids(backend: GraphBackend) -> list[str]:
    """Every Gene id in the graph, sorted."""
    table = _checked(backend.query("gene_ids", {}), "gene_ids", ("gene",))
    return sorted(table.column("gene").to_pylist())


def network_edges(backend: GraphBackend, pairs: Iterable[tuple[str, str]]) -> pa.Table:
    """INTERACTS edges of exactly the requested (network, version) pairs, columns `NETWORK_COLUMNS`.

    One query for all pairs: the query matches the cross product of networks and versions,
    and rows of pairs not asked for are filtered out here.
    """
    pairs = sorted(set(pairs))
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(p, str) and p for p in pair)):
            raise TypeError(f"network pair {pair!r}: a (network, version) tuple of non-empty strings")
    parameters = {"networks": sorted({n for n, _ in pairs}), "versions": sorted({v for _, v in pairs})}
    table = _checked(backend.query("network_edges", parameters), "network_edges", NETWORK_COLUMNS)
    if len({n for n, _ in pairs}) > 1 and len({v for _, v in pairs}) > 1:
        wanted = pa.array([f"{n}\x1f{v}" for n, v in pairs])
        keys = pc.binary_join_element_wise(table.column("network"), table.column("version"), "\x1f")
        table = table.filter(pc.is_in(keys, value_set=wanted))
    return table


def regulatory_edges(backend: GraphBackend) -> pa.Table:
    """Every REGULATES edge, columns `REGULATORY_COLUMNS` (regulator -> target)."""
    return _checked(backend.query("regulatory_edges", {}), "regulatory_edges", REGULATORY_COLUMNS)


def gene_go_annotations(backend: GraphBackend) -> pa.Table:
    """Every ANNOTATED_TO edge as (gene, term), columns `ANNOTATION_COLUMNS`."""
    return _checked(backend.query("gene_go_annotations", {}), "gene_go_annotations", ANNOTATION_COLUMNS)
