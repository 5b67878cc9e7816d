"""The contract every perturbation model implements, so one training loop trains them all.

A model maps a `PerturbationBatch` (perturbed gene indices with a PyG-style `batch` vector, the
environment vector) to predictions of both targets, fitness and interaction (ε for two genes, τ for
three), and may add an auxiliary loss (DCell's per-term heads, Dango's reconstruction). Models are
built by name from a `ModelContext` that carries what they may need: the gene count, gene features,
the cell graph, the GO DAG.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from torchcell_core.datasets.loader import PerturbationBatch

TARGETS = ("fitness", "interaction")
LOSSES = ("mse", "logcosh")


@dataclass
class ModelOutput:
    """`prediction` [B, 2] (fitness, interaction); `auxiliary_loss` a scalar added to the main loss, or None."""

    prediction: torch.Tensor
    auxiliary_loss: torch.Tensor | None = None


@dataclass
class ModelContext:
    """What a model may be built from. `gene_features` [num_genes, d] rows in gene-index order;
    `cell_graph` a `torch_geometric.data.HeteroData` over the same genes; `go_dag` a
    `torchcell_core.ontology.dag.GoDag` with `go_gene_sets` {term: gene positions}; `label_means` [2] the
    training fold's mean of each label (a model may start its output biases there)."""

    num_genes: int
    env_dim: int
    gene_names: list[str] = field(default_factory=list)
    gene_features: torch.Tensor | None = None
    cell_graph: Any | None = None
    go_dag: Any | None = None
    go_gene_sets: dict[str, list[int]] | None = None
    label_means: torch.Tensor | None = None

    def need(self, name: str, model: str) -> Any:
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"model {model!r} needs `{name}` in its ModelContext")
        return value


class PerturbationModel(nn.Module, ABC):
    """Base class: `forward(batch) -> ModelOutput`; `loss` names the main loss (`mse` or `logcosh`)."""

    name: ClassVar[str] = ""
    loss: ClassVar[str] = "mse"

    @abstractmethod
    def forward(self, batch: PerturbationBatch) -> ModelOutput: ...

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def masked_loss(prediction: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Mean per-target loss over measured entries, then averaged over the targets measured in the batch.
    prediction, labels: [B, L] float; mask: [B, L] bool. A batch with nothing measured gives 0 (with grad)."""
    if kind not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")
    error = prediction - labels
    if kind == "mse":
        per_entry = error.pow(2)
    else:  # log(cosh(x)) = x + softplus(-2x) - log 2, stable for large |x|
        per_entry = error + nn.functional.softplus(-2.0 * error) - torch.log(torch.tensor(2.0, device=error.device))
    weight = mask.to(per_entry.dtype)
    counts = weight.sum(dim=0)  # [L]
    per_target = (per_entry * weight).sum(dim=0) / counts.clamp(min=1.0)
    measured = (counts > 0).to(per_entry.dtype)
    return (per_target * measured).sum() / measured.sum().clamp(min=1.0)


ModelBuilder = Callable[..., PerturbationModel]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to build it, what it reads besides its dataset and how long it trains by default.
    The assets layer makes one model asset per spec from these fields and nothing else."""

    name: str
    build: ModelBuilder
    graph_set: str = ""  # the cell_graphs set it reads unless a run names another; "" = reads no cell graph
    go: bool = False  # reads the GO DAG (terms, edges, restricted to the dataset's genes)
    epochs: int = 20  # the most a pipeline run trains unless configured; early stopping on validation ends it sooner
    hparams: dict[str, Any] = field(default_factory=dict)  # the pipeline's default hyperparameters


MODELS: dict[str, ModelSpec] = {}


def register_model(
    name: str, *, graph_set: str = "", go: bool = False, epochs: int = 20, hparams: dict[str, Any] | None = None
) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator: `@register_model("dcell", go=True) def build(context: ModelContext, **hparams) -> PerturbationModel`;
    the keywords are the `ModelSpec` fields (what the model reads, its default epochs and hyperparameters)."""

    def add(builder: ModelBuilder) -> ModelBuilder:
        if name in MODELS:
            raise ValueError(f"a model named {name!r} is already registered")
        MODELS[name] = ModelSpec(name, builder, graph_set, go, epochs, dict(hparams or {}))
        return builder

    return add


def model_specs() -> dict[str, ModelSpec]:
    """Every registered model's spec by name (importing the package registers each model module)."""
    import torchcell_core.models  # noqa: F401

    return dict(MODELS)


def build_model(name: str, context: ModelContext, **hparams: Any) -> PerturbationModel:
    """The registered model `name` built from `context` and `hparams` (modules register on import)."""
    import torchcell_core.models  # noqa: F401  (imports every model module, which registers it)

    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name].build(context, **hparams)
