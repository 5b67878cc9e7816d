"""Typed wrappers around the packaged Cypher queries (`queries/*.cql`), for any `GraphBackend`.

Each wrapper passes its arguments as query parameters and returns an Arrow table with the
columns listed in its docstring, sorted so that the same database gives the same table.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from torchcell_core.graph.backend import GraphBackend

DIGENIC_COLUMNS = (
    "experiment",
    "dataset",
    "gene_1",
    "gene_2",
    "allele_1",
    "allele_2",
    "fitness",
    "fitness_std",
    "interaction",
    "interaction_p_value",
    "environment",
)
TRIGENIC_COLUMNS = (
    "experiment",
    "dataset",
    "gene_1",
    "gene_2",
    "gene_3",
    "interaction",
    "interaction_p_value",
    "fitness",
    "screen",
)
SINGLE_MUTANT_COLUMNS = ("gene", "allele", "fitness", "fitness_std", "environment", "dataset")
NEIGHBOURHOOD_COLUMNS = ("relationship", "direction", "network", "version", "regulation", "weight", "other")


def _strings(values: Iterable[str], what: str) -> list[str]:
    if isinstance(values, str):
        raise TypeError(f"{what}: a collection of ids, not the single string {values!r}")
    return sorted({str(value) for value in values})


def _sorted(table: pa.Table, columns: tuple[str, ...], keys: tuple[str, ...]) -> pa.Table:
    if tuple(table.column_names) != columns:
        raise RuntimeError(f"query returned columns {table.column_names}, expected {list(columns)}")
    return table.sort_by([(key, "ascending") for key in keys])


def digenic_experiments(backend: GraphBackend, datasets: Iterable[str], genes: Iterable[str] = ()) -> pa.Table:
    """Experiments on two perturbed alleles in `datasets` whose two genes are both in `genes`
    (no gene filter when `genes` is empty). Columns `DIGENIC_COLUMNS`; gene_1 <= gene_2."""
    parameters = {"datasets": _strings(datasets, "datasets"), "genes": _strings(genes, "genes")}
    name = "digenic_experiments_by_genes" if parameters["genes"] else "digenic_experiments"
    return _sorted(backend.query(name, parameters), DIGENIC_COLUMNS, ("experiment",))


def trigenic_experiments(backend: GraphBackend, datasets: Iterable[str]) -> pa.Table:
    """Experiments on three perturbed alleles in `datasets`: τ (`interaction`), its p-value, fitness
    and screen. Columns `TRIGENIC_COLUMNS`; gene_1 <= gene_2 <= gene_3."""
    parameters = {"datasets": _strings(datasets, "datasets")}
    return _sorted(backend.query("trigenic_experiments", parameters), TRIGENIC_COLUMNS, ("experiment",))


def single_mutant_fitness(backend: GraphBackend) -> pa.Table:
    """Every single-mutant fitness measurement. Columns `SINGLE_MUTANT_COLUMNS`."""
    return _sorted(
        backend.query("single_mutant_fitness", {}), SINGLE_MUTANT_COLUMNS, ("gene", "allele", "environment", "dataset")
    )


def gene_neighbourhood(backend: GraphBackend, gene: str) -> pa.Table:
    """Every INTERACTS and REGULATES edge touching `gene` (a systematic name), with the gene at the
    other end. Columns `NEIGHBOURHOOD_COLUMNS`."""
    if not isinstance(gene, str):
        raise TypeError(f"gene: a systematic name, not {gene!r}")
    return _sorted(
        backend.query("gene_neighbourhood", {"gene": gene}),
        NEIGHBOURHOOD_COLUMNS,
        ("relationship", "direction", "network", "version", "other", "weight"),
    )


EXPERIMENT_COLUMNS = (
    "experiment",
    "dataset",
    "genes",
    "alleles",
    "kind",
    "fitness",
    "fitness_std",
    "interaction",
    "interaction_p_value",
    "environment",
    "screen",
)
ENVIRONMENT_COLUMNS = ("id", "media", "temperature")
DATASET_COLUMNS = ("id", "name", "version", "citation", "url", "source_sha256", "simulated")


def experiments_with_genes(backend: GraphBackend, n_perturbations: int, datasets: Iterable[str]) -> pa.Table:
    """Every experiment on `n_perturbations` alleles in `datasets`, its genes and allele ids as list columns
    (in no particular order). Columns `EXPERIMENT_COLUMNS`; one row per experiment."""
    parameters = {"n_perturbations": int(n_perturbations), "datasets": _strings(datasets, "datasets")}
    return _sorted(backend.query("experiments_with_genes", parameters), EXPERIMENT_COLUMNS, ("experiment",))


def experiment_count(backend: GraphBackend, n_perturbations: int, datasets: Iterable[str]) -> int:
    """How many experiments on `n_perturbations` alleles `datasets` hold."""
    parameters = {"n_perturbations": int(n_perturbations), "datasets": _strings(datasets, "datasets")}
    return int(backend.query("experiment_count", parameters).column("experiments")[0].as_py())


def environments(backend: GraphBackend) -> pa.Table:
    """Every Environment node. Columns `ENVIRONMENT_COLUMNS`."""
    return _sorted(backend.query("environments", {}), ENVIRONMENT_COLUMNS, ("id",))


def dataset_nodes(backend: GraphBackend) -> pa.Table:
    """Every Dataset node with its version and source digests. Columns `DATASET_COLUMNS`."""
    return _sorted(backend.query("datasets", {}), DATASET_COLUMNS, ("id",))
