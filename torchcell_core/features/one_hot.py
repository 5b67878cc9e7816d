"""One-hot gene features and the sum-over-perturbed-genes encoding of a genotype."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp


class GeneIndex:
    """A fixed, sorted gene vocabulary mapping systematic names to columns."""

    def __init__(self, genes: Sequence[str]) -> None:
        self.genes: list[str] = sorted(set(genes))
        self._position = {g: i for i, g in enumerate(self.genes)}

    def __len__(self) -> int:
        return len(self.genes)

    def positions(self, genes: Sequence[str]) -> np.ndarray:
        try:
            return np.fromiter((self._position[g] for g in genes), dtype=np.int64, count=len(genes))
        except KeyError as missing:
            raise KeyError(f"gene {missing.args[0]!r} is not in the gene index") from None


def one_hot_genotypes(index: GeneIndex, *gene_columns: Sequence[str]) -> sp.csr_matrix:
    """Sparse [num_genotypes, num_genes] matrix: 1 for each perturbed gene (sum of one-hots)."""
    n = len(gene_columns[0])
    rows = np.tile(np.arange(n), len(gene_columns))
    cols = np.concatenate([index.positions(list(col)) for col in gene_columns])
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(n, len(index)))
