"""The graph tables as CSV for `neo4j-admin database import full`, the fast way to a first full load.

`write_admin_import(tables_dir, out_dir)` turns every `<name>.parquet` of `build_graph_tables`
into `<name>.csv` (header in the first line), batch by batch, so no table is ever held whole in
memory, and returns the command to run, also saved in `README.txt` beside the CSVs.

Headers follow the import tool's conventions: node files `id:ID(Label),<prop>:<type>,...,:LABEL`,
relationship files `:START_ID(Source),:END_ID(Target),<prop>:<type>,...,:TYPE`, each label its own
ID space, types from `schema.NEO4J_TYPES`. Strings are always quoted (a quote doubled inside), so
commas, quotes and line breaks survive; a null (or NaN) is an empty unquoted field, which the
import tool leaves unset, while an empty string is `""`. `--multiline-fields=true` is added only
when some string holds a line break, since it slows the import.

A `TorchcellMeta.csv` holds the schema-version node the backend reads. The import creates no
constraints: afterwards start Neo4j and run `Neo4jBackend.create_schema()`.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from torchcell_core.graph.neo4j_backend import META_ID, META_LABEL
from torchcell_core.graph.schema import NEO4J_TYPES, NODES, RELS, SCHEMA_VERSION, NodeTable, RelTable, key_type

DEFAULT_BATCH_ROWS = 100_000


def node_header(node: NodeTable) -> list[str]:
    """`id:ID(Label)`, then each property as `name:type`, then `:LABEL`. A key that is not a string gets
    an unnamed `:ID(Label)` column (import ids are strings) and is stored from a typed copy, `id:long`."""
    props = [f"{name}:{NEO4J_TYPES[kind]}" for name, kind in node.columns if name != node.key]
    kind = key_type(node.label)
    if kind == "STRING":
        return [f"{node.key}:ID({node.label})", *props, ":LABEL"]
    return [f":ID({node.label})", f"{node.key}:{NEO4J_TYPES[kind]}", *props, ":LABEL"]


def node_columns(node: NodeTable) -> list[str]:
    """The Parquet columns behind `node_header(node)`, in its order (the key twice when it is typed)."""
    return node.names if key_type(node.label) == "STRING" else [node.key, *node.names]


def rel_header(rel: RelTable) -> list[str]:
    """`:START_ID(Source)`, `:END_ID(Target)`, then each property as `name:type`, then `:TYPE`."""
    props = [f"{name}:{NEO4J_TYPES[kind]}" for name, kind in rel.columns]
    return [f":START_ID({rel.source})", f":END_ID({rel.target})", *props, ":TYPE"]


def _clean(column: pa.Array) -> pa.Array:
    """NaN as null (an empty field), so Neo4j gets no property rather than NaN."""
    if pa.types.is_floating(column.type):
        return pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
    return column


def _has_line_break(column: pa.Array) -> bool:
    kind = column.type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or str(kind) == "string_view"):
        return False
    return bool(pc.any(pc.match_substring_regex(column, r"[\r\n]")).as_py())


def _write_csv(source: Path, target: Path, header: list[str], columns: list[str], tag: str, batch_rows: int) -> bool:
    """Stream `columns` of `source` (then a constant `tag` column) to `target`; True when a string spans lines."""
    if not source.is_file():
        raise FileNotFoundError(f"graph table {source} does not exist")
    parquet = pq.ParquetFile(source)
    missing = [name for name in columns if name not in parquet.schema_arrow.names]
    if missing:
        raise ValueError(f"{source} lacks columns {missing}")
    multiline = False
    schema = None
    options = pcsv.WriteOptions(include_header=False, quoting_style="needed")
    with target.open("wb") as out:
        out.write((",".join(header) + "\n").encode("utf-8"))
        writer = None
        try:
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
                arrays = [_clean(batch.column(name)) for name in columns]
                arrays.append(pa.array([tag] * batch.num_rows, pa.string()))
                names = [*columns, "__tag"]
                if schema is None:
                    schema = pa.schema([pa.field(name, array.type) for name, array in zip(names, arrays, strict=True)])
                    writer = pcsv.CSVWriter(out, schema, write_options=options)
                multiline = multiline or any(_has_line_break(array) for array in arrays)
                writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
        finally:
            if writer is not None:
                writer.close()
    return multiline


def write_admin_import(
    tables_dir: str | Path,
    out_dir: str | Path,
    database: str = "neo4j",
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    admin: str = "neo4j-admin",
) -> list[str]:
    """Write `<name>.csv` for every schema table of `tables_dir` into `out_dir`, and `README.txt` with the command.

    Returns the command as an argument list: `neo4j-admin database import full <database>
    --nodes=Label=<csv> ... --relationships=TYPE=<csv> ...` with absolute paths. The database name
    comes first: `--nodes`/`--relationships` take several values, so a trailing name would be read as
    a file. The target database must not exist (or add `--overwrite-destination=true` yourself).
    """
    tables_dir, out_dir = Path(tables_dir), Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    multiline = False
    nodes, rels = [], []
    for node in NODES:
        csv_path = out_dir / f"{node.label}.csv"
        multiline |= _write_csv(
            tables_dir / f"{node.label}.parquet",
            csv_path,
            node_header(node),
            node_columns(node),
            node.label,
            batch_rows,
        )
        nodes.append(f"--nodes={node.label}={csv_path}")
    for rel in RELS:
        csv_path = out_dir / f"{rel.type}.csv"
        multiline |= _write_csv(
            tables_dir / f"{rel.type}.parquet", csv_path, rel_header(rel), rel.names, rel.type, batch_rows
        )
        rels.append(f"--relationships={rel.type}={csv_path}")
    meta = out_dir / f"{META_LABEL}.csv"
    meta.write_text(f'id:ID({META_LABEL}),version:string,:LABEL\n"{META_ID}","{SCHEMA_VERSION}",{META_LABEL}\n')
    nodes.append(f"--nodes={META_LABEL}={meta}")
    command = [admin, "database", "import", "full", database, *nodes, *rels]
    if multiline:
        command.append("--multiline-fields=true")
    (out_dir / "README.txt").write_text(_readme(command), encoding="utf-8")
    return command


def _readme(command: list[str]) -> str:
    return f"""CSV files for a full Neo4j import of the torchcell knowledge graph.

1. Stop Neo4j (or at least make sure the target database does not exist), then run, as the user
   that owns the Neo4j data directory:

{shlex.join(command)}

   Add --overwrite-destination=true to replace an existing database of that name. Relationships
   whose endpoint node is missing make the import fail; --skip-bad-relationships=true drops them
   instead (and reports them in import.report).

2. Start Neo4j (and CREATE DATABASE <name> if it is not the default database), then add the
   uniqueness constraints with the torchcell Neo4j backend:

   python -c "from torchcell_core.graph.neo4j_backend import Neo4jBackend as B; \\
B('<uri>', '<user>', '<password>', '<database>').create_schema()"

   (the server's bolt:// URI, credentials and database name; user None: no authentication.)
   The import already holds the schema-version node (TorchcellMeta.csv), so the backend's
   schema_version() answers at once; Neo4jBackend.load_tables on the same Parquet tables merges
   onto the imported graph without changing it.
"""
