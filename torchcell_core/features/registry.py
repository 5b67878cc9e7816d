"""The gene-feature extension point: a `GeneFeature` base class and a name → class registry.

A new embedding (e.g. a protein language model whose vectors a user computed locally) is one
`@register`ed subclass: a frozen dataclass whose fields are its config and whose `_compute`
fills a [num_genes, dim] matrix in `GeneIndex` order.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from torchcell_core.genome.gene_index import GeneIndex

GENE = "systematic_name"
GeneFrame = pd.DataFrame | pa.Table
Computed = tuple[np.ndarray | torch.Tensor, list[str], np.ndarray]  # x [n, d], columns [d], has_data [n]

# Modules whose import registers the built-in features (imported on first registry use).
BUILTIN_MODULES = (
    "torchcell_core.features.basic",
    "torchcell_core.features.sequence",
    "torchcell_core.features.go_annotation",
    "torchcell_core.features.local_model",
)
BUILTIN_FEATURES = (
    "one_hot",
    "codon_frequency",
    "amino_acid_composition",
    "protein_kmer",
    "random",
    "go_annotation",
)


@dataclass(frozen=True)
class FeatureMatrix:
    """One computed feature: `x` [num_genes, dim] float32 (dense, or sparse COO for one-hot) whose
    rows follow `genes` (GeneIndex order) and columns `columns`; `has_data` [num_genes] bool is
    False for rows the inputs said nothing about (e.g. a tRNA has no CDS): those rows are zero."""

    name: str
    genes: list[str]
    x: torch.Tensor
    columns: list[str]
    config: dict[str, Any]
    has_data: torch.Tensor

    def __post_init__(self) -> None:
        rows, dim = self.x.shape
        if rows != len(self.genes) or dim != len(self.columns) or self.has_data.shape != (rows,):
            raise ValueError(
                f"feature {self.name!r}: x is {tuple(self.x.shape)} but there are {len(self.genes)} genes, "
                f"{len(self.columns)} columns and a has_data mask of shape {tuple(self.has_data.shape)}"
            )


class GeneFeature:
    """Base class of gene features. Subclasses are frozen dataclasses (fields = config) with a
    class attribute `name` and implement `_compute(frame, index) -> (x, columns, has_data)`."""

    name: ClassVar[str] = ""
    # Frame columns `_compute` reads; `matrix` fails clearly when one is missing.
    required_columns: ClassVar[tuple[str, ...]] = ()

    @property
    def dim(self) -> int | None:
        """Columns of the output, or None when they depend on the data (e.g. GO terms kept)."""
        return None

    def config(self) -> dict[str, Any]:
        """The JSON-friendly settings (dataclass fields marked `compare=False` are inputs, not config)."""
        if not dataclasses.is_dataclass(self):
            return {}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.compare}

    def describe(self) -> str:
        """One line for metadata, e.g. `protein_kmer(k=2, alphabet='standard'): 400 dims`."""
        settings = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        dims = f"{self.dim} dims" if self.dim is not None else "data-dependent dims"
        return f"{self.name}({settings}): {dims}"

    def _compute(self, frame: pd.DataFrame, index: GeneIndex) -> Computed:
        """`frame` has one row per index gene, in index order (missing genes: null values, `present`
        False); return x [num_genes, dim], the column names and has_data [num_genes] bool."""
        raise NotImplementedError

    def matrix(self, genes: GeneFrame, index: GeneIndex) -> FeatureMatrix:
        """The feature of every gene of `index`, rows in index order whatever the order of `genes`."""
        frame = align_to_index(genes, index, self.required_columns, self.name)
        x, columns, has_data = self._compute(frame, index)
        x = torch.as_tensor(x, dtype=torch.float32) if not isinstance(x, torch.Tensor) else x.to(torch.float32)
        mask = torch.as_tensor(np.asarray(has_data, dtype=bool))
        return FeatureMatrix(self.name, list(index.genes), x, list(columns), self.config(), mask)

    def compute(self, genes: GeneFrame, index: GeneIndex) -> torch.Tensor:
        """x [num_genes, dim] float32, rows in `index` order."""
        return self.matrix(genes, index).x


def align_to_index(genes: GeneFrame, index: GeneIndex, columns: Sequence[str], feature: str) -> pd.DataFrame:
    """`genes` reordered to one row per index gene (sorted names), with a `present` bool column.

    A gene of the frame missing from the index, a duplicated gene or a missing column is a
    ValueError naming it; index genes absent from the frame get null values and `present` False.
    """
    available = genes.column_names if isinstance(genes, pa.Table) else list(genes.columns)
    missing = [c for c in (GENE, *columns) if c not in available]
    if missing:
        raise ValueError(f"feature {feature!r} needs gene table columns {missing}; the table has {available}")
    wanted = list(dict.fromkeys([GENE, *columns]))
    frame = genes.select(wanted).to_pandas() if isinstance(genes, pa.Table) else genes[wanted]
    names = frame[GENE].to_numpy(dtype=object)
    duplicated = pd.Series(names).duplicated()
    if duplicated.any():
        raise ValueError(f"feature {feature!r}: gene {names[duplicated.to_numpy()][0]!r} appears twice in the table")
    try:
        rows = index.positions(names)
    except KeyError as error:
        raise ValueError(f"feature {feature!r}: {error.args[0]}") from error
    aligned = pd.DataFrame({GENE: index.genes})
    present = np.zeros(len(index), dtype=bool)
    present[rows] = True
    for column in wanted[1:]:
        values = np.full(len(index), None, dtype=object)
        values[rows] = frame[column].to_numpy(dtype=object)
        aligned[column] = values
    aligned["present"] = present
    return aligned


_REGISTRY: dict[str, type[GeneFeature]] = {}
F = TypeVar("F", bound=type[GeneFeature])


def register(cls: F) -> F:
    """Class decorator adding a feature under `cls.name`; a second class with the same name is an error."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no `name` class attribute")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and (existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"feature name {cls.name!r} is taken by {existing.__module__}.{existing.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def feature_names() -> list[str]:
    """Sorted names of every registered feature (built-ins and any registered since)."""
    _load_builtins()
    return sorted(_REGISTRY)


def feature_class(name: str) -> type[GeneFeature]:
    _load_builtins()
    if name not in _REGISTRY:
        raise KeyError(f"unknown gene feature {name!r}; registered: {sorted(_REGISTRY)}")
    return _REGISTRY[name]


def get_feature(name: str, **config: Any) -> GeneFeature:
    """An instance of the feature registered as `name`; an unknown setting is a ValueError naming it."""
    cls = feature_class(name)
    if dataclasses.is_dataclass(cls):
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - allowed)
        if unknown:
            raise ValueError(f"feature {name!r} has no setting {unknown}; its settings are {sorted(allowed)}")
    return cls(**config)
