"""Binary gene × GO term features: annotations propagated up the GO DAG, rare terms dropped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from torchcell_core.features.registry import GENE, GeneFeature, register
from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.ontology.dag import RELATIONS, load_packaged_go_dag

TERM = "go_id"


def annotation_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    """(systematic_name, go_id) pairs from a gene table's nested `go_annotations` list column."""
    rows = frame[[GENE, "go_annotations"]].explode("go_annotations").dropna(subset=["go_annotations"])
    ids = [a["go_id"] for a in rows["go_annotations"]]
    return pd.DataFrame({GENE: rows[GENE].to_numpy(dtype=object), TERM: np.asarray(ids, dtype=object)})


def packaged_edges() -> tuple[pd.DataFrame, dict[str, str]]:
    """Child → parent edges of the GO DAG shipped with torchcell, and its alt id → primary id map."""
    dag = load_packaged_go_dag()
    edges = pd.DataFrame([(e.child, e.parent, e.relation) for e in dag.edges], columns=["child", "parent", "relation"])
    return edges, dict(dag.alt_ids)


def propagate_up(memberships: sp.csr_matrix, child_to_parent: sp.csr_matrix) -> sp.csr_matrix:
    """Close gene × term memberships [num_genes, num_terms] upwards: a gene on a term is on every
    ancestor. `child_to_parent` [num_terms, num_terms] has a 1 at (child, parent). One sparse
    product per DAG level; a cycle cannot loop forever since the matrix stays binary."""
    closed = (memberships > 0).astype(np.float32).tocsr()
    while True:
        grown = ((closed + closed @ child_to_parent) > 0).astype(np.float32).tocsr()
        if grown.nnz == closed.nnz:
            return grown
        closed = grown


@register
@dataclass(frozen=True)
class GoAnnotation(GeneFeature):
    """x [num_genes, num_terms] binary (sparse COO): 1 when a gene is annotated to the term or to a
    descendant of it (over `is_a` and `part_of`; other relations are ignored). Terms with fewer
    than `min_genes` genes of the index are dropped; the columns are the kept GO ids, sorted.

    `annotations`: (systematic_name, go_id) rows; by default the gene table's `go_annotations`
    column. `edges`: (child, parent, relation) rows, e.g. the `go_dag` asset's edges; by default
    the packaged yeast GO DAG, whose alt ids are then mapped to primary ids. A term absent from
    the edges keeps its own genes. Annotations of genes outside the index are ignored.
    """

    name: ClassVar[str] = "go_annotation"
    min_genes: int = 3
    annotations: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    edges: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.min_genes, int) or self.min_genes < 1:
            raise ValueError(f"go_annotation: min_genes must be a positive integer, got {self.min_genes!r}")
        inputs = {"annotations": (self.annotations, (GENE, TERM)), "edges": (self.edges, ("child", "parent"))}
        for label, (value, columns) in inputs.items():
            if value is not None and (missing := [c for c in columns if c not in value.columns]):
                raise ValueError(f"go_annotation: {label} lack columns {missing}; they have {list(value.columns)}")

    @property
    def required_columns(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("go_annotations",) if self.annotations is None else ()

    def _compute(self, frame: pd.DataFrame, index: GeneIndex) -> tuple[torch.Tensor, list[str], np.ndarray]:
        pairs = annotation_pairs(frame) if self.annotations is None else self.annotations[[GENE, TERM]]
        edges, alt_ids = (self.edges, {}) if self.edges is not None else packaged_edges()
        if "relation" in edges.columns:
            edges = edges[edges["relation"].isin(RELATIONS)]
        pairs = pairs[pairs[GENE].isin(index.genes)].dropna()
        term_ids = pairs[TERM].map(lambda t: alt_ids.get(t, t)).to_numpy(dtype=object)
        terms = pd.Index(np.unique(np.concatenate([term_ids, edges["child"], edges["parent"]]).astype(str)))
        num_terms = len(terms)
        child_to_parent = sp.csr_matrix(
            (np.ones(len(edges), np.float32), (terms.get_indexer(edges["child"]), terms.get_indexer(edges["parent"]))),
            shape=(num_terms, num_terms),
        )
        memberships = sp.csr_matrix(
            (np.ones(len(pairs), np.float32), (index.positions(pairs[GENE].to_numpy()), terms.get_indexer(term_ids))),
            shape=(len(index), num_terms),
        )
        closed = propagate_up(memberships, child_to_parent)
        keep = np.flatnonzero(np.asarray(closed.sum(axis=0)).ravel() >= self.min_genes)
        kept = closed[:, keep].tocoo()
        positions = torch.as_tensor(np.vstack([kept.row, kept.col]), dtype=torch.int64)
        x = torch.sparse_coo_tensor(positions, kept.data, kept.shape, dtype=torch.float32, check_invariants=True)
        x = x.coalesce()
        has_data = np.diff(kept.tocsr().indptr) > 0
        return x, terms[keep].tolist(), has_data
