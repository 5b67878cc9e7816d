"""Named graph sets: which gene networks become edge types of a cell graph.

The reference report's sweep compared graph choices, so a set is chosen by name. Every network comes
from the knowledge graph: INTERACTS edges by (network, version) (STRING channels per
release, BioGRID physical and genetic), REGULATES edges (TF -> target), and GO
co-annotation derived from ANNOTATED_TO.

Decisions:
- STRING sets use the six evidence channels; `combined_score` is left out because it is a
  function of the channels (it would double-count them).
- "all" uses the latest STRING release (12.0) only: older releases are largely subsets of it,
  so adding them triples the STRING edges for near-duplicate evidence; comparing releases is
  what "string9.1" and "string12" are for.
- "all" never includes the BioGRID genetic network; "all+genetic" does, and is refused
  (`leakage.check_no_label_leakage`) for labels from the screens that network was built from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torchcell_core.networks.string_db import STRING_CHANNELS
from torchcell_core.sources.registry import REGISTRY

NODE_TYPE = "gene"
INTERACTS, REGULATES, GO_COANNOTATION = "interacts", "regulates", "go_coannotation"
EDGE_KINDS = (INTERACTS, REGULATES, GO_COANNOTATION)
STRING_EVIDENCE_CHANNELS = tuple(channel for channel in STRING_CHANNELS if channel != "combined_score")
BIOGRID_VERSION = REGISTRY["biogrid"].version
LATEST_STRING_VERSION = "12.0"
_NOT_NAME = re.compile(r"[^A-Za-z0-9]+")


@dataclass(frozen=True)
class EdgeSpec:
    """One edge type of a cell graph: an INTERACTS (network, version), the regulatory network or GO co-annotation."""

    kind: str
    network: str
    version: str = ""

    def __post_init__(self) -> None:
        if self.kind not in EDGE_KINDS:
            raise ValueError(f"edge kind {self.kind!r} is not one of {EDGE_KINDS}")
        if self.kind == INTERACTS and not (self.network and self.version):
            raise ValueError(f"an INTERACTS edge type needs a network and a version, not {self!r}")

    @property
    def relation(self) -> str:
        """The PyG relation name: `<network>_<version>`, anything but letters and digits as one `_`."""
        name = f"{self.network}_{self.version}" if self.version else self.network
        return _NOT_NAME.sub("_", name).strip("_")

    @property
    def edge_type(self) -> tuple[str, str, str]:
        """The PyG edge type `("gene", relation, "gene")`."""
        return (NODE_TYPE, self.relation, NODE_TYPE)

    @property
    def directed(self) -> bool:
        """Regulation is directed (regulator -> target); every other network is stored in both directions."""
        return self.kind == REGULATES

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "network": self.network, "version": self.version, "relation": self.relation}


@dataclass(frozen=True)
class GraphSet:
    """A named list of edge types; `for_interaction_labels` is False for a set that may not predict them."""

    name: str
    edges: tuple[EdgeSpec, ...]
    description: str
    for_interaction_labels: bool = True

    @property
    def relations(self) -> list[str]:
        return [spec.relation for spec in self.edges]

    @property
    def slug(self) -> str:
        """The set's name as a file name part (`all+genetic` -> `all_genetic`)."""
        return _NOT_NAME.sub("_", self.name).strip("_")


def string_edges(version: str) -> tuple[EdgeSpec, ...]:
    """The STRING evidence channels of one release, as stored in the graph (`string_<channel>`)."""
    return tuple(EdgeSpec(INTERACTS, f"string_{channel}", version) for channel in STRING_EVIDENCE_CHANNELS)


PHYSICAL = EdgeSpec(INTERACTS, "physical", BIOGRID_VERSION)
GENETIC = EdgeSpec(INTERACTS, "genetic", BIOGRID_VERSION)
REGULATORY = EdgeSpec(REGULATES, "regulatory")
GO = EdgeSpec(GO_COANNOTATION, "go_coannotation")
_ALL = (*string_edges(LATEST_STRING_VERSION), PHYSICAL, REGULATORY, GO)

GRAPH_SETS: dict[str, GraphSet] = {
    graph_set.name: graph_set
    for graph_set in (
        GraphSet("string9.1", string_edges("9.1"), "STRING 9.1 evidence channels"),
        GraphSet("string12", string_edges("12.0"), "STRING 12.0 evidence channels"),
        GraphSet("physical+regulatory", (PHYSICAL, REGULATORY), "BioGRID physical and TF -> target regulation"),
        GraphSet("all", _ALL, "STRING 12.0 channels, physical, regulatory, GO co-annotation; never genetic"),
        GraphSet("all+genetic", (*_ALL, GENETIC), "'all' plus BioGRID genetic: leaks screen labels", False),
    )
}
DEFAULT_GRAPH_SETS = ("string9.1", "string12", "physical+regulatory", "all")


def graph_set(name: str) -> GraphSet:
    """The graph set called `name`; a KeyError lists the known names."""
    if name not in GRAPH_SETS:
        raise KeyError(f"no graph set named {name!r}; known: {sorted(GRAPH_SETS)}")
    return GRAPH_SETS[name]
