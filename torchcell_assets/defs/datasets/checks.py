"""Checks on every curated dataset; each can fail. An empty dataset passes them, saying it is empty: it is a
state of the release (no rows to check), and the models refuse its partitions themselves."""

import json

import dagster as dg
import numpy as np
import pandas as pd

from torchcell_assets.defs.datasets.assets import DATASET_ASSETS, read_card
from torchcell_assets.defs.graph.resources import GraphDatabase
from torchcell_assets.defs.sources.paths import GENOME_PARQUET
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.datasets.curate import DEDUP_KEYS, SPECS
from torchcell_core.datasets.splits import LEAKAGE_RULES, leakage
from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.graph import queries

# Fitness relative to wild type; near-lethal genotypes scatter slightly below 0 by measurement noise.
# A value outside is a unit or parsing error.
FITNESS_RANGE = (-0.1, 2.0)
INTERACTION_RANGE = (-1.0, 1.0)  # ε and τ are differences of fitness values near [0, 1]


def _table(storage: TorchcellStorage, name: str) -> pd.DataFrame:
    return pd.read_parquet(storage.dataset_parquet(name))


def empty_result(storage: TorchcellStorage, name: str) -> dg.AssetCheckResult | None:
    """A passing result that says the dataset is empty and why, or None when it has rows."""
    card = read_card(storage, name)
    if card.get("rows", 1) != 0:
        return None
    reason = card.get("empty_reason") or "no rows"
    return dg.AssetCheckResult(
        passed=True,
        description=f"{name} is empty: nothing to check",
        metadata={"empty": True, "empty_reason": reason, "rows": 0},
    )


def build_dataset_checks(name: str, asset: dg.AssetsDefinition) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(asset=asset, name="label_ranges", blocking=True)
    def label_ranges(storage: TorchcellStorage) -> dg.AssetCheckResult:
        """Fitness in [−0.1, 2] and interaction scores in [−1, 1] wherever measured."""
        if empty := empty_result(storage, name):
            return empty
        data = _table(storage, name)
        bad_fitness = int((~data["fitness"].between(*FITNESS_RANGE) & data["fitness"].notna()).sum())
        bad_interaction = int((~data["interaction"].between(*INTERACTION_RANGE) & data["interaction"].notna()).sum())
        return dg.AssetCheckResult(
            passed=bad_fitness == 0 and bad_interaction == 0,
            metadata={
                "fitness_out_of_range": bad_fitness,
                "interaction_out_of_range": bad_interaction,
                "fitness_min": float(data["fitness"].min()),
                "fitness_max": float(data["fitness"].max()),
            },
        )

    @dg.asset_check(asset=asset, name="no_duplicate_genotypes", blocking=True)
    def no_duplicate_genotypes(storage: TorchcellStorage) -> dg.AssetCheckResult:
        """After dedup each genotype appears once per key the rule keeps apart."""
        if empty := empty_result(storage, name):
            return empty
        data = _table(storage, name)
        keys = ["genotype", *(key for key in DEDUP_KEYS if key in data.columns)]
        duplicates = int(data.duplicated(keys).sum())
        unsorted = int(sum(list(genes) != sorted(genes) for genes in data["genes"]))
        return dg.AssetCheckResult(
            passed=duplicates == 0 and unsorted == 0,
            metadata={"duplicates": duplicates, "keys": ", ".join(keys), "genotypes_with_unsorted_genes": unsorted},
        )

    @dg.asset_check(asset=asset, name="splits_do_not_leak", blocking=True)
    def splits_do_not_leak(storage: TorchcellStorage) -> dg.AssetCheckResult:
        """No genotype in two folds; for the query split no query in two folds; for gene splits no held-out
        gene in train."""
        if empty := empty_result(storage, name):
            return empty
        data = _table(storage, name)
        genes = [list(g) for g in data["genes"]]
        queries = data["query"].tolist() if "query" in data.columns else None
        found = {
            column: leakage(data["genotype"].tolist(), genes, data[column].to_numpy(), queries)
            for column in LEAKAGE_RULES
        }
        failures = {
            f"{column}.{rule}": found[column][rule] for column, rules in LEAKAGE_RULES.items() for rule in rules
        }
        return dg.AssetCheckResult(passed=not any(failures.values()), metadata=failures)

    @dg.asset_check(asset=asset, name="genes_in_genome")
    def genes_in_genome(storage: TorchcellStorage) -> dg.AssetCheckResult:
        """Every gene of the table is in the genome's gene index."""
        if empty := empty_result(storage, name):
            return empty
        data = _table(storage, name)
        index = GeneIndex.from_gene_table(storage.path(*GENOME_PARQUET))
        missing = index.unknown(np.unique(np.concatenate(data["genes"].to_numpy())).tolist())
        metadata = {"unknown_genes": len(missing), "examples": ", ".join(missing[:10])}
        return dg.AssetCheckResult(passed=not missing, metadata=metadata)

    @dg.asset_check(asset=asset, name="rows_match_graph")
    def rows_match_graph(storage: TorchcellStorage, graph: GraphDatabase) -> dg.AssetCheckResult:
        """Measurements merged into the table plus those dropped equal the graph's experiment count."""
        spec = SPECS[name]
        data = _table(storage, name)
        curation = json.loads(storage.dataset_card(name).read_text())["curation"]
        with graph.open(read_only=True) as backend:
            in_graph = queries.experiment_count(backend, spec.n_genes, spec.datasets)
        accounted = int(data["n_measurements"].sum()) + curation["dropped_repeated_gene"]
        accounted += curation["dropped_outside_gene_set"]
        metadata = {"graph_experiments": in_graph, "accounted_for": accounted} | ({"empty": True} if data.empty else {})
        return dg.AssetCheckResult(passed=accounted == in_graph, metadata=metadata)

    return [label_ranges, no_duplicate_genotypes, splits_do_not_leak, genes_in_genome, rows_match_graph]


dataset_checks = [check for name, asset in DATASET_ASSETS.items() for check in build_dataset_checks(name, asset)]
