"""Graph tables: the parsed sources mapped onto the knowledge-graph schema, one Parquet file per table."""

import json

import dagster as dg
import pandas as pd

from torchcell_assets.defs.sources.genome import go_dag, s288c_genome
from torchcell_assets.defs.sources.paths import GENOME_PARQUET, GO_EDGES, GO_TERMS, read_provenance, source_output_dir
from torchcell_assets.defs.sources.releases import SOURCE_ASSETS
from torchcell_assets.lib.automation import FOLLOW_UPSTREAM
from torchcell_assets.lib.code_versions import code_version
from torchcell_assets.lib.metadata import metadata_table
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.graph.schema import SCHEMA_VERSION
from torchcell_core.graph.tables import SourceOutputs, build_graph_tables
from torchcell_core.hashing import json_digest
from torchcell_core.sources.load import EDGES, FITNESS, RECORDS
from torchcell_core.sources.registry import REGISTRY

CODE_VERSION = code_version(__name__)  # the source of this module and the core code it runs

GRAPH_TABLES_DIR = ("graph", "tables")
COUNTS_FILE = "counts.json"
SCREEN_DATASETS = {
    "costanzo2016": "costanzo2016",
    "costanzo2016_smf": "costanzo2016",
    "kuzmin2018": "kuzmin2018",
    "kuzmin2020": "kuzmin2020",
}


def source_outputs(storage: TorchcellStorage) -> SourceOutputs:
    """Where the source assets left their Parquet outputs, and the Dataset rows from their provenance."""

    def out(key: str, name: str):
        path = source_output_dir(storage, key) / name
        return path if path.is_file() else None

    networks = [("string", REGISTRY[k].version, out(k, EDGES)) for k in ("string_v9_1", "string_v11_0", "string_v12_0")]
    networks.append(("biogrid", REGISTRY["biogrid"].version, out("biogrid", EDGES)))
    datasets = []
    for dataset, key in SCREEN_DATASETS.items():
        provenance = read_provenance(storage, key)
        entry = REGISTRY[key]
        datasets.append(
            {
                "id": dataset,
                "name": entry.title,
                "version": entry.version,
                "citation": entry.citation,
                "url": entry.url,
                "source_sha256": json.dumps(provenance["sha256"], sort_keys=True),
                "simulated": bool(provenance["simulated"]),
            }
        )
    return SourceOutputs(
        genes=storage.path(*GENOME_PARQUET),
        go_terms=storage.path(*GO_TERMS),
        go_edges=storage.path(*GO_EDGES),
        costanzo_records=out("costanzo2016", RECORDS),
        costanzo_fitness=out("costanzo2016", FITNESS),
        kuzmin2018_records=out("kuzmin2018", RECORDS),
        kuzmin2020_records=out("kuzmin2020", RECORDS),
        networks=tuple((n, v, p) for n, v, p in networks if p is not None),
        regulatory=out("regulatory", EDGES),
        datasets=tuple(datasets),
    )


def _content_version(counts: dict, outputs: SourceOutputs) -> str:
    """Changes when any source's files (by digest) or the table counts change."""
    digests = [d["source_sha256"] for d in outputs.datasets]
    return json_digest([counts, digests, SCHEMA_VERSION])


@dg.asset(
    group_name="graph",
    code_version=CODE_VERSION,
    deps=[s288c_genome, go_dag, *SOURCE_ASSETS],
    kinds={"duckdb", "parquet"},
    automation_condition=FOLLOW_UPSTREAM,
)
def graph_tables(context: dg.AssetExecutionContext, storage: TorchcellStorage) -> dg.MaterializeResult:
    """Every source mapped onto the graph schema (docs/graph_schema.md): one Parquet file per node
    label and relationship type, ready for a bulk load into any backend."""
    out_dir = storage.directory(*GRAPH_TABLES_DIR)
    outputs = source_outputs(storage)
    counts = build_graph_tables(outputs, out_dir)
    (out_dir / COUNTS_FILE).write_text(json.dumps(counts, indent=2, sort_keys=True))
    context.log.info(f"graph tables: {counts}")
    table = pd.DataFrame(sorted(counts.items()), columns=["table", "rows"])
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": int(counts["Experiment"]),
            "counts": metadata_table(table),
            "directory": dg.MetadataValue.path(storage.relative(out_dir)),
            "schema_version": SCHEMA_VERSION,
        },
        data_version=dg.DataVersion(_content_version(counts, outputs)),
    )
