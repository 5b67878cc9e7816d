"""Replace a DuckDB table in one transaction, so readers see the old table or the new one, never half."""

from __future__ import annotations

import re

import duckdb
import pandas as pd
import pyarrow as pa

_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def replace_table(con: duckdb.DuckDBPyConnection, name: str, data: pa.Table | pd.DataFrame) -> None:
    """Write `data` as `<name>__new`, drop `name`, rename, commit; on any error roll back and leave
    `name` as it was. `name` is a schema name of ours (lower-case letters, digits, underscores)."""
    if not _TABLE_NAME.match(name):
        raise ValueError(f"not a table name: {name!r}")
    con.register("replacement_rows", data)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(f"CREATE OR REPLACE TABLE {name}__new AS SELECT * FROM replacement_rows")
        con.execute(f"DROP TABLE IF EXISTS {name}")
        con.execute(f"ALTER TABLE {name}__new RENAME TO {name}")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("replacement_rows")
