"""The embedded knowledge graph: a ladybug database (the maintained successor of Kùzu).

A database lives in a directory: `graph.lbug` (ladybug's single-file store, plus its
write-ahead log while open) and `build.json` (what `build` loaded, for people and tools
that do not open the database). The schema version and build metadata are also kept in
the database itself, in a `Meta` node table, so they travel with the data.

`build` is atomic and idempotent: it loads a new database in `<dir>.building-<pid>` beside
the target, checks every table's count against the graph tables, and only then publishes it
(`torchcell_core.publish`: `<dir>` is a link to `<dir>.v-<time>-<pid>`, replaced in one atomic
rename); any failure, or a kill at any moment, leaves the previous database answering queries.
What a killed build left behind is cleaned up (`recover`) before the next build or when no
database is found.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ladybug
import pyarrow as pa
import pyarrow.parquet as pq

from torchcell_core.graph.backend import GraphBackend, GraphBuildError, check_counts, load_query, table_names
from torchcell_core.graph.schema import NODE, NODES, REL, RELS, SCHEMA_VERSION
from torchcell_core.progress import progress
from torchcell_core.publish import current_version, publish, recover, staging_dir

LOG = logging.getLogger("torchcell_core.graph")

DB_FILE = "graph.lbug"
BUILD_FILE = "build.json"
META = "Meta"  # key/value node table beside the schema: schema_version, built_at, counts, …
# Bytes of ladybug's page cache. The full simulated release (20.7M experiments) builds in it at a peak RSS of
# 5.5-5.8 GiB; 2 GiB is too little for the hash index of its 20M genotype keys (the COPY fails, naming Genotype).
DEFAULT_BUFFER_POOL = 3 * 2**30


def _ident(name: str) -> str:
    """A schema identifier in backticks (`end`, `from`, … are reserved words in Cypher)."""
    if "`" in name:
        raise ValueError(f"bad identifier {name!r}")
    return f"`{name}`"


def create_statements() -> list[str]:
    """`CREATE NODE TABLE` / `CREATE REL TABLE` for the schema and the `Meta` table, in order."""
    statements = []
    for node in NODES:
        columns = ", ".join(f"{_ident(name)} {kind}" for name, kind in node.columns)
        statements.append(f"CREATE NODE TABLE {node.label}({columns}, PRIMARY KEY({_ident(node.key)}))")
    for rel in RELS:
        columns = "".join(f", {_ident(name)} {kind}" for name, kind in rel.columns)
        statements.append(f"CREATE REL TABLE {rel.type}(FROM {rel.source} TO {rel.target}{columns})")
    statements.append(f"CREATE NODE TABLE {META}(key STRING, value STRING, PRIMARY KEY(key))")
    return statements


def count_statement(name: str) -> str:
    """The Cypher that counts the nodes of a label or the relationships of a type."""
    if name in NODE:
        return f"MATCH (n:{NODE[name].label}) RETURN count(n) AS n"
    return f"MATCH ()-[r:{REL[name].type}]->() RETURN count(r) AS n"


class LadybugBackend(GraphBackend):
    """The embedded graph database in directory `path` (created by `build` or `create_schema`)."""

    def __init__(
        self,
        path: str | Path,
        buffer_pool_size: int = DEFAULT_BUFFER_POOL,
        max_threads: int = 0,
        read_only: bool = False,
    ) -> None:
        self.path = Path(path)
        self.buffer_pool_size = buffer_pool_size
        self.max_threads = max_threads
        self.read_only = read_only
        self._db: ladybug.Database | None = None
        self._conn: ladybug.Connection | None = None

    @property
    def database_file(self) -> Path:
        """The store in the version `path` links to now, so a rebuild published meanwhile changes nothing here."""
        return (current_version(self.path) or self.path) / DB_FILE

    def exists(self) -> bool:
        return self.database_file.is_file()

    def recover(self) -> list[str]:
        """Restore or remove what a killed build left beside `path`; a line per action, also logged."""
        try:
            actions = recover(self.path)
        except OSError as error:  # e.g. a reader without write access to the folder
            actions = [f"could not recover {self.path}: {error}"]
        for line in actions:
            LOG.warning("graph recovery: %s", line)
        return actions

    def _connection(self, create: bool = False) -> ladybug.Connection:
        if self._conn is None:
            if not self.exists() and not create:
                self.recover()  # a killed build may have left the graph in a backup or an unlinked version
            if not self.exists():
                if not create or self.read_only:
                    raise FileNotFoundError(f"no graph database at {self.path} (build it first)")
                self.path.mkdir(parents=True, exist_ok=True)
            self._db = ladybug.Database(
                str(self.database_file),
                buffer_pool_size=self.buffer_pool_size,
                max_num_threads=self.max_threads,
                read_only=self.read_only,
            )
            self._conn = ladybug.Connection(self._db)
        return self._conn

    def execute(self, cypher: str, parameters: dict[str, Any] | None = None) -> pa.Table:
        """Run one Cypher statement with `parameters`; the result as an Arrow table."""
        result = self._connection().execute(cypher, parameters or {})
        try:
            return result.get_as_arrow(chunk_size=-1)
        finally:
            result.close()

    # -- GraphBackend -------------------------------------------------------------------------

    def create_schema(self) -> None:
        connection = self._connection(create=True)
        for statement in create_statements():
            connection.execute(statement)

    def load_tables(self, tables_dir: Path, counts: dict[str, int]) -> dict[str, Any]:
        tables_dir = Path(tables_dir)
        loaded = {}
        total = sum(counts.get(name, 0) for name in table_names()) or None
        with progress(total, "graph COPY", "rows", LOG) as bar:  # a line per table at most every 10 s, and at the end
            for number, name in enumerate(table_names(), start=1):
                bar.set_note(f"table {number}/{len(table_names())} {name}")
                path = tables_dir / f"{name}.parquet"
                if not path.is_file():
                    raise GraphBuildError(name, f"no table file {path}")
                started = time.perf_counter()
                try:
                    self._copy(name, path)
                except GraphBuildError:
                    raise
                except (RuntimeError, pa.ArrowException) as error:
                    raise GraphBuildError(name, f"loading {path} failed: {error}") from error
                rows = self._count(name)
                loaded[name] = {"rows": rows, "seconds": round(time.perf_counter() - started, 3)}
                if name in counts and rows != counts[name]:
                    raise GraphBuildError(name, f"loaded {rows} rows but the graph tables hold {counts[name]}")
                bar.update(rows)
        return loaded

    def _copy(self, name: str, path: Path) -> None:
        """`COPY <name> FROM '<path>'`: ladybug reads the Parquet file itself, in parallel.

        The file path is the one value written into the statement: ladybug's binder takes no
        parameter as a COPY source except an in-memory data frame, and streaming the rows through
        Python as Arrow batches was 2.3× slower on the full release. The table name is a schema
        constant, and the path is checked for anything that could end the string literal.
        """
        table = NODE[name].label if name in NODE else REL[name].type
        expected = NODE[name].names if name in NODE else REL[name].names
        found = pq.ParquetFile(path).schema_arrow.names
        if found != expected:
            raise GraphBuildError(name, f"{path} has columns {found}, the schema {expected}")
        source = path.resolve().as_posix()
        if any(char in source for char in "'\\\n\r"):
            raise GraphBuildError(name, f"{source}: a table path may not hold quotes, backslashes or line breaks")
        self._connection().execute(f"COPY {table} FROM '{source}'").close()

    def _count(self, name: str) -> int:
        return int(self.execute(count_statement(name)).column("n")[0].as_py())

    def counts(self) -> dict[str, int]:
        return {name: self._count(name) for name in table_names()}

    def query(self, name: str, parameters: dict[str, Any] | None = None) -> pa.Table:
        return self.execute(load_query(name), parameters)

    def metadata(self) -> dict[str, str]:
        """The `Meta` key/value pairs of the build ({} for a database without them)."""
        try:
            rows = self.execute(f"MATCH (m:{META}) RETURN m.key AS key, m.value AS value").to_pylist()
        except RuntimeError:  # no Meta table: not built by `build`
            return {}
        return {row["key"]: row["value"] for row in rows}

    def schema_version(self) -> str | None:
        if not self.exists():
            return None
        return self.metadata().get("schema_version")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._db is not None:
            self._db.close()
        self._conn = self._db = None

    # -- build ------------------------------------------------------------------------------------

    def _write_metadata(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self.execute(f"CREATE (:{META} {{key: $key, value: $value}})", {"key": key, "value": value})

    def build(self, tables_dir: str | Path, counts: dict[str, int]) -> dict[str, Any]:
        """Build a new database from the graph tables in `tables_dir` and swap it in for the current one.

        `counts`: the row count of every table (`build_graph_tables`' return). Returns the build
        record (also written to `build.json`): schema version, counts, and per-table rows and seconds.
        Raises `GraphBuildError` naming the table when a load fails or a count differs; the previous
        database is then left untouched.
        """
        if self.read_only:
            raise PermissionError(f"{self.path} is opened read-only")
        tables_dir = Path(tables_dir)
        missing = [name for name in table_names() if name not in counts]
        if missing:
            raise GraphBuildError(missing[0], f"no expected count given for {missing}")
        self.recover()
        staging = staging_dir(self.path)
        builder = LadybugBackend(staging, self.buffer_pool_size, self.max_threads)
        started = time.perf_counter()
        try:
            builder.create_schema()
            tables = builder.load_tables(tables_dir, counts)
            loaded = builder.counts()
            check_counts(counts, loaded)
            record = {
                "schema_version": SCHEMA_VERSION,
                "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "ladybug_version": ladybug.__version__,
                "tables_dir": str(tables_dir.resolve()),
                "counts": loaded,
                "seconds": round(time.perf_counter() - started, 3),
                "tables": tables,
            }
            builder._write_metadata(
                {key: value if isinstance(value, str) else json.dumps(value) for key, value in record.items()}
            )
            builder.close()
            (staging / BUILD_FILE).write_text(json.dumps(record, indent=2) + "\n")
        except BaseException:
            builder.close()
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._swap_in(staging)
        return record

    def _swap_in(self, staging: Path) -> None:
        """Publish `staging` as `path` in one atomic step; the old version is deleted after it."""
        self.close()
        try:
            publish(staging, self.path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def build_record(self) -> dict[str, Any] | None:
        """The `build.json` of the current database, or None."""
        path = self.path / BUILD_FILE
        return json.loads(path.read_text()) if path.is_file() else None
