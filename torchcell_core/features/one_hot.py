"""One-hot gene features and the sum-over-perturbed-genes encoding of a genotype."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from torchcell_core.genome.gene_index import GeneIndex

__all__ = ["GeneIndex", "one_hot_genotypes"]


def one_hot_genotypes(index: GeneIndex, *gene_columns: Sequence[str]) -> sp.csr_matrix:
    """Sparse [num_genotypes, num_genes] matrix: 1 for each perturbed gene (sum of one-hots)."""
    n = len(gene_columns[0])
    rows = np.tile(np.arange(n), len(gene_columns))
    cols = np.concatenate([index.positions(list(col)) for col in gene_columns])
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(n, len(index)))
