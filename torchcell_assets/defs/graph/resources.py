"""The graph backend resource: embedded ladybug by default, Neo4j over Bolt when configured."""

import os
from pathlib import Path

import dagster as dg

from torchcell_core.graph.backend import GraphBackend


def default_graph_dir() -> str:
    """$TORCHCELL_GRAPH_DIR, else `<DAGSTER_HOME>/graph`, else `dagster_home/graph`."""
    explicit = os.environ.get("TORCHCELL_GRAPH_DIR")
    if explicit:
        return explicit
    return str(Path(os.environ.get("DAGSTER_HOME", "dagster_home")) / "graph")


class GraphDatabase(dg.ConfigurableResource):
    """`backend="ladybug"` (embedded, no configuration) or `"neo4j"` (credentials from the
    environment: NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD, NEO4J_DATABASE)."""

    backend: str = "ladybug"
    path: str = ""  # ladybug only; default: default_graph_dir()
    buffer_pool_gib: float = 3.0  # 4 GiB peaked at 6.1 GiB RSS on the full build; 2 GiB is too small

    def location(self) -> str:
        if self.backend == "neo4j":
            return os.environ.get("NEO4J_URI", "")
        return str(Path(self.path or default_graph_dir()) / "torchcell")

    def recover(self) -> list[str]:
        """Restore or remove what a killed build left beside the ladybug database (a line per action)."""
        if self.backend != "ladybug":
            return []
        from torchcell_core.graph.ladybug_backend import LadybugBackend

        return LadybugBackend(self.location()).recover()

    def open(self, read_only: bool = False) -> GraphBackend:
        if self.backend == "ladybug":
            from torchcell_core.graph.ladybug_backend import LadybugBackend

            return LadybugBackend(self.location(), int(self.buffer_pool_gib * 2**30), read_only=read_only)
        if self.backend == "neo4j":
            from torchcell_core.graph.neo4j_backend import Neo4jBackend

            return Neo4jBackend.from_env()
        raise ValueError(f"graph backend must be 'ladybug' or 'neo4j', not {self.backend!r}")
