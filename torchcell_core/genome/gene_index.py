"""The gene vocabulary every gene-indexed tensor shares: sorted systematic names → rows.

Gene features ([num_genes, d]), cell graphs (node i = gene i) and training loaders
(perturbed gene indices) all use one `GeneIndex`, so their rows line up.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


class GeneIndex:
    """A fixed, sorted gene vocabulary mapping systematic names to positions 0..n-1."""

    def __init__(self, genes: Sequence[str]) -> None:
        self.genes: list[str] = sorted(set(genes))
        self._sorted = np.asarray(self.genes, dtype=object)

    def __len__(self) -> int:
        return len(self.genes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GeneIndex) and self.genes == other.genes

    def positions(self, genes: Sequence[str] | np.ndarray) -> np.ndarray:
        """Int64 positions of `genes` (vectorised); a KeyError names the first unknown gene."""
        values = np.asarray(genes, dtype=object)
        if values.size == 0:
            return np.empty(0, dtype=np.int64)
        found = np.searchsorted(self._sorted, values).clip(0, max(len(self.genes) - 1, 0))
        hit = self._sorted[found] == values if len(self.genes) else np.zeros(values.shape, dtype=bool)
        if not hit.all():
            raise KeyError(f"gene {values[~hit].flat[0]!r} is not in the gene index ({len(self.genes)} genes)")
        return found.astype(np.int64)

    def unknown(self, genes: Sequence[str]) -> list[str]:
        """The names in `genes` that the index lacks, sorted."""
        known = set(self.genes)
        return sorted({g for g in genes if g not in known})

    @classmethod
    def from_gene_table(cls, path: str | Path) -> GeneIndex:
        """The index of a genome gene table (Parquet with `systematic_name`)."""
        return cls(pq.read_table(path, columns=["systematic_name"]).column(0).to_pylist())

    def to_arrow(self) -> pa.Table:
        return pa.table({"position": pa.array(range(len(self.genes)), pa.int32()), "gene": self.genes})
