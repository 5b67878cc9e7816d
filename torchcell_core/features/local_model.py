"""The extension point in use: vectors a user computed offline (e.g. with a protein language model).

To add a model, subclass and register; nothing is ever downloaded:

    @register
    @dataclass(frozen=True)
    class Esm2Feature(LocalModelFeature):
        name: ClassVar[str] = "esm2"
        path: str = "/models/esm2_t33_650M_yeast.pt"
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from torchcell_core.features.registry import GENE, GeneFeature, register
from torchcell_core.genome.gene_index import GeneIndex

SUPPORTED = {
    ".pt": '{"genes": [names], "x": tensor [n, d]} (a stored torchcell feature works) or {name: tensor [d]}',
    ".npz": 'arrays "genes" [n] and "x" [n, d]',
    ".parquet": "a systematic_name column plus either one list column or numeric columns",
}


def read_embedding_file(path: Path) -> tuple[list[str], np.ndarray]:
    """Gene names [n] and vectors [n, d] from a .pt, .npz or .parquet file (see `SUPPORTED`)."""
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth"):
        content = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(content, dict) and "genes" in content and "x" in content:
            x = content["x"].to_dense() if content["x"].is_sparse else content["x"]
            return list(content["genes"]), x.numpy()
        if isinstance(content, dict) and all(isinstance(v, torch.Tensor) for v in content.values()):
            return list(content), torch.stack([v.flatten() for v in content.values()]).numpy()
        raise ValueError(f"{path}: expected {SUPPORTED['.pt']}")
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            if not {"genes", "x"} <= set(arrays.files):
                raise ValueError(f"{path}: expected {SUPPORTED['.npz']}, found arrays {arrays.files}")
            return arrays["genes"].astype(str).tolist(), arrays["x"]
    if suffix == ".parquet":
        frame = pd.read_parquet(path)
        if GENE not in frame.columns:
            raise ValueError(f"{path}: expected {SUPPORTED['.parquet']}; columns are {list(frame.columns)}")
        values = frame.drop(columns=[GENE])
        if len(values.columns) == 1 and values.iloc[:, 0].dtype == object:
            return frame[GENE].tolist(), np.stack(values.iloc[:, 0].to_numpy())
        return frame[GENE].tolist(), values.to_numpy(dtype=np.float32)
    raise ValueError(f"{path}: unsupported suffix {path.suffix!r}; supported: {SUPPORTED}")


@register
@dataclass(frozen=True)
class LocalModelFeature(GeneFeature):
    """Precomputed gene vectors read from `path`; index genes the file lacks get zero rows
    (`has_data` False), genes the index lacks are ignored. A missing file is an error, never a download."""

    name: ClassVar[str] = "local_model"
    path: str = ""

    def _compute(self, frame: pd.DataFrame, index: GeneIndex) -> tuple[np.ndarray, list[str], np.ndarray]:
        if not self.path:
            raise ValueError(f"{self.name}: set `path` to a local embedding file ({', '.join(SUPPORTED)})")
        path = Path(self.path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"{self.name}: no embedding file at {path}. Compute the vectors offline and save them there "
                f"as one of {SUPPORTED}; torchcell never downloads model weights."
            )
        genes, vectors = read_embedding_file(path)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(genes):
            raise ValueError(f"{path}: {len(genes)} genes but vectors of shape {vectors.shape} (expected [n, d])")
        if not np.isfinite(vectors).all():
            raise ValueError(f"{path}: vectors contain NaN or infinite values")
        repeated = pd.Series(genes).duplicated()
        if repeated.any():
            raise ValueError(f"{path}: gene {genes[int(np.flatnonzero(repeated)[0])]!r} appears twice")
        known = np.isin(np.asarray(genes, dtype=object), index.genes)
        rows = index.positions(np.asarray(genes, dtype=object)[known])
        x = np.zeros((len(index), vectors.shape[1]), dtype=np.float32)
        x[rows] = vectors[known]
        has_data = np.zeros(len(index), dtype=bool)
        has_data[rows] = True
        return x, [f"{self.name}_{i}" for i in range(vectors.shape[1])], has_data
