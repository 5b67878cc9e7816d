"""The graph backend resource: embedded ladybug by default, Neo4j over Bolt when configured.

It reads no environment: `defs/resources.py` fills `path` from `$TORCHCELL_GRAPH_DIR` (or `$DAGSTER_HOME/graph`)
and the Neo4j fields from `NEO4J_URI`, `NEO4J_USER`, `NEO4J_PASSWORD` and `NEO4J_DATABASE`."""

from pathlib import Path

import dagster as dg

from torchcell_core.graph.backend import GraphBackend, GraphBuildError

DEFAULT_GRAPH_DIR = "dagster_home/graph"


class GraphDatabase(dg.ConfigurableResource):
    """`backend="ladybug"` (embedded, under `path`) or `"neo4j"` (the server at `neo4j_uri`; `neo4j_user` empty:
    no authentication; `neo4j_database` empty: the server's default database)."""

    backend: str = "ladybug"
    path: str = ""  # ladybug only; empty: DEFAULT_GRAPH_DIR
    buffer_pool_gib: float = 3.0  # 4 GiB peaked at 6.1 GiB RSS on the full build; 2 GiB is too small
    neo4j_uri: str = ""
    neo4j_user: str = ""
    neo4j_password: str = ""
    neo4j_database: str = ""

    def location(self) -> str:
        if self.backend == "neo4j":
            return self.neo4j_uri
        return str(Path(self.path or DEFAULT_GRAPH_DIR) / "torchcell")

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

            if not self.neo4j_uri:
                raise GraphBuildError(None, "no Neo4j server: set NEO4J_URI (and NEO4J_USER, NEO4J_PASSWORD)")
            return Neo4jBackend(
                self.neo4j_uri, self.neo4j_user or None, self.neo4j_password or None, self.neo4j_database or None
            )
        raise ValueError(f"graph backend must be 'ladybug' or 'neo4j', not {self.backend!r}")
