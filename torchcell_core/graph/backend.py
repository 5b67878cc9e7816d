"""The interface every knowledge-graph backend implements (embedded ladybug, Neo4j).

A backend owns one database holding the schema of `torchcell_core.graph.schema`. It is
loaded in bulk from the graph tables (`tables.build_graph_tables`: one Parquet file per
node label and relationship type) and queried through the named, parameterised Cypher
files in `torchcell_core/graph/queries/`, so the same query text runs on every backend.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa

from torchcell_core.graph.schema import NODES, RELS

QUERY_PACKAGE = "torchcell_core.graph"
QUERY_DIR = "queries"
_QUERY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class GraphBuildError(RuntimeError):
    """A graph build or load failed; `table` names the node label or relationship type being loaded."""

    def __init__(self, table: str | None, message: str) -> None:
        self.table = table
        self.reason = message
        super().__init__(f"{table}: {message}" if table else message)


def table_names() -> list[str]:
    """Every table of the schema in load order: node labels first, then relationship types."""
    return [node.label for node in NODES] + [rel.type for rel in RELS]


def query_names() -> list[str]:
    """The names of the packaged `.cql` queries."""
    folder = resources.files(QUERY_PACKAGE).joinpath(QUERY_DIR)
    return sorted(item.name.removesuffix(".cql") for item in folder.iterdir() if item.name.endswith(".cql"))


def load_query(name: str) -> str:
    """The Cypher text of `queries/<name>.cql` (comment lines starting with `//` removed)."""
    if not _QUERY_NAME.match(name):
        raise ValueError(f"bad query name {name!r}: lower-case letters, digits and underscores only")
    resource = resources.files(QUERY_PACKAGE).joinpath(QUERY_DIR, f"{name}.cql")
    if not resource.is_file():
        raise KeyError(f"no query named {name!r}; known: {query_names()}")
    lines = resource.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("//")).strip()


def check_counts(expected: dict[str, int], loaded: dict[str, int]) -> None:
    """Raise `GraphBuildError` naming the first table whose loaded count differs from `expected`."""
    for name in table_names():
        if name in expected and loaded.get(name) != expected[name]:
            raise GraphBuildError(name, f"loaded {loaded.get(name)} rows but the graph tables hold {expected[name]}")


class GraphBackend(ABC):
    """One knowledge-graph database. Implementations: `LadybugBackend` (embedded, default) and the Neo4j backend."""

    @abstractmethod
    def create_schema(self) -> None:
        """Create every node and relationship table of the schema (and the metadata the backend keeps)."""

    @abstractmethod
    def load_tables(self, tables_dir: Path, counts: dict[str, int]) -> dict[str, Any]:
        """Bulk-load `<name>.parquet` of every schema table from `tables_dir`, nodes first.

        `counts` are the row counts `build_graph_tables` returned; a table whose loaded count
        differs raises `GraphBuildError`. Returns `{table: {"rows": int, "seconds": float}}`.
        """

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """Nodes per label and relationships per type, keyed like the graph tables."""

    @abstractmethod
    def query(self, name: str, parameters: dict[str, Any] | None = None) -> pa.Table:
        """Run the named query (`load_query(name)`) with `parameters`; the result as an Arrow table."""

    @abstractmethod
    def schema_version(self) -> str | None:
        """The `SCHEMA_VERSION` the database was built with, or None when it holds no build."""

    @abstractmethod
    def close(self) -> None:
        """Release the database (connections, files, sockets)."""

    def __enter__(self) -> GraphBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
