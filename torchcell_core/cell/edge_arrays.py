"""Edge tables from the knowledge graph -> PyG edge arrays over a `GeneIndex`, vectorised with numpy.

Every drop is counted in the edge type's stats, never silent: rows naming a gene outside the
index (with up to ten example names), self loops, and duplicates merged into one edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from torchcell_core.genome.gene_index import GeneIndex

MAX_EXAMPLES = 10
DEFAULT_MAX_TERM_GENES = 30


@dataclass
class EdgeArrays:
    """One edge type: `edge_index` [2, E] int64 (source row 0, target row 1), `edge_weight` [E] float32."""

    edge_index: np.ndarray
    edge_weight: np.ndarray
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])


def _column(values: pa.ChunkedArray | pa.Array, kind: pa.DataType | None = None) -> pa.ChunkedArray | pa.Array:
    return values.cast(kind or pa.string())  # an empty query result may come back with a null-typed column


def positions(genes: pa.ChunkedArray | pa.Array, gene_index: GeneIndex) -> np.ndarray:
    """Int64 position of each gene name in the index, -1 for a name the index lacks (or a null)."""
    found = pc.index_in(_column(genes), value_set=pa.array(gene_index.genes, pa.string()))
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _weights(values: pa.ChunkedArray | pa.Array, what: str) -> np.ndarray:
    weights = np.asarray(_column(values, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    bad = ~np.isfinite(weights)
    if bad.any():
        raise ValueError(f"{what}: {int(bad.sum())} edges have a missing or non-finite weight")
    return weights


def _drop_outside(names: list[pa.ChunkedArray], codes: list[np.ndarray], stats: dict[str, Any]) -> np.ndarray:
    """Mask of rows whose genes are all in the index; counts the dropped rows and the genes behind them."""
    keep = np.logical_and.reduce([code >= 0 for code in codes]) if codes else np.zeros(0, dtype=bool)
    outside: set[str] = set()
    for column, code in zip(names, codes, strict=True):
        missing = np.flatnonzero(code < 0)
        if len(missing):
            outside.update(str(name) for name in column.take(pa.array(missing)).to_pylist())
    stats["rows_outside_index_dropped"] = int((~keep).sum())
    stats["genes_outside_index"] = len(outside)
    stats["genes_outside_index_examples"] = sorted(outside)[:MAX_EXAMPLES]
    return keep


def _first_per_key(keys: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Positions (into `order`) of the first row of each run of equal `keys[order]`."""
    ordered = keys[order]
    return np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]])) if len(ordered) else order[:0]


