"""Label leakage: a network built from the screens that produced the labels may not be an input edge type.

BioGRID's genetic interactions include the Costanzo 2016 and Kuzmin 2018/2020 SGA screens,
so its edges encode the very ε/τ a model is asked to predict from those screens. The two
tables below are the one place that says which network comes from which screens and which
label dataset comes from which screen.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch_geometric.data import HeteroData

from torchcell_core.cell.graph_sets import EdgeSpec, GraphSet

# Network (as stored in INTERACTS.network) -> the screens its edges were built from.
NETWORK_SCREENS: dict[str, frozenset[str]] = {
    "genetic": frozenset({"costanzo2016", "kuzmin2018", "kuzmin2020"}),
}
# Label dataset (graph Dataset ids and the curated tables built from them) -> the screen it comes from.
LABEL_DATASET_SCREENS: dict[str, str] = {
    "costanzo2016": "costanzo2016",
    "costanzo2016_smf": "costanzo2016",
    "digenic_interactions": "costanzo2016",
    "kuzmin2018": "kuzmin2018",
    "kuzmin2020": "kuzmin2020",
}
INTERACTION_LABEL_DATASETS = ("costanzo2016", "kuzmin2018", "kuzmin2020")

EdgeTypes = HeteroData | GraphSet | Iterable[EdgeSpec | tuple[str, str, str] | str]


class LabelLeakageError(ValueError):
    """An input edge type was built from the screens that produced the labels."""

    def __init__(self, leaks: dict[str, list[str]], label_datasets: list[str]) -> None:
        self.leaks = leaks
        self.label_datasets = label_datasets
        described = "; ".join(f"{relation} (built from {', '.join(screens)})" for relation, screens in leaks.items())
        super().__init__(f"edge types leak the labels of {label_datasets}: {described}")


def _network_of(relation: str) -> str:
    """The leaking network a PyG relation name belongs to (`genetic_TAB3` -> `genetic`), else the name itself."""
    for network in NETWORK_SCREENS:
        if relation == network or relation.startswith(f"{network}_"):
            return network
    return relation


def _networks(edge_types: EdgeTypes) -> dict[str, str]:
    """relation name -> network name, for every edge type given."""
    if isinstance(edge_types, HeteroData):
        return {
            rel: getattr(edge_types[src, rel, dst], "network", None) or _network_of(rel)
            for src, rel, dst in edge_types.edge_types
        }
    if isinstance(edge_types, GraphSet):
        edge_types = edge_types.edges
    if isinstance(edge_types, str):
        raise TypeError(f"edge types: a collection, not the single string {edge_types!r}")
    networks = {}
    for item in edge_types:
        if isinstance(item, EdgeSpec):
            networks[item.relation] = item.network
        elif isinstance(item, tuple) and len(item) == 3:
            networks[item[1]] = _network_of(item[1])
        elif isinstance(item, str):
            networks[item] = _network_of(item)
        else:
            raise TypeError(f"edge type {item!r}: an EdgeSpec, a (src, relation, dst) tuple or a relation name")
    return networks


def label_screens(label_datasets: Iterable[str]) -> set[str]:
    """The screens the label datasets come from; an unknown dataset name raises (a typo must not bypass the check)."""
    if isinstance(label_datasets, str):
        raise TypeError(f"label_datasets: a list of dataset names, not the single string {label_datasets!r}")
    names = list(label_datasets)
    unknown = sorted({name for name in names if name not in LABEL_DATASET_SCREENS})
    if unknown:
        raise ValueError(f"unknown label datasets {unknown}; known: {sorted(LABEL_DATASET_SCREENS)}")
    return {LABEL_DATASET_SCREENS[name] for name in names}


def check_no_label_leakage(edge_types: EdgeTypes, label_datasets: Iterable[str]) -> None:
    """Raise `LabelLeakageError` when an edge type's network was built from a screen the labels come from."""
    label_datasets = list(label_datasets) if not isinstance(label_datasets, str) else label_datasets
    screens = label_screens(label_datasets)
    leaks = {}
    for relation, network in sorted(_networks(edge_types).items()):
        shared = sorted(NETWORK_SCREENS.get(network, frozenset()) & screens)
        if shared:
            leaks[relation] = shared
    if leaks:
        raise LabelLeakageError(leaks, sorted(label_datasets))
