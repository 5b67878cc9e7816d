"""Feature files: `torch.save` of {name, genes, x [n, d], columns, config, has_data}, and the reader.

Mostly-zero matrices (one-hot, GO) are stored as sparse COO; `load_gene_feature` densifies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from torchcell_core.errors import SourceFormatError
from torchcell_core.features.registry import FeatureMatrix

KEYS = ("name", "genes", "x", "columns", "config", "has_data")
SPARSE_BELOW = 0.1  # store x sparse when fewer than this fraction of its entries are non-zero


def nonzero_fraction(x: torch.Tensor) -> float:
    """Fraction of non-zero entries of a dense or sparse COO x [n, d]."""
    if x.numel() == 0:
        return 0.0
    nonzero = int((x.coalesce().values() != 0).sum()) if x.is_sparse else int(torch.count_nonzero(x))
    return nonzero / x.numel()


def save_gene_feature(matrix: FeatureMatrix, path: str | Path) -> Path:
    """Write one feature to `path` (parents created); the bytes depend only on the content and the
    file name (torch names the archive's root folder after it), so a digest makes a data version."""
    x = matrix.x
    if not x.is_sparse and nonzero_fraction(x) < SPARSE_BELOW:
        x = x.to_sparse()
    document: dict[str, Any] = {
        "name": matrix.name,
        "genes": list(matrix.genes),
        "x": x.coalesce() if x.is_sparse else x.contiguous(),
        "columns": list(matrix.columns),
        "config": dict(matrix.config),
        "has_data": matrix.has_data,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(document, path)
    return path


def read_feature_file(path: str | Path) -> FeatureMatrix:
    """The stored feature, validated: every key present, genes sorted and unique (GeneIndex order),
    shapes consistent. A SourceFormatError names the file and the offending key."""
    path = Path(path)
    try:
        document = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged zip or pickle
        raise SourceFormatError(path, f"not a torch feature file: {error}") from error
    if not isinstance(document, dict):
        raise SourceFormatError(path, f"expected a dict with keys {KEYS}, got {type(document).__name__}")
    for key in KEYS:
        if key not in document:
            raise SourceFormatError(path, "missing key", column=key)
    genes = list(document["genes"])
    if genes != sorted(set(genes)):
        raise SourceFormatError(path, "genes are not sorted and unique (GeneIndex order)", column="genes")
    try:
        return FeatureMatrix(
            str(document["name"]),
            genes,
            document["x"],
            list(document["columns"]),
            dict(document["config"]),
            torch.as_tensor(document["has_data"], dtype=torch.bool),
        )
    except (ValueError, AttributeError) as error:
        raise SourceFormatError(path, str(error), column="x") from error


def load_gene_feature(path: str | Path, dense: bool = True) -> tuple[list[str], torch.Tensor]:
    """(genes in GeneIndex order, x [num_genes, dim] float32); `dense=False` keeps a sparse x sparse."""
    matrix = read_feature_file(path)
    x = matrix.x.to_dense() if dense and matrix.x.is_sparse else matrix.x
    return matrix.genes, x
