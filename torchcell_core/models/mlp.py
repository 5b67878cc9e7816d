"""A small reference model: pooled gene vectors of the perturbed genes ⊕ environment → MLP → both targets.

Each gene gets a vector, either a learned embedding or a trainable projection of fixed
`context.gene_features`; the perturbed genes of a sample are summed (or averaged) with one
`index_add_` over `batch.batch`, a one-hot of the genotype size (1, 2 or 3 genes) and the environment
vector are appended, and an MLP maps that to [fitness, interaction]. It knows nothing of the cell graph
or GO, which is the point: it is the neural baseline the graph- and ontology-aware models must beat,
and the model the training package's tests train. Construction is seeded by the caller
(`torch.manual_seed(seed)` before `build_model`).
"""

from __future__ import annotations

import torch
from torch import nn

from torchcell_core.datasets.loader import PerturbationBatch
from torchcell_core.models.base import ModelContext, ModelOutput, PerturbationModel, register_model

POOLINGS = ("sum", "mean")
MAX_GENOTYPE_SIZE = 3  # genotype sizes 1..3 get a one-hot; larger ones share the last slot


class PooledGeneMLP(PerturbationModel):
    """Gene vectors [num_genes, d] pooled over each sample's perturbed genes, then an MLP head.

    Args:
        num_genes: rows of the gene vocabulary.
        env_dim: width E of the environment vector.
        embedding_dim: width d of the gene vectors.
        hidden_dim: width of each hidden layer.
        num_layers: hidden layers of the head (at least 1).
        dropout: dropout after each hidden layer.
        pooling: "sum" or "mean" over the perturbed genes.
        gene_features: optional fixed features [num_genes, f]; when given, gene vectors are a trainable
            linear projection of them (f → d) instead of a free embedding.
    """

    name = "mlp"
    loss = "mse"

    def __init__(
        self,
        num_genes: int,
        env_dim: int,
        embedding_dim: int = 32,
        hidden_dim: int = 64,
        num_layers: int = 2,
        dropout: float = 0.0,
        pooling: str = "sum",
        gene_features: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"mlp: pooling must be one of {POOLINGS}, got {pooling!r}")
        for what, value in (
            ("num_genes", num_genes),
            ("embedding_dim", embedding_dim),
            ("hidden_dim", hidden_dim),
            ("num_layers", num_layers),
        ):
            if int(value) < 1:
                raise ValueError(f"mlp: {what} must be at least 1, got {value}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"mlp: dropout must be in [0, 1), got {dropout}")
        self.num_genes = int(num_genes)
        self.env_dim = int(env_dim)
        self.pooling = pooling
        if gene_features is None:
            self.embedding: nn.Module | None = nn.Embedding(num_genes, embedding_dim)
            self.projection: nn.Module | None = None
            self.register_buffer("gene_features", None)
        else:
            if gene_features.dim() != 2 or gene_features.shape[0] != num_genes:
                raise ValueError(
                    f"mlp: gene_features must be [num_genes={num_genes}, f], got {tuple(gene_features.shape)}"
                )
            self.embedding = None
            self.register_buffer("gene_features", gene_features.detach().to(torch.float32).clone())
            self.projection = nn.Linear(gene_features.shape[1], embedding_dim)
        layers: list[nn.Module] = []
        width = embedding_dim + MAX_GENOTYPE_SIZE + env_dim
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_dim), nn.GELU(), nn.Dropout(dropout)]
            width = hidden_dim
        layers.append(nn.Linear(width, 2))
        self.head = nn.Sequential(*layers)

    def gene_vectors(self, genes: torch.Tensor) -> torch.Tensor:
        """Vectors [P, d] of the gene indices `genes` [P]."""
        if self.embedding is not None:
            return self.embedding(genes)
        return self.projection(self.gene_features[genes])

    def forward(self, batch: PerturbationBatch) -> ModelOutput:
        """Predict both targets for every sample.

        Shapes:
            - **input:** `batch.perturbed` [P] int64 in [0, num_genes), `batch.batch` [P] int64 in [0, B),
              `batch.num_perturbations` [B], `batch.environment` [B, E]
            - **output:** `prediction` [B, 2] (fitness, interaction); no auxiliary loss
        """
        num_samples = int(batch.num_perturbations.shape[0])
        self._check(batch)
        vectors = self.gene_vectors(batch.perturbed)  # [P, d]
        pooled = vectors.new_zeros(num_samples, vectors.shape[1]).index_add_(0, batch.batch, vectors)  # [B, d]
        counts = batch.num_perturbations.to(vectors.dtype).clamp(min=1.0).unsqueeze(1)  # [B, 1]
        if self.pooling == "mean":
            pooled = pooled / counts
        size = (batch.num_perturbations.clamp(1, MAX_GENOTYPE_SIZE) - 1).to(torch.long)
        size_one_hot = nn.functional.one_hot(size, MAX_GENOTYPE_SIZE).to(vectors.dtype)  # [B, 3]
        features = torch.cat([pooled, size_one_hot, batch.environment.to(vectors.dtype)], dim=1)
        return ModelOutput(prediction=self.head(features))

    def _check(self, batch: PerturbationBatch) -> None:
        """A ValueError naming the field when the batch does not fit this model."""
        if batch.environment.dim() != 2 or batch.environment.shape[1] != self.env_dim:
            raise ValueError(f"mlp: environment must be [B, {self.env_dim}], got {tuple(batch.environment.shape)}")
        if batch.perturbed.shape != batch.batch.shape:
            raise ValueError(
                f"mlp: perturbed {tuple(batch.perturbed.shape)} and batch "
                f"{tuple(batch.batch.shape)} must have one entry per perturbation"
            )
        # On CPU only: on a GPU the check would sync every step, and an out-of-range index asserts there anyway.
        genes = batch.perturbed
        if (
            genes.device.type == "cpu"
            and genes.numel()
            and (int(genes.min()) < 0 or int(genes.max()) >= self.num_genes)
        ):
            raise ValueError(
                f"mlp: perturbed gene indices must lie in [0, {self.num_genes}), got "
                f"[{int(genes.min())}, {int(genes.max())}]"
            )


@register_model("mlp", epochs=40)
def build_mlp(
    context: ModelContext,
    embedding_dim: int = 32,
    hidden_dim: int = 64,
    num_layers: int = 2,
    dropout: float = 0.0,
    pooling: str = "sum",
    use_gene_features: bool = True,
) -> PooledGeneMLP:
    """The "mlp" model; uses `context.gene_features` when present and `use_gene_features`, else an embedding."""
    features = context.gene_features if use_gene_features else None
    return PooledGeneMLP(
        context.num_genes,
        context.env_dim,
        embedding_dim=int(embedding_dim),
        hidden_dim=int(hidden_dim),
        num_layers=int(num_layers),
        dropout=float(dropout),
        pooling=pooling,
        gene_features=features,
    )