def _both_directions(lo: np.ndarray, hi: np.ndarray, weight: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each pair as (lo, hi) and (hi, lo), sorted by (source, target) of genes 0..n-1."""
    source, target = np.concatenate([lo, hi]), np.concatenate([hi, lo])
    order = np.argsort(source * n + target)
    edge_index = np.stack([source[order], target[order]]).astype(np.int64)
    return edge_index, np.concatenate([weight, weight])[order].astype(np.float32)


def undirected_edges(
    gene_a: pa.ChunkedArray, gene_b: pa.ChunkedArray, weight: pa.ChunkedArray, gene_index: GeneIndex, what: str
) -> EdgeArrays:
    """Each unordered pair once (duplicates keep the largest weight), self loops dropped, stored in both
    directions sorted by (source, target): E = 2 x unique pairs."""
    stats: dict[str, Any] = {"rows": len(gene_a)}
    a, b, w = positions(gene_a, gene_index), positions(gene_b, gene_index), _weights(weight, what)
    keep = _drop_outside([gene_a, gene_b], [a, b], stats)
    a, b, w = a[keep], b[keep], w[keep]
    loops = a == b
    stats["self_loops_dropped"] = int(loops.sum())
    a, b, w = a[~loops], b[~loops], w[~loops]
    n = max(len(gene_index), 1)
    keys = np.minimum(a, b) * n + np.maximum(a, b)
    order = np.argsort(keys)
    starts = _first_per_key(keys, order)
    pairs = keys[order[starts]]
    largest = np.maximum.reduceat(w[order], starts) if len(starts) else w[:0]
    stats["duplicates_merged"] = int(len(keys) - len(pairs))
    edge_index, edge_weight = _both_directions(pairs // n, pairs % n, largest, n)
    stats["edges"] = int(edge_index.shape[1])
    return EdgeArrays(edge_index, edge_weight, stats)


def directed_edges(
    source: pa.ChunkedArray, target: pa.ChunkedArray, weight: pa.ChunkedArray, gene_index: GeneIndex, what: str
) -> EdgeArrays:
    """Each (source, target) once, the weights of its records summed (e.g. a pair that is both activator and
    repressor); self loops kept (autoregulation is real) and counted; sorted by (source, target)."""
    stats: dict[str, Any] = {"rows": len(source)}
    s, t, w = positions(source, gene_index), positions(target, gene_index), _weights(weight, what)
    keep = _drop_outside([source, target], [s, t], stats)
    s, t, w = s[keep], t[keep], w[keep]
    stats["self_loops_kept"] = int((s == t).sum())
    keys = s * max(len(gene_index), 1) + t
    order = np.argsort(keys)
    starts = _first_per_key(keys, order)
    first = order[starts]
    summed = np.add.reduceat(w[order], starts) if len(starts) else w[:0]
    stats["duplicates_merged"] = int(len(keys) - len(first))
    edge_index = np.stack([s[first], t[first]]).astype(np.int64).reshape(2, -1)
    stats["edges"] = int(edge_index.shape[1])
    return EdgeArrays(edge_index, summed.astype(np.float32), stats)


def check_max_term_genes(max_term_genes: int) -> int:
    """`max_term_genes` as an int >= 2 (a term with fewer genes links no pair); a ValueError says otherwise."""
    if isinstance(max_term_genes, bool) or not isinstance(max_term_genes, int | np.integer) or max_term_genes < 2:
        raise ValueError(f"max_term_genes must be an integer >= 2, not {max_term_genes!r}")
    return int(max_term_genes)


def go_coannotation_edges(
    genes: pa.ChunkedArray, terms: pa.ChunkedArray, gene_index: GeneIndex, max_term_genes: int = DEFAULT_MAX_TERM_GENES
) -> EdgeArrays:
    """Genes sharing a specific GO term (one with 2..`max_term_genes` annotated genes of the index), both
    directions; weight = the number of such terms the pair shares. Larger terms are skipped (else dense)."""
    limit = check_max_term_genes(max_term_genes)
    stats: dict[str, Any] = {"rows": len(genes), "max_term_genes": limit}
    position = positions(genes, gene_index)
    keep = _drop_outside([genes], [position], stats)
    term_names = np.asarray(_column(terms).to_numpy(zero_copy_only=False), dtype=object)[keep]
    _, term_codes = np.unique(term_names.astype(str), return_inverse=True)
    n = max(len(gene_index), 1)
    annotations = np.unique(term_codes.astype(np.int64) * n + position[keep])  # sorted by term, then gene
    term_of, gene_of = annotations // n, annotations % n
    sizes = np.bincount(term_of) if len(term_of) else np.zeros(0, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if len(sizes) else sizes
    used = (sizes >= 2) & (sizes <= limit)
    stats |= {"terms": int((sizes > 0).sum()), "terms_used": int(used.sum())}
    stats["terms_too_large"] = int((sizes > limit).sum())
    lo_parts, hi_parts = [], []
    for size in np.unique(sizes[used]):
        members = gene_of[starts[used & (sizes == size)][:, None] + np.arange(size)]  # [terms of this size, size]
        rows, cols = np.triu_indices(int(size), k=1)
        lo_parts.append(members[:, rows].ravel())
        hi_parts.append(members[:, cols].ravel())
    lo = np.concatenate(lo_parts) if lo_parts else np.zeros(0, dtype=np.int64)
    hi = np.concatenate(hi_parts) if hi_parts else np.zeros(0, dtype=np.int64)
    pairs, shared = np.unique(lo * n + hi, return_counts=True)
    stats["duplicates_merged"] = int(len(lo) - len(pairs))
    edge_index, edge_weight = _both_directions(pairs // n, pairs % n, shared.astype(np.float64), n)
    stats["edges"] = int(edge_index.shape[1])
    return EdgeArrays(edge_index, edge_weight, stats)
