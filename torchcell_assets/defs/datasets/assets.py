"""Curated dataset assets, one per dataset: queried out of the knowledge graph, deduplicated,
aggregated and split in DuckDB, exported to Parquet, with a dataset card in the metadata."""

import json
import os

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from torchcell_assets.defs.graph.assets import knowledge_graph
from torchcell_assets.defs.graph.resources import GraphDatabase
from torchcell_assets.defs.sources.paths import GENOME_PARQUET
from torchcell_assets.lib.automation import FOLLOW_UPSTREAM
from torchcell_assets.lib.code_versions import code_version
from torchcell_assets.lib.metadata import image, metadata_table, preview
from torchcell_assets.lib.skip import CONFIG_DIGEST, config_digest, unchanged_result
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.datasets.card import dataset_card
from torchcell_core.datasets.curate import SPECS, DatasetError, DatasetSpec, DedupRule, curate, empty_reason
from torchcell_core.datasets.splits import assign_splits
from torchcell_core.duckdb_tables import replace_table
from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.graph import queries
from torchcell_core.hashing import file_sha256

CODE_VERSION = code_version(__name__)  # the source of this module and the core code it runs


def read_card(storage: TorchcellStorage, name: str) -> dict:
    """The dataset card the dataset asset wrote (`<data>/datasets/<name>.card.json`); {} when there is none."""
    path = storage.dataset_card(name)
    return json.loads(path.read_text()) if path.is_file() else {}


def require_rows(storage: TorchcellStorage, name: str) -> None:
    """Fail a model step at once, naming the dataset and why, when its partition's dataset has no rows."""
    path = storage.dataset_parquet(name)
    if path.is_file() and pq.ParquetFile(path).metadata.num_rows == 0:
        reason = read_card(storage, name).get("empty_reason") or "the curated table has no rows"
        raise dg.Failure(
            description=f"{name} dataset is empty: {reason}; train on a dataset with rows",
            metadata={"dataset": name, "empty": True},
            allow_retries=False,
        )


class DatasetConfig(dg.Config):
    """How replicates merge, how the splits are drawn, and an optional gene set."""

    keep_apart: list[str] = ["environment"]  # any of environment, dataset, screen
    split_seed: int = 0
    held_out_fraction: float = 0.1  # genes held out per fold, gene_some split
    strict_held_out_fraction: float = 0.25  # genes held out per fold, gene_all split
    genes: list[str] = []  # keep genotypes whose genes are all in this set; empty keeps all


def _gene_filter(config: DatasetConfig, storage: TorchcellStorage) -> list[str] | None:
    if not config.genes:
        return None
    unknown = GeneIndex.from_gene_table(storage.path(*GENOME_PARQUET)).unknown(config.genes)
    if unknown:
        raise DatasetError(f"config.genes names {len(unknown)} gene(s) not in the genome: {unknown[:10]}")
    return list(config.genes)


def _store(con, name: str, table: pa.Table, path) -> None:
    """Write the Parquet file beside `path`, swap the DuckDB table, then rename the file over `path`:
    a failure at any step leaves the previous table and file as they were, never half of either."""
    partial = path.with_suffix(".parquet.partial")
    pq.write_table(table, partial)
    try:
        replace_table(con, name, table)
    except Exception:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


def build_dataset_asset(spec: DatasetSpec) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"{spec.name}_dataset",
        group_name="datasets",
        code_version=CODE_VERSION,
        deps=[knowledge_graph],
        kinds={"duckdb", "parquet"},
        automation_condition=FOLLOW_UPSTREAM,
        description=f"{spec.description}: one row per genotype and environment, queried from the knowledge graph.",
    )
    def _asset(
        context: dg.AssetExecutionContext, config: DatasetConfig, storage: TorchcellStorage, graph: GraphDatabase
    ) -> dg.MaterializeResult:
        digest = config_digest(config)
        path = storage.dataset_parquet(spec.name)
        intact = lambda version: path.is_file() and file_sha256(path)[:16] == version  # noqa: E731
        skipped = unchanged_result(context, digest, intact)
        if skipped is not None:
            return skipped
        rule = DedupRule(tuple(config.keep_apart))
        genes = _gene_filter(config, storage)
        with graph.open(read_only=True) as backend:
            experiments = queries.experiments_with_genes(backend, spec.n_genes, spec.datasets)
            environments = queries.environments(backend)
            sources = queries.dataset_nodes(backend).to_pylist()
        context.log.info(f"{spec.name}: {experiments.num_rows} experiments from the {graph.backend} graph")
        simulated = {row["id"]: bool(row["simulated"]) for row in sources}
        with storage.duckdb() as con:
            table, counts = curate(con, spec, experiments, environments, simulated, rule, genes, log=context.log.info)
            gene_lists = table.column("genes").to_pylist()
            splits, split_seeds = assign_splits(
                table.column("genotype").to_pylist(),
                gene_lists,
                table.column("queries").to_pylist(),
                config.split_seed,
                config.held_out_fraction,
                config.strict_held_out_fraction,
            )
            for column, labels in splits.items():
                table = table.append_column(column, pa.array(labels.tolist(), pa.string()))
            _store(con, spec.name, table, path)
        used = [row for row in sources if row["id"] in spec.datasets]
        card = dataset_card(table, spec.n_genes, used, storage.dataset_labels_png(spec.name), spec.description)
        reason = empty_reason(spec, counts)
        if reason:
            context.log.warning(f"{spec.name} is empty: {reason}; the models' {spec.name} partitions cannot train")
        card |= {
            "empty_reason": reason,
            "split_seeds": split_seeds,
            "curation": counts.as_dict(),
            "dedup_keep_apart": list(rule.keep_apart),
            "config": config.model_dump(),
        }
        storage.dataset_card(spec.name).write_text(json.dumps(card, indent=2))
        context.log.info(f"{spec.name}: {counts.rows} rows ({counts.merged} replicate measurements merged)")
        labels = pd.DataFrame(card["labels"]).T.reset_index(names="label")
        source_table = pd.DataFrame(used, columns=list(queries.DATASET_COLUMNS))[["id", "version", "simulated"]]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": table.num_rows,
                "empty": table.num_rows == 0,
                **({"empty_reason": reason} if reason else {}),
                "genes": card["genes"],
                "experiments_in": counts.experiments,
                "replicates_merged": counts.merged,
                "dropped_repeated_gene": counts.dropped_repeated_gene,
                "dropped_outside_gene_set": counts.dropped_outside_gene_set,
                "dedup_keep_apart": ", ".join(rule.keep_apart) or "nothing (all merged)",
                "labels": metadata_table(labels),
                "strong_interaction_fraction": card["strong_interaction_fraction"] or float("nan"),
                "splits": dg.MetadataValue.json(card["splits"]),
                "split_seeds": dg.MetadataValue.json(split_seeds),
                "sources": metadata_table(source_table),
                "histogram": image(card["histogram"], f"{spec.name} labels"),
                "simulated": card["simulated"],
                "parquet": dg.MetadataValue.path(storage.relative(path)),
                "duckdb_table": f"{storage.relative(storage.duckdb_path)}:{spec.name}",
                "preview": preview(table.drop_columns(["genes"]).to_pandas()),
                CONFIG_DIGEST: digest,
            },
            data_version=dg.DataVersion(file_sha256(path)[:16]),
        )

    return _asset


dataset_assets = [build_dataset_asset(spec) for spec in SPECS.values()]
DATASET_ASSETS = {spec.name: asset for spec, asset in zip(SPECS.values(), dataset_assets, strict=True)}
