"""The inputs of a run, read from files: gene vocabulary, fold datasets, p-values and the `ModelContext`.

Optional inputs (gene features, cell graph, GO terms and edges) are loaded only when a path is given,
and each is checked against the gene vocabulary, so a model never sees rows that do not line up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from torchcell_core.datasets.loader import PerturbationDataset
from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.models.base import ModelContext
from torchcell_core.train.config import TrainConfig

FOLDS = ("train", "val", "test")
P_VALUE_COLUMN = "interaction_p_value"


@dataclass
class RunData:
    """`folds` {fold: dataset} (train and val always, test when the split has one); `p_values` {fold:
    [N] float64 interaction p-values, NaN where unknown} or None when the table has no p-value column."""

    genes: GeneIndex
    folds: dict[str, PerturbationDataset]
    p_values: dict[str, np.ndarray] | None
    context: ModelContext


def read_gene_index(path: str | Path) -> GeneIndex:
    """A genome gene table Parquet (`systematic_name`), or a text file with one gene name a line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"gene table {path} does not exist")
    if path.suffix == ".parquet":
        return GeneIndex.from_gene_table(path)
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names:
        raise ValueError(f"gene list {path} is empty")
    return GeneIndex(names)


def fold_sizes(dataset: str | Path, split: str) -> dict[str, int]:
    """{fold: rows} of the split column `split` in the dataset Parquet."""
    names = pq.read_schema(dataset).names
    if split not in names:
        raise ValueError(f"dataset {dataset} has no split column {split!r}; it has {names}")
    counts = pc.value_counts(pq.read_table(dataset, columns=[split]).column(split).combine_chunks())
    return {str(item["values"]): int(item["counts"]) for item in counts.to_pylist() if item["values"] is not None}


def aligned_gene_features(path: str | Path, genes: GeneIndex) -> torch.Tensor:
    """Features [num_genes, d] float32 from a feature file (features/store.py), rows in `genes` order."""
    from torchcell_core.features.store import load_gene_feature

    feature_genes, x = load_gene_feature(path)
    if feature_genes == genes.genes:
        return x.to(torch.float32)
    missing = GeneIndex(feature_genes).unknown(genes.genes)
    if missing:
        raise ValueError(f"gene features {path} lack {len(missing)} gene(s) of the gene table, e.g. {missing[:5]}")
    return x[torch.from_numpy(GeneIndex(feature_genes).positions(genes.genes))].to(torch.float32)


def load_cell_graph_for(path: str | Path, genes: GeneIndex):
    """The cached cell graph (`HeteroData`) at `path`, whose nodes must be the gene table's genes in order."""
    from torchcell_core.cell.cache import load_cell_graph

    data, _report = load_cell_graph(path)
    node_ids = list(data["gene"].node_ids)
    if node_ids != genes.genes:
        raise ValueError(
            f"cell graph {path} has {len(node_ids)} gene nodes that differ from the gene table's "
            f"{len(genes)} genes; build the graph on the same gene index"
        )
    return data


def load_go(terms_path: str | Path, edges_path: str | Path, genes: GeneIndex, only: set[int] | None = None):
    """(GoDag, {GO id: gene positions}) from the go_dag asset's terms Parquet (go_id, name, namespace,
    genes: the term's genes, propagated) and edges Parquet (child, parent, relation). `only`: keep just these
    gene positions and the terms that still hold one (an ancestor-closed sub-DAG, as the sets are propagated)."""
    from torchcell_core.ontology.dag import GoDag, GoTerm

    terms = pq.read_table(terms_path).to_pylist()
    edges = pq.read_table(edges_path).to_pylist()
    for what, rows, columns in (
        ("terms", terms, ("go_id", "name", "namespace", "genes")),
        ("edges", edges, ("child", "parent", "relation")),
    ):
        if rows and (missing := [c for c in columns if c not in rows[0]]):
            raise ValueError(f"GO {what} Parquet lacks column(s) {missing}")
    dag = GoDag(
        [GoTerm(t["go_id"], t["name"], t["namespace"]) for t in terms],
        [(e["child"], e["parent"], e["relation"]) for e in edges],
    )
    known = set(genes.genes)
    gene_sets = {t["go_id"]: genes.positions([g for g in t["genes"] if g in known]).tolist() for t in terms}
    if only is not None:
        gene_sets = {
            term: kept for term, positions in gene_sets.items() if (kept := [p for p in positions if p in only])
        }
        dag = dag.subgraph(gene_sets)
    return dag, gene_sets


def load_run_data(config: TrainConfig) -> RunData:
    """Datasets of the train/val/test folds of `config.split` and the model context built from the inputs."""
    if not Path(config.dataset).is_file():
        raise FileNotFoundError(f"dataset {config.dataset} does not exist")
    if (config.go_terms is None) != (config.go_edges is None):
        raise ValueError("--go-terms and --go-edges go together: give both or neither")
    genes = read_gene_index(config.gene_table)
    sizes = fold_sizes(config.dataset, config.split)
    for fold in ("train", "val"):
        if not sizes.get(fold):
            raise ValueError(f"split {config.split!r} has no {fold!r} rows (folds present: {sizes})")
    folds = {
        fold: PerturbationDataset(config.dataset, genes, split=config.split, fold=fold, label_names=config.labels)
        for fold in FOLDS
        if sizes.get(fold)
    }
    p_values = None
    if P_VALUE_COLUMN in pq.read_schema(config.dataset).names:
        column = pq.read_table(config.dataset, columns=[P_VALUE_COLUMN]).column(0)
        every = pc.fill_null(column.cast("float64"), np.nan).to_numpy()
        p_values = {fold: every[dataset.rows.numpy()] for fold, dataset in folds.items()}
    train = folds["train"]
    counts = train.mask.sum(dim=0).clamp(min=1)
    means = torch.where(train.mask, train.labels, torch.zeros_like(train.labels)).sum(dim=0) / counts
    context = ModelContext(
        num_genes=len(genes), env_dim=train.env_dim, gene_names=list(genes.genes), label_means=means.float()
    )
    if config.gene_features:
        context.gene_features = aligned_gene_features(config.gene_features, genes)
    if config.cell_graph:
        context.cell_graph = load_cell_graph_for(config.cell_graph, genes)
    if config.go_terms:
        # Terms sized and fed by the genes this dataset perturbs (any fold: no label is read), or by every gene.
        only = (
            {int(g) for f in folds.values() for g in f.gene_index.unique().tolist()}
            if config.go_dataset_genes
            else None
        )
        context.go_dag, context.go_gene_sets = load_go(config.go_terms, config.go_edges, genes, only)
    return RunData(genes=genes, folds=folds, p_values=p_values, context=context)
