"""The knowledge-graph schema, one definition for every backend (ladybug, Neo4j).

Lean by design: one Experiment node per released measurement holds its phenotypes
(fitness with std, interaction score ε/τ with p-value) and its environment id, so a
21M-row release costs 21M nodes and three edges each, not five nodes. Genotypes are
shared by every measurement of the same set of alleles (keyed by a hash of the sorted
allele ids), alleles by every genotype that carries them.

Types are the ladybug/Kùzu names; `NEO4J_TYPES` maps them where Neo4j's import differs.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = "2"  # 2: INT64 genotype and experiment ids (faster bulk loads than 16-hex strings)


@dataclass(frozen=True)
class NodeTable:
    label: str
    key: str
    columns: tuple[tuple[str, str], ...]  # (name, type), key first

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]


@dataclass(frozen=True)
class RelTable:
    type: str
    source: str  # node label
    target: str
    columns: tuple[tuple[str, str], ...] = ()  # properties, after the two endpoint ids
    directed: bool = True
    # Properties that, with the two endpoints, identify one relationship (never null); empty: at most
    # one relationship of this type per ordered pair of nodes.
    merge_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        missing = set(self.merge_keys) - {name for name, _ in self.columns}
        if missing:
            raise ValueError(f"{self.type}: merge keys {sorted(missing)} are not properties")

    @property
    def names(self) -> list[str]:
        return ["from", "to", *(name for name, _ in self.columns)]


NODES = (
    NodeTable(
        "Gene",
        "id",
        (
            ("id", "STRING"),
            ("standard_name", "STRING"),
            ("chromosome", "INT8"),
            ("start", "INT64"),
            ("end", "INT64"),
            ("strand", "STRING"),
            ("feature_type", "STRING"),
            ("protein_length", "INT32"),
        ),
    ),
    NodeTable("GOTerm", "id", (("id", "STRING"), ("name", "STRING"), ("namespace", "STRING"))),
    NodeTable(
        "Dataset",
        "id",
        (
            ("id", "STRING"),
            ("name", "STRING"),
            ("version", "STRING"),
            ("citation", "STRING"),
            ("url", "STRING"),
            ("source_sha256", "STRING"),
            ("simulated", "BOOLEAN"),
        ),
    ),
    NodeTable("Environment", "id", (("id", "STRING"), ("media", "STRING"), ("temperature", "INT16"))),
    NodeTable(
        "Allele",
        "id",
        (("id", "STRING"), ("strain", "STRING"), ("name", "STRING"), ("perturbation", "STRING"), ("gene", "STRING")),
    ),
    NodeTable("Genotype", "id", (("id", "INT64"), ("n_perturbations", "INT8"))),
    NodeTable(
        "Experiment",
        "id",
        (
            ("id", "INT64"),
            ("kind", "STRING"),
            ("n_perturbations", "INT8"),
            ("fitness", "DOUBLE"),
            ("fitness_std", "DOUBLE"),
            ("interaction", "DOUBLE"),
            ("interaction_p_value", "DOUBLE"),
            ("environment", "STRING"),
            ("screen", "STRING"),
            ("source_file", "STRING"),
        ),
    ),
)

RELS = (
    RelTable("OF_GENOTYPE", "Experiment", "Genotype"),
    RelTable("IN_DATASET", "Experiment", "Dataset"),
    RelTable("HAS_ALLELE", "Genotype", "Allele"),
    RelTable("OF_GENE", "Allele", "Gene"),
    RelTable("ANNOTATED_TO", "Gene", "GOTerm", (("evidence", "STRING"),)),
    RelTable("GO_PARENT", "GOTerm", "GOTerm", (("relation", "STRING"),), merge_keys=("relation",)),
    # Undirected networks (STRING channels per version, physical, genetic), stored once per pair.
    RelTable(
        "INTERACTS",
        "Gene",
        "Gene",
        (("network", "STRING"), ("version", "STRING"), ("weight", "DOUBLE")),
        False,
        merge_keys=("network", "version"),
    ),
    RelTable("REGULATES", "Gene", "Gene", (("regulation", "STRING"), ("weight", "DOUBLE"))),
)

NODE = {table.label: table for table in NODES}
REL = {table.type: table for table in RELS}


def key_type(label: str) -> str:
    """The type of a node label's key column (the type of the relationship endpoints that point at it)."""
    node = NODE[label]
    return dict(node.columns)[node.key]


def rel_columns(rel: RelTable) -> tuple[tuple[str, str], ...]:
    """A relationship table's (name, type) columns: `from` and `to` typed as their nodes' keys, then properties."""
    return (("from", key_type(rel.source)), ("to", key_type(rel.target)), *rel.columns)


# Neo4j admin-import header types for the ladybug types used above.
NEO4J_TYPES = {
    "STRING": "string",
    "INT8": "int",
    "INT16": "int",
    "INT32": "int",
    "INT64": "long",
    "DOUBLE": "double",
    "BOOLEAN": "boolean",
}
