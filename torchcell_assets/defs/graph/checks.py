"""Checks on the graph tables and the knowledge graph; each can fail."""

import json

import dagster as dg
import duckdb

from torchcell_assets.defs.graph.assets import knowledge_graph
from torchcell_assets.defs.graph.resources import GraphDatabase
from torchcell_assets.defs.graph.tables import COUNTS_FILE, GRAPH_TABLES_DIR, graph_tables
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.graph.schema import NODES, RELS, SCHEMA_VERSION

TABLES_REFERENTIALLY_INTACT = "referentially_intact"
COUNTS_MATCH_TABLES = "counts_match_tables"
NO_ORPHANS = "no_orphans"


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


@dg.asset_check(asset=knowledge_graph, name=COUNTS_MATCH_TABLES, blocking=True)
def counts_match_tables(storage: TorchcellStorage, graph: GraphDatabase) -> dg.AssetCheckResult:
    """Nodes per label and edges per type in the database equal the rows of the graph tables."""
    expected = json.loads(storage.root().joinpath(*GRAPH_TABLES_DIR, COUNTS_FILE).read_text())
    with graph.open(read_only=True) as backend:
        loaded = backend.counts()
        version = backend.schema_version()
    differences = {
        k: {"tables": expected.get(k), "graph": loaded.get(k)} for k in expected if expected[k] != loaded.get(k)
    }
    return dg.AssetCheckResult(
        passed=not differences and version == SCHEMA_VERSION,
        metadata={"differences": dg.MetadataValue.json(differences), "schema_version": str(version)},
    )


@dg.asset_check(asset=knowledge_graph, name=NO_ORPHANS)
def no_orphans(graph: GraphDatabase) -> dg.AssetCheckResult:
    """Every experiment has a genotype and a dataset; every allele points at a gene."""
    with graph.open(read_only=True) as backend:
        orphans = backend.query("orphans", {}).to_pylist()[0]
    return dg.AssetCheckResult(passed=not any(orphans.values()), metadata=orphans)
