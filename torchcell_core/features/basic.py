"""Features that need only the gene index: one-hot identity and a seeded Gaussian random embedding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from torchcell_core.features.registry import GeneFeature, register
from torchcell_core.genome.gene_index import GeneIndex


@register
@dataclass(frozen=True)
class OneHot(GeneFeature):
    """The identity [num_genes, num_genes], returned as a sparse COO float32 tensor (a dense
    identity over 6,399 genes is 164 MB); `x.to_dense()` gives the dense matrix."""

    name: ClassVar[str] = "one_hot"

    def _compute(self, frame: pd.DataFrame, index: GeneIndex) -> tuple[torch.Tensor, list[str], np.ndarray]:
        n = len(index)
        diagonal = torch.arange(n).repeat(2, 1)
        x = torch.sparse_coo_tensor(diagonal, torch.ones(n), (n, n), dtype=torch.float32, check_invariants=True)
        return x.coalesce(), list(index.genes), np.ones(n, dtype=bool)


def seeded_normal(num_genes: int, dim: int, seed: int) -> torch.Tensor:
    """x [num_genes, dim] float32 ~ N(0, 1) from a private generator: the same seed gives the same matrix."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(num_genes, dim, generator=generator, dtype=torch.float32)


@register
@dataclass(frozen=True)
class RandomFeature(GeneFeature):
    """A fixed random embedding: standard normal, reproducible from `seed`; a baseline that
    carries no biology. Row i depends on the number of genes, so compare only on one index."""

    name: ClassVar[str] = "random"
    dim: int = 64  # type: ignore[assignment]
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.dim, int) or self.dim < 1:
            raise ValueError(f"random: dim must be a positive integer, got {self.dim!r}")

    def _compute(self, frame: pd.DataFrame, index: GeneIndex) -> tuple[torch.Tensor, list[str], np.ndarray]:
        x = seeded_normal(len(index), self.dim, self.seed)
        return x, [f"z{i}" for i in range(self.dim)], np.ones(len(index), dtype=bool)
