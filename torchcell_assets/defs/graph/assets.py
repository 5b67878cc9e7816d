"""The knowledge graph: the graph tables bulk-loaded into the configured backend."""

import json
import time
from pathlib import Path

import dagster as dg
import pandas as pd

from torchcell_assets.defs.graph.resources import GraphDatabase
from torchcell_assets.defs.graph.tables import COUNTS_FILE, GRAPH_TABLES_DIR, graph_tables
from torchcell_assets.lib.automation import FOLLOW_UPSTREAM
from torchcell_assets.lib.code_versions import code_version
from torchcell_assets.lib.metadata import metadata_table
from torchcell_assets.lib.skip import CONFIG_DIGEST, config_digest, unchanged_result
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.graph.schema import SCHEMA_VERSION
from torchcell_core.hashing import json_digest

CODE_VERSION = code_version(__name__)  # the source of this module and the core code it runs

RECOVERED = "recovered"  # what the start-up recovery did (empty when the last build ended cleanly)
SCHEMA_DOC = Path(__file__).resolve().parents[3] / "docs" / "graph_schema.md"


@dg.asset(
    group_name="graph",
    code_version=CODE_VERSION,
    deps=[graph_tables],
    kinds={"python"},
    automation_condition=FOLLOW_UPSTREAM,
)
def knowledge_graph(
    context: dg.AssetExecutionContext, storage: TorchcellStorage, graph: GraphDatabase
) -> dg.MaterializeResult:
    """Genes, GO terms, datasets, alleles, genotypes and experiments with their phenotypes, and the
    gene networks, in the embedded graph database (or Neo4j). Rebuilt atomically: a failed load
    leaves the previous graph usable."""
    recovered = graph.recover()  # what a killed build left: a graph put back, stale folders removed
    for line in recovered:
        context.log.warning(f"graph recovery: {line}")
    digest = config_digest({"backend": graph.backend, "location": graph.location()})
    skipped = unchanged_result(context, digest, lambda version: _loaded_version(graph) == version)
    if skipped is not None:
        metadata = {**(skipped.metadata or {}), RECOVERED: dg.MetadataValue.json(recovered)}
        return dg.MaterializeResult(metadata=metadata, data_version=skipped.data_version)
    tables_dir = storage.root().joinpath(*GRAPH_TABLES_DIR)
    counts = json.loads((tables_dir / COUNTS_FILE).read_text())
    started = time.perf_counter()
    backend = graph.open()
    try:
        if graph.backend == "ladybug":
            record = backend.build(tables_dir, counts)
            loaded = record["counts"]
        else:
            backend.create_schema()
            backend.load_tables(tables_dir, counts)
            loaded = backend.counts()
    finally:
        backend.close()
    seconds = time.perf_counter() - started
    context.log.info(f"{graph.backend} graph at {graph.location()}: {loaded} in {seconds:.1f} s")
    table = pd.DataFrame(sorted(loaded.items()), columns=["label or type", "count"])
    return dg.MaterializeResult(
        metadata={
            "backend": graph.backend,
            "location": graph.location(),
            "counts": metadata_table(table),
            "experiments": int(loaded.get("Experiment", 0)),
            "build_seconds": round(seconds, 2),
            "schema_version": SCHEMA_VERSION,
            "schema_doc": dg.MetadataValue.path(str(SCHEMA_DOC)),
            RECOVERED: dg.MetadataValue.json(recovered),
            CONFIG_DIGEST: digest,
        },
        data_version=dg.DataVersion(_version(loaded)),
    )


def _loaded_version(graph: GraphDatabase) -> str | None:
    """The content version of the graph in the database now (None if there is none to read)."""
    if graph.backend == "ladybug" and not Path(graph.location()).exists():
        return None
    try:
        with graph.open(read_only=True) as backend:
            return _version(backend.counts())
    except Exception:  # an unreadable or half-built database is rebuilt
        return None


def _version(counts: dict) -> str:
    """The loaded graph's content version: its counts under this schema."""
    return json_digest([counts, SCHEMA_VERSION])
