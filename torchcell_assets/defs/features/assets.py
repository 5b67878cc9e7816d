"""The `gene_features` asset: every configured registered feature, one `<data>/features/<name>.pt` each."""

import json
import time

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq

from torchcell_assets.defs.sources.genome import go_dag, s288c_genome
from torchcell_assets.defs.sources.paths import GENOME_PARQUET, GO_EDGES, GO_TERMS
from torchcell_assets.lib.automation import FOLLOW_UPSTREAM
from torchcell_assets.lib.code_versions import code_version
from torchcell_assets.lib.metadata import metadata_table
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.features.registry import BUILTIN_FEATURES, GeneFeature, feature_class, get_feature
from torchcell_core.features.store import nonzero_fraction, save_gene_feature
from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.hashing import file_sha256, json_digest

CODE_VERSION = code_version(__name__)  # the source of this module and the core code it runs

SEQUENCE_COLUMNS = ["systematic_name", "cds_sequence", "protein_sequence"]


def read_manifest(storage: TorchcellStorage) -> dict:
    """What the last run built: per feature its file, digest, config and summary."""
    return json.loads(storage.features_manifest().read_text())


class GeneFeaturesConfig(dg.Config):
    features: list[str] = list(BUILTIN_FEATURES)
    random_dim: int = 64
    random_seed: int = 0
    kmer_k: int = 2
    kmer_alphabet: str = "standard"
    go_min_genes: int = 3
    # Embedding file per feature built on LocalModelFeature (e.g. {"local_model": "/models/esm2.pt"}).
    local_paths: dict[str, str] = {}


def go_dag_inputs(storage: TorchcellStorage) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(gene, GO id) pairs and child → parent edges from the `go_dag` asset.

    The pairs are go_dag's per-term gene sets: they were propagated through the full DAG before
    its filters bypassed terms, so a gene annotated only to a bypassed term still reaches the
    kept ancestors, and the GO columns line up with the DCell term hierarchy.
    """
    terms = pd.read_parquet(storage.path(*GO_TERMS), columns=["go_id", "genes"])
    pairs = terms.explode("genes").dropna(subset=["genes"]).rename(columns={"genes": "systematic_name"})
    return pairs[["systematic_name", "go_id"]], pd.read_parquet(storage.path(*GO_EDGES))


def configured_features(config: GeneFeaturesConfig, storage: TorchcellStorage) -> list[GeneFeature]:
    """One feature instance per configured name; an unknown name fails before anything is computed."""
    classes = {name: feature_class(name) for name in config.features}
    settings = {
        "random": {"dim": config.random_dim, "seed": config.random_seed},
        "protein_kmer": {"k": config.kmer_k, "alphabet": config.kmer_alphabet},
        **{name: {"path": path} for name, path in config.local_paths.items()},
    }
    if "go_annotation" in classes:
        annotations, edges = go_dag_inputs(storage)
        settings["go_annotation"] = {"min_genes": config.go_min_genes, "annotations": annotations, "edges": edges}
    return [get_feature(name, **settings.get(name, {})) for name in classes]


@dg.asset(
    group_name="features",
    code_version=CODE_VERSION,
    deps=[s288c_genome, go_dag],
    kinds={"pytorch"},
    automation_condition=FOLLOW_UPSTREAM,
)
def gene_features(
    context: dg.AssetExecutionContext, config: GeneFeaturesConfig, storage: TorchcellStorage
) -> dg.MaterializeResult:
    """Gene embeddings over the genome's gene index (one-hot, codon frequency, amino-acid composition,
    protein k-mers, seeded random, GO annotations, or any registered feature), each [num_genes, dim]."""
    genome = pq.read_table(storage.path(*GENOME_PARQUET), columns=SEQUENCE_COLUMNS)
    index = GeneIndex(genome.column("systematic_name").to_pylist())
    features = configured_features(config, storage)
    summary, digests = {}, {}
    for feature in features:
        started = time.perf_counter()
        matrix = feature.matrix(genome, index)
        path = save_gene_feature(matrix, storage.feature_file(feature.name))
        digests[feature.name] = file_sha256(path)
        summary[feature.name] = {
            "dim": len(matrix.columns),
            "nonzero_fraction": round(nonzero_fraction(matrix.x), 4),
            "genes_without_data": int((~matrix.has_data).sum()),
            "seconds": round(time.perf_counter() - started, 2),
            "description": feature.describe(),
            "file": path.name,
            "sha256": digests[feature.name],
            "config": matrix.config,
        }
        if feature.name == "go_annotation":
            summary[feature.name]["first_terms"] = matrix.columns[:10]
        context.log.info(f"{feature.name}: {tuple(matrix.x.shape)} in {summary[feature.name]['seconds']}s")
    manifest = {"genes": len(index), "features": summary}
    storage.features_manifest().write_text(json.dumps(manifest, indent=2, sort_keys=True))
    table = pd.DataFrame(
        [
            {"feature": name, **{k: s[k] for k in ("dim", "nonzero_fraction", "genes_without_data", "seconds")}}
            for name, s in summary.items()
        ]
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(index),
            "features": metadata_table(table),
            "summary": dg.MetadataValue.json(manifest),
            "directory": dg.MetadataValue.path(storage.relative(storage.features_manifest().parent)),
            "simulated": False,
        },
        data_version=dg.DataVersion(json_digest(digests)),
    )
