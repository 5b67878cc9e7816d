"""The curated digenic-interaction table: one row per unordered gene pair.

Replicates of a pair (both query/array orientations, alleles, temperatures, files)
are averaged; `n_measurements` says how many rows went in. Built with SQL inside
DuckDB from the parsed records, so it scales to the 20.7M released rows.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

DIGENIC_TABLE = "digenic_interactions"
RECORDS_TABLE = "costanzo2016_records"

_CURATE_SQL = f"""
CREATE OR REPLACE TABLE {DIGENIC_TABLE} AS
WITH oriented AS (
    SELECT
        least(query_gene, array_gene) AS gene_a,
        greatest(query_gene, array_gene) AS gene_b,
        CASE WHEN query_gene < array_gene THEN query_smf ELSE array_smf END AS smf_a,
        CASE WHEN query_gene < array_gene THEN array_smf ELSE query_smf END AS smf_b,
        epsilon, p_value, dmf, dmf_std, source_file
    FROM {RECORDS_TABLE}
    WHERE query_gene <> array_gene
)
SELECT
    gene_a, gene_b,
    avg(epsilon) AS epsilon,
    coalesce(stddev_samp(epsilon), 0.0) AS epsilon_std,
    avg(dmf) AS dmf,
    avg(smf_a) AS smf_a,
    avg(smf_b) AS smf_b,
    min(p_value) AS min_p_value,
    count(*)::INTEGER AS n_measurements,
    string_agg(DISTINCT source_file, ',' ORDER BY source_file) AS source_files
FROM oriented
GROUP BY gene_a, gene_b
ORDER BY gene_a, gene_b
"""


def load_records(con: duckdb.DuckDBPyConnection, records: pd.DataFrame | str | Path) -> int:
    """Replace the raw-records table with a frame or a Parquet file; returns its row count.

    A Parquet path is read by DuckDB itself, so the 20.7M released rows never pass
    through pandas.
    """
    if isinstance(records, pd.DataFrame):
        con.register("records_frame", records)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {RECORDS_TABLE} AS SELECT * FROM records_frame")
        finally:
            con.unregister("records_frame")
    else:
        con.execute(f"CREATE OR REPLACE TABLE {RECORDS_TABLE} AS SELECT * FROM read_parquet(?)", [str(records)])
    return con.execute(f"SELECT count(*) FROM {RECORDS_TABLE}").fetchone()[0]


def curate_digenic(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Build `digenic_interactions` from the records table; returns row counts."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(_CURATE_SQL)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    records, self_pairs = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE query_gene = array_gene) FROM {RECORDS_TABLE}"
    ).fetchone()
    pairs = con.execute(f"SELECT count(*) FROM {DIGENIC_TABLE}").fetchone()[0]
    return {"records": records, "self_pairs_dropped": self_pairs, "pairs": pairs}


def read_digenic(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(f"SELECT * FROM {DIGENIC_TABLE} ORDER BY gene_a, gene_b").df()
