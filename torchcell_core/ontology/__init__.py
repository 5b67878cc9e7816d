"""The Gene Ontology DAG: readers (OBO, GO.db sqlite), the packaged yeast DAG, DCell filters."""

from torchcell_core.ontology.dag import NAMESPACES, RELATIONS, GoDag, GoEdge, GoTerm, load_packaged_go_dag
from torchcell_core.ontology.filters import DCellFilterConfig, DCellOntology, dcell_filter
from torchcell_core.ontology.go_sqlite import go_sqlite_metadata, read_go_sqlite
from torchcell_core.ontology.obo import read_obo

__all__ = [
    "NAMESPACES",
    "RELATIONS",
    "DCellFilterConfig",
    "DCellOntology",
    "GoDag",
    "GoEdge",
    "GoTerm",
    "dcell_filter",
    "go_sqlite_metadata",
    "load_packaged_go_dag",
    "read_go_sqlite",
    "read_obo",
]
