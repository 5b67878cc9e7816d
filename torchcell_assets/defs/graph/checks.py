"""Checks on the graph tables and the knowledge graph; each can fail."""

import dagster as dg
import duckdb

from torchcell_assets.defs.graph.tables import GRAPH_TABLES_DIR, graph_tables
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.graph.schema import NODES, RELS

TABLES_REFERENTIALLY_INTACT = "referentially_intact"


@dg.asset_check(asset=graph_tables, name=TABLES_REFERENTIALLY_INTACT, blocking=True)
def tables_referentially_intact(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Unique node keys, and every relationship endpoint exists as a node of its label."""
    directory = storage.root().joinpath(*GRAPH_TABLES_DIR)
    problems = {}
    with duckdb.connect() as con:
        for node in NODES:
            path = str(directory / f"{node.label}.parquet")
            total, distinct = con.execute(
                "SELECT count(*), count(DISTINCT id) FROM read_parquet($p)", {"p": path}
            ).fetchall()[0]
            if total != distinct:
                problems[f"{node.label} duplicate keys"] = total - distinct
        for rel in RELS:
            for end, label in (("from", rel.source), ("to", rel.target)):
                (dangling,) = con.execute(
                    f'SELECT count(*) FROM read_parquet($r) r ANTI JOIN read_parquet($n) n ON r."{end}" = n.id',
                    {"r": str(directory / f"{rel.type}.parquet"), "n": str(directory / f"{label}.parquet")},
                ).fetchall()[0]
                if dangling:
                    problems[f"{rel.type}.{end} missing {label}"] = dangling
    return dg.AssetCheckResult(passed=not problems, metadata={"problems": dg.MetadataValue.json(problems)})
