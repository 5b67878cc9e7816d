"""The Neo4j backend: the knowledge graph in a Neo4j server, loaded over Bolt with batched Cypher.

Loading is idempotent: every node is `MERGE`d on its key and every relationship on its two
endpoints (plus its `merge_keys` in the schema, for types where one pair of nodes carries several
relationships, such as one INTERACTS per network and release), then its properties are `SET`.
Reloading the same tables therefore changes nothing, and reloading changed tables updates
properties in place. Each batch (`batch_size` rows, read from Parquet with `iter_batches`) is
one managed write transaction, which the driver retries on transient failures (deadlocks,
leader changes, lost connections) for up to `retry_seconds`. A batch with a relationship whose
endpoint node does not exist fails whole and is rolled back (the batches before it stay); the
error names the table, the batch, its row range and some missing ids. Rows that repeat a node
key, or a relationship's endpoints and merge keys, land on one node or relationship.

The schema version is recorded in a `(:TorchcellMeta {id: 'schema'})` node once a load has
completed, so `schema_version()` is None for a database holding no complete build.

INTERACTS is undirected: it is merged with a direction-agnostic pattern, so a pair is stored
once, in the direction of the row that first created it; a later row giving the same pair the
other way round updates that relationship instead of adding a second one.

For a first load of the full release, `neo4j_import.write_admin_import` writes the same tables
as CSV for `neo4j-admin database import`, which is far faster than transactional loading.

Credentials are arguments (the asset side reads them from its environment, in one place); nothing is
stored in code and nothing is read from the environment here. Every value reaches Cypher as a parameter;
only labels, relationship types and property names from `schema` are written into query text, and they are
checked to be plain names.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import neo4j
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from neo4j.exceptions import DriverError, Neo4jError

from torchcell_core.graph.backend import GraphBackend, GraphBuildError, check_counts, load_query, table_names
from torchcell_core.graph.schema import NODE, NODES, REL, RELS, SCHEMA_VERSION, NodeTable, RelTable
from torchcell_core.progress import Progress, progress

log = logging.getLogger(__name__)

META_LABEL = "TorchcellMeta"
META_ID = "schema"
DEFAULT_BATCH_SIZE = 5_000

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _name(name: str) -> str:
    """A schema name (label, type or property) for query text: checked, then back-quoted."""
    if not _NAME.match(name):
        raise ValueError(f"not a plain schema name: {name!r}")
    return f"`{name}`"


def _check_schema_names() -> None:
    for node in NODES:
        for name in (node.label, node.key, *node.names):
            _name(name)
    for rel in RELS:
        for name in (rel.type, *(column for column, _ in rel.columns)):
            _name(name)


_check_schema_names()


def node_merge_query(node: NodeTable) -> str:
    """`UNWIND $rows` and MERGE each row as one `node.label` node on its key; every column becomes a property."""
    label, key = _name(node.label), _name(node.key)
    return f"UNWIND $rows AS row MERGE (n:{label} {{{key}: row.{key}}}) SET n += row RETURN count(n) AS written"


def rel_merge_query(rel: RelTable) -> str:
    """`UNWIND $rows` of `{from, to, props}` and MERGE each as one `rel.type` relationship between existing nodes."""
    source, target = NODE[rel.source], NODE[rel.target]
    keys = ", ".join(f"{_name(column)}: row.props.{_name(column)}" for column in rel.merge_keys)
    pattern = f"[r:{_name(rel.type)}{' {' + keys + '}' if keys else ''}]"
    arrow = "-" if not rel.directed else "->"
    return (
        f"UNWIND $rows AS row "
        f"MATCH (a:{_name(source.label)} {{{_name(source.key)}: row.`from`}}) "
        f"MATCH (b:{_name(target.label)} {{{_name(target.key)}: row.`to`}}) "
        f"MERGE (a)-{pattern}{arrow}(b) SET r += row.props RETURN count(r) AS written"
    )


def _describe(error: BaseException) -> str:
    """What went wrong, even for servers whose errors carry no message."""
    code = getattr(error, "code", None)
    message = getattr(error, "message", None) or str(error) or repr(error)
    return f"{type(error).__name__}{f' [{code}]' if code else ''}: {message}"


def _python_rows(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """The batch as dicts of Python values, NaN turned into null (Cypher has no use for NaN properties)."""
    columns = []
    for column, field in zip(batch.columns, batch.schema, strict=True):
        if pa.types.is_floating(field.type):
            column = pc.if_else(pc.is_nan(column), pa.scalar(None, field.type), column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema).to_pylist()


class _MissingEndpoints(Exception):
    """Raised inside a write transaction (so it rolls back) when rows name nodes that do not exist."""

    def __init__(self, written: int, missing: list[str]) -> None:
        super().__init__(f"{written} rows written, endpoints missing: {missing}")
        self.written, self.missing = written, missing


class Neo4jBackend(GraphBackend):
    """The knowledge graph in a Neo4j database, reached over Bolt (`bolt://` or `neo4j://` URIs).

    `user=None` connects without authentication. `database=None` uses the server's default database.
    """

    def __init__(
        self,
        uri: str,
        user: str | None,
        password: str | None,
        database: str | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        retry_seconds: float = 30.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.uri, self.database, self.batch_size = uri, database, batch_size
        auth = None if user is None else (user, password or "")
        self._driver = neo4j.GraphDatabase.driver(uri, auth=auth, max_transaction_retry_time=retry_seconds)
        self._bookmarks = neo4j.GraphDatabase.bookmark_manager()

    # -- plumbing -------------------------------------------------------------------------------------------------

    def _session(self) -> neo4j.Session:
        # One bookmark manager for every session, so a read (counts, query) sees the writes before it on a cluster.
        return self._driver.session(database=self.database, bookmark_manager=self._bookmarks)

    def _write(self, cypher: str, **parameters: Any) -> list[dict[str, Any]]:
        def work(tx: neo4j.ManagedTransaction) -> list[dict[str, Any]]:
            return [record.data() for record in tx.run(cypher, parameters)]

        with self._session() as session:
            return session.execute_write(work)

    def _read(self, cypher: str, parameters: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
        def work(tx: neo4j.ManagedTransaction) -> tuple[list[str], list[list[Any]]]:
            result = tx.run(cypher, parameters)
            return list(result.keys()), [list(record.values()) for record in result]

        with self._session() as session:
            return session.execute_read(work)

    # -- GraphBackend ---------------------------------------------------------------------------------------------

    def create_schema(self) -> None:
        """Check that any stored build has this `SCHEMA_VERSION`, then add a uniqueness constraint per node key."""
        stored = self.schema_version()
        if stored is not None and stored != SCHEMA_VERSION:
            raise GraphBuildError(
                None,
                f"database {self.database or '(default)'} holds schema version {stored}, this code writes "
                f"{SCHEMA_VERSION}; load into an empty database",
            )
        for node in NODES:
            name = _name(f"torchcell_{node.label.lower()}_{node.key}")
            label, key = _name(node.label), _name(node.key)
            try:
                self._write(f"CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n:{label}) REQUIRE n.{key} IS UNIQUE")
            except (Neo4jError, DriverError) as error:
                raise GraphBuildError(node.label, f"uniqueness constraint on {node.key}: {_describe(error)}") from error

    def load_tables(self, tables_dir: Path, counts: dict[str, int]) -> dict[str, Any]:
        """MERGE every `<name>.parquet` of `tables_dir` in batches, nodes first; then record `SCHEMA_VERSION`.

        Every file is checked (present, columns, row count against `counts`) before anything is written.
        Raises `GraphBuildError` naming the table, and for a failed batch its number and row range.
        """
        tables_dir = Path(tables_dir)
        files = {name: self._checked_file(tables_dir, name, counts) for name in table_names()}
        report: dict[str, Any] = {}
        total = sum(pq.ParquetFile(parquet).metadata.num_rows for parquet in files.values())
        with progress(total, "graph load (neo4j)", "rows", log) as bar:
            for name, parquet in files.items():
                bar.set_note(f"table {name}")
                started = time.perf_counter()
                rows = self._load_table(name, parquet, bar)
                report[name] = {"rows": rows, "seconds": round(time.perf_counter() - started, 3)}
                log.info("loaded %s: %d rows in %.1f s", name, rows, report[name]["seconds"])
        check_counts(counts, {name: entry["rows"] for name, entry in report.items()})
        self._write(
            f"MERGE (m:{_name(META_LABEL)} {{id: $id}}) SET m.version = $version, m.loaded_at = $loaded_at",
            id=META_ID,
            version=SCHEMA_VERSION,
            loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        return report

    def counts(self) -> dict[str, int]:
        found = {}
        for node in NODES:
            _, rows = self._read(f"MATCH (n:{_name(node.label)}) RETURN count(n) AS n", {})
            found[node.label] = int(rows[0][0])
        for rel in RELS:
            _, rows = self._read(f"MATCH ()-[r:{_name(rel.type)}]->() RETURN count(r) AS n", {})
            found[rel.type] = int(rows[0][0])
        return found

    def query(self, name: str, parameters: dict[str, Any] | None = None) -> pa.Table:
        keys, rows = self._read(load_query(name), dict(parameters or {}))
        return pa.table({key: pa.array([_plain(row[i]) for row in rows]) for i, key in enumerate(keys)})

    def schema_version(self) -> str | None:
        _, rows = self._read(f"MATCH (m:{_name(META_LABEL)} {{id: $id}}) RETURN m.version AS version", {"id": META_ID})
        return None if not rows or rows[0][0] is None else str(rows[0][0])

    def close(self) -> None:
        self._driver.close()

    # -- loading --------------------------------------------------------------------------------------------------

    @staticmethod
    def _checked_file(tables_dir: Path, name: str, counts: dict[str, int]) -> Path:
        path = tables_dir / f"{name}.parquet"
        if not path.is_file():
            raise GraphBuildError(name, f"{path} does not exist")
        metadata = pq.ParquetFile(path)
        names = NODE[name].names if name in NODE else REL[name].names
        missing = [column for column in names if column not in metadata.schema_arrow.names]
        if missing:
            raise GraphBuildError(name, f"{path} lacks columns {missing}")
        if name in counts and metadata.metadata.num_rows != counts[name]:
            raise GraphBuildError(
                name, f"{path} holds {metadata.metadata.num_rows} rows, the build reported {counts[name]}"
            )
        return path

    def _load_table(self, name: str, path: Path, bar: Progress | None = None) -> int:
        node = NODE.get(name)
        table = node if node is not None else REL[name]
        cypher = node_merge_query(node) if node is not None else rel_merge_query(table)
        required = (node.key,) if node is not None else ("from", "to", *REL[name].merge_keys)
        written = start = 0
        for index, batch in enumerate(
            pq.ParquetFile(path).iter_batches(batch_size=self.batch_size, columns=table.names)
        ):
            end = start + batch.num_rows
            where = f"batch {index} (rows {start}-{end - 1})"
            nulls = [column for column in required if batch.column(column).null_count]
            if nulls:
                raise GraphBuildError(
                    name, f"{where}: null values in {nulls}, which identify the {'node' if node else 'relationship'}"
                )
            rows = _python_rows(batch)
            if node is None:
                keep = {"from", "to"}
                rows = [
                    {"from": r["from"], "to": r["to"], "props": {k: v for k, v in r.items() if k not in keep}}
                    for r in rows
                ]
            try:
                written += self._write_batch(cypher, rows, table)
            except _MissingEndpoints as missing:
                raise GraphBuildError(
                    name,
                    f"{where} rolled back: {len(rows) - missing.written} rows name nodes that do not exist, "
                    f"e.g. {missing.missing}",
                ) from None
            except (Neo4jError, DriverError) as error:
                raise GraphBuildError(name, f"{where} failed: {_describe(error)}") from error
            start = end
            if bar is not None:
                bar.update(batch.num_rows)
        return written

    def _write_batch(self, cypher: str, rows: list[dict[str, Any]], table: NodeTable | RelTable) -> int:
        def work(tx: neo4j.ManagedTransaction) -> int:
            written = int(tx.run(cypher, {"rows": rows}).single(strict=True)["written"])
            if isinstance(table, RelTable) and written != len(rows):
                raise _MissingEndpoints(written, _missing_endpoints(tx, table, rows))
            return written

        with self._session() as session:
            return session.execute_write(work)


def _missing_endpoints(
    tx: neo4j.ManagedTransaction, rel: RelTable, rows: list[dict[str, Any]], limit: int = 5
) -> list[str]:
    """Up to `limit` endpoint ids of `rows` with no node, as `Label:id`."""
    missing: list[str] = []
    for end, label in (("from", rel.source), ("to", rel.target)):
        node = NODE[label]
        ids = sorted({row[end] for row in rows})
        result = tx.run(
            f"UNWIND $ids AS id OPTIONAL MATCH (n:{_name(node.label)} {{{_name(node.key)}: id}}) "
            f"WITH id, n WHERE n IS NULL RETURN id LIMIT $limit",
            {"ids": ids, "limit": limit},
        )
        missing += [f"{label}:{record['id']}" for record in result]
    return missing[:limit]


def _plain(value: Any) -> Any:
    """Graph values (nodes, relationships, paths) as plain dicts and lists, for Arrow."""
    if isinstance(value, neo4j.graph.Node | neo4j.graph.Relationship):
        return dict(value)
    if isinstance(value, neo4j.graph.Path):
        return [dict(node) for node in value.nodes]
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
