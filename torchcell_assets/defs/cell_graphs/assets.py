"""The cell graphs asset: one cached `.pt` HeteroData per named graph set, built from the knowledge graph."""

import json

import dagster as dg
import pandas as pd

from torchcell_assets.defs.graph.assets import knowledge_graph
from torchcell_assets.defs.graph.resources import GraphDatabase
from torchcell_assets.defs.sources.genome import s288c_genome
from torchcell_assets.defs.sources.paths import GENOME_PARQUET, PROVENANCE, read_provenance, source_output_dir
from torchcell_assets.lib.automation import FOLLOW_UPSTREAM
from torchcell_assets.lib.code_versions import code_version
from torchcell_assets.lib.metadata import metadata_table
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.benchmarks.inputs import graph_set_sources
from torchcell_core.cell.cache import content_digest
from torchcell_core.cell.cell_graph import CellGraph, build_cell_graphs
from torchcell_core.cell.edge_arrays import DEFAULT_MAX_TERM_GENES
from torchcell_core.cell.graph_sets import DEFAULT_GRAPH_SETS
from torchcell_core.cell.leakage import INTERACTION_LABEL_DATASETS
from torchcell_core.cell.summary import summarise, summary_rows
from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.hashing import json_digest

CODE_VERSION = code_version(__name__)  # the source of this module and the core code it runs


class CellGraphsConfig(dg.Config):
    """Which graph sets to build, the GO term size limit, and the label datasets the graphs are for."""

    graph_sets: list[str] = list(DEFAULT_GRAPH_SETS)
    max_term_genes: int = DEFAULT_MAX_TERM_GENES  # GO co-annotation: terms with at most this many genes
    label_datasets: list[str] = list(INTERACTION_LABEL_DATASETS)  # checked for leakage before building
    rebuild: bool = False  # ignore cached files


def source_simulated(storage: TorchcellStorage, key: str) -> bool:
    """Whether a source's published files came from the simulator (its provenance.json); a source never
    materialized, or without a simulator (the genome, GO), counts as real."""
    if not (source_output_dir(storage, key) / PROVENANCE).is_file():
        return False
    return bool(read_provenance(storage, key).get("simulated", False))


def _manifest_entry(built: CellGraph, digest: str, sources: dict[str, bool]) -> dict:
    return {
        "file": built.path.name,
        "key": built.key,
        "content_digest": digest,
        "for_interaction_labels": built.graph_set.for_interaction_labels,
        "label_datasets": built.report["label_datasets"],
        "sources": sources,
    }


@dg.asset(
    group_name="cell_graphs",
    code_version=CODE_VERSION,
    deps=[knowledge_graph, s288c_genome],
    kinds={"pytorch"},
    automation_condition=FOLLOW_UPSTREAM,
)
def cell_graphs(
    context: dg.AssetExecutionContext, config: CellGraphsConfig, storage: TorchcellStorage, graph: GraphDatabase
) -> dg.MaterializeResult:
    """torch_geometric HeteroData over every genome gene, one edge type per network of each graph set
    (STRING channels per release, physical, regulatory, GO co-annotation; genetic never for screen
    labels), cached as `.pt` files keyed by their inputs. The manifest records, per set, its sources and which
    were simulated."""
    gene_index = GeneIndex.from_gene_table(storage.path(*GENOME_PARQUET))
    directory = storage.cell_graphs_dir()
    with graph.open(read_only=True) as backend:
        built = build_cell_graphs(
            backend,
            config.graph_sets,
            gene_index,
            max_term_genes=config.max_term_genes,
            label_datasets=config.label_datasets,
            cache_dir=directory,
            rebuild=config.rebuild,
        )
    rows, manifest, edges, dropped, digests, simulated = [], {}, {}, {}, {}, {}
    for name, result in built.items():
        summary = summarise(result.data)
        digests[name] = content_digest(result.data)
        sources = {key: source_simulated(storage, key) for key in graph_set_sources(result.graph_set)}
        simulated[name] = sorted(key for key, flag in sources.items() if flag)
        manifest[name] = _manifest_entry(result, digests[name], sources)
        rows += summary_rows(name, summary, result.report)
        edges[name] = {relation: figures["edges"] for relation, figures in summary["edge_types"].items()}
        dropped[name] = {
            rel: stats.get("rows_outside_index_dropped", 0) for rel, stats in result.report["edge_types"].items()
        }
        source = "cache" if result.cache_hit else "built"
        context.log.info(f"{name}: {summary['nodes']} genes, {summary['edges']} edges ({source}) -> {result.path}")
        if result.report["empty_edge_types"]:
            context.log.warning(f"{name}: no edges in the graph for {result.report['empty_edge_types']}")
    storage.cell_graphs_manifest().write_text(json.dumps({"genes": len(gene_index), "graph_sets": manifest}, indent=2))
    hits = sorted(name for name, result in built.items() if result.cache_hit)
    return dg.MaterializeResult(
        metadata={
            "backend": graph.backend,
            "graph_sets": dg.MetadataValue.json(list(built)),
            "nodes": len(gene_index),
            "edges_per_type": dg.MetadataValue.json(edges),
            "rows_outside_index_dropped": dg.MetadataValue.json(dropped),
            "summary": metadata_table(pd.DataFrame(rows)),
            "cache_hits": len(hits),
            "cached_sets": dg.MetadataValue.json(hits),
            "max_term_genes": config.max_term_genes,
            "simulated_sources": dg.MetadataValue.json(simulated),
            "directory": dg.MetadataValue.path(storage.relative(directory)),
        },
        data_version=dg.DataVersion(json_digest(digests)),
    )
