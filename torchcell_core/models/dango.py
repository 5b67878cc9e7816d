"""Dango (Zhang et al. 2020): per-network GraphSAGE gene encoders, a meta-embedding across networks, and a
hypergraph self-attention head over the perturbed genes, trained with log-cosh loss.

1. Encoders. One two-layer `SAGEConv` encoder per edge type of `context.cell_graph`, all reading one shared
   learnable gene embedding [num_genes, d]. Messages are unweighted means over neighbours (SAGEConv has no
   edge weights); the weights enter through the reconstruction targets.
2. Reconstruction (pretraining, and an auxiliary loss while fine-tuning). A linear decoder per network maps
   a gene's embedding to its adjacency row [num_genes]. Targets are the network's weights divided by its
   largest |weight| (STRING scores and BioGRID counts land on one scale), gathered for a few rows at a time
   from a CSR copy of the graph, so 6,399 genes x ~10 networks never build a dense adjacency. The loss is
   Dango's weighted MSE: mean over entries of weight * error^2, weight 1 on edges and lambda on zeros.
   Dango set lambda = 0.1 for networks whose zeros are unreliable (STRING co-expression, where >1% of v9.1's
   zeros became edges in v11); here a network gets `zero_weight` (default 0.1) when its density
   (stored edges / num_genes^2) exceeds `dense_threshold`, else 1; `zero_weights` overrides per relation.
3. Meta-embedding. Per gene, softmax over networks of MLP(E_k) weights its network embeddings E_k into one
   static gene embedding.
4. Hypergraph self-attention (Hyper-SAGNN). For each sample's set of 1-3 perturbed genes, padded to [B, M, d]
   with a padding mask: static s = tanh(W x); dynamic d from ReZero multi-head self-attention layers in which a
   gene attends to the other genes of its set (to itself only in a 1-gene set); per-gene score
   FC([(d - s)^2, environment]), averaged over the set, is the interaction. Fitness: a small MLP on the
   set-mean of d and the environment.

Construction draws from torch's global RNG: call `torch.manual_seed` before `build_model("dango", ...)` for
reproducible weights. `pretrain` samples rows from its own seeded generator.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import SAGEConv
from torch_geometric.utils import to_dense_batch

from torchcell_core.datasets.loader import PerturbationBatch
from torchcell_core.models.base import ModelContext, ModelOutput, PerturbationModel, register_model

NODE_TYPE = "gene"


def adjacency_rows(
    rowptr: torch.Tensor, col: torch.Tensor, value: torch.Tensor, rows: torch.Tensor, num_cols: int
) -> torch.Tensor:
    """Dense rows of a CSR matrix, gathered without a loop.

    Shapes: rowptr [N + 1], col [E], value [E] (edges sorted by row), rows [R] -> [R, num_cols].
    """
    start = rowptr[rows]
    count = rowptr[rows + 1] - start
    owner = torch.repeat_interleave(torch.arange(rows.numel(), device=rows.device), count)  # [S]
    shift = torch.repeat_interleave(start - (count.cumsum(0) - count), count)  # edge id - position in output
    edge = torch.arange(owner.numel(), device=rows.device) + shift
    dense = value.new_zeros(rows.numel(), num_cols)
    dense[owner, col[edge]] = value[edge]
    return dense


def _check_cell_graph(cell_graph, num_genes: int) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(relation, edge_index [2, E] int64, edge_weight [E] float32) of each gene-gene edge type, validated."""
    edge_types = list(getattr(cell_graph, "edge_types", None) or [])
    if not edge_types:
        raise ValueError("model 'dango': cell_graph has no edge types; it needs at least one gene network")
    graph_genes = cell_graph[NODE_TYPE].num_nodes if NODE_TYPE in cell_graph.node_types else None
    if graph_genes != num_genes:
        raise ValueError(f"model 'dango': cell_graph has {graph_genes} '{NODE_TYPE}' nodes, context has {num_genes}")
    networks = []
    for edge_type in edge_types:
        source, relation, target = edge_type
        if source != NODE_TYPE or target != NODE_TYPE:
            raise ValueError(f"model 'dango': edge type {edge_type} is not gene-gene")
        store = cell_graph[edge_type]
        edge_index = store.edge_index.to(torch.int64)
        if edge_index.dim() != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"model 'dango': {relation} edge_index has shape {tuple(edge_index.shape)}, not [2, E]")
        if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= num_genes):
            raise ValueError(f"model 'dango': {relation} edge_index names genes outside 0..{num_genes - 1}")
        weight = getattr(store, "edge_weight", None)
        weight = torch.ones(edge_index.shape[1]) if weight is None else weight.to(torch.float32)
        if weight.shape != (edge_index.shape[1],) or not torch.isfinite(weight).all():
            raise ValueError(f"model 'dango': {relation} edge_weight must be [E] finite values")
        networks.append((relation, edge_index, weight))
    return networks


class NetworkEncoder(nn.Module):
    """Two SAGEConv layers with a ReLU between. Shapes: x [N, d], edge_index [2, E] -> [N, d]."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.first = SAGEConv(dim, dim)
        self.second = SAGEConv(dim, dim)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.second(F.relu(self.first(x, edge_index)), edge_index)


class MetaEmbedding(nn.Module):
    """Per-gene softmax over networks of MLP(E_k) weights E_k. Shapes: [K, G, d] -> [G, d]."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 1))

    def forward(self, per_network: torch.Tensor) -> torch.Tensor:
        attention = torch.softmax(self.score(per_network), dim=0)  # [K, G, 1]
        return (attention * per_network).sum(dim=0)


class SetSelfAttention(nn.Module):
    """One ReZero multi-head self-attention layer over padded gene sets: x + beta * tanh(attention(x)).

    Shapes: x [B, M, d], allowed [B, M, M] bool (query i may attend to key j) -> [B, M, d].
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"model 'dango': embedding_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim)
        self.rezero = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        b, m, d = x.shape
        q, k, v = self.qkv(x).view(b, m, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None])  # [B, H, M, d/H]
        attended = attended.transpose(1, 2).reshape(b, m, d)
        return x + self.rezero * torch.tanh(self.out(attended))


def attention_mask(valid: torch.Tensor) -> torch.Tensor:
    """Which key each query may attend to: real genes of its set other than itself (itself in a 1-gene set).

    Shapes: valid [B, M] bool -> [B, M, M] bool. Every query row keeps at least one key, so no NaN.
    """
    m = valid.shape[1]
    allowed = valid[:, None, :].expand(-1, m, -1)
    self_loop = torch.eye(m, dtype=torch.bool, device=valid.device)
    several = (valid.sum(dim=1) > 1)[:, None, None]
    return allowed & ~(self_loop & several)


class Dango(PerturbationModel):
    """Dango over the networks of `context.cell_graph`; see the module docstring for the parts.

    Hyperparameters: `embedding_dim` d; `num_heads`, `num_attention_layers` of the set attention;
    `dense_threshold`, `zero_weight`, `zero_weights` {relation: lambda} choose the weight of zero entries in
    reconstruction; `reconstruction_weight` scales the auxiliary reconstruction loss added in training mode
    (0 turns it off), computed on the rows of the batch's perturbed genes.
    """

    name = "dango"
    loss = "logcosh"

    def __init__(
        self,
        context: ModelContext,
        *,
        embedding_dim: int = 64,
        num_heads: int = 4,
        num_attention_layers: int = 2,
        dense_threshold: float = 0.01,
        zero_weight: float = 0.1,
        zero_weights: Mapping[str, float] | None = None,
        reconstruction_weight: float = 0.01,
    ) -> None:
        super().__init__()
        cell_graph = context.need("cell_graph", self.name)
        if embedding_dim < 1 or num_heads < 1 or num_attention_layers < 1:
            raise ValueError("model 'dango': embedding_dim, num_heads and num_attention_layers must be >= 1")
        if reconstruction_weight < 0:
            raise ValueError(f"model 'dango': reconstruction_weight must be >= 0, got {reconstruction_weight}")
        networks = _check_cell_graph(cell_graph, context.num_genes)
        self.num_genes, self.env_dim = context.num_genes, context.env_dim
        self.relations = [relation for relation, _, _ in networks]
        self.zero_weights = self._zero_weights(networks, dense_threshold, zero_weight, dict(zero_weights or {}))
        self.reconstruction_weight = reconstruction_weight
        for i, (_, edge_index, weight) in enumerate(networks):
            self._register_network(i, edge_index, weight)

        dim = embedding_dim
        self.gene_embedding = nn.Embedding(self.num_genes, dim)
        self.encoders = nn.ModuleList(NetworkEncoder(dim) for _ in networks)
        self.decoders = nn.ModuleList(nn.Linear(dim, self.num_genes) for _ in networks)
        self.meta_embedding = MetaEmbedding(dim)
        self.static = nn.Linear(dim, dim)
        self.attention = nn.ModuleList(SetSelfAttention(dim, num_heads) for _ in range(num_attention_layers))
        self.interaction_head = nn.Linear(dim + self.env_dim, 1)
        self.fitness_head = nn.Sequential(nn.Linear(dim + self.env_dim, dim), nn.ReLU(), nn.Linear(dim, 1))

    def _zero_weights(self, networks, threshold: float, zero_weight: float, overrides: dict[str, float]) -> list[float]:
        unknown = sorted(set(overrides) - set(self.relations))
        if unknown:
            raise ValueError(f"model 'dango': zero_weights names relations not in the cell graph: {unknown}")
        weights = []
        for relation, edge_index, _ in networks:
            density = edge_index.shape[1] / float(self.num_genes) ** 2
            weights.append(float(overrides.get(relation, zero_weight if density > threshold else 1.0)))
        if any(not 0.0 <= w <= 1.0 for w in weights):
            raise ValueError(
                f"model 'dango': zero weights must lie in [0, 1], got {dict(zip(self.relations, weights, strict=True))}"
            )
        return weights

    def _register_network(self, i: int, edge_index: torch.Tensor, weight: torch.Tensor) -> None:
        """Buffers (moved by `.to`, left out of checkpoints): edge_index, and the row-sorted CSR of targets."""
        order = torch.argsort(edge_index[0] * self.num_genes + edge_index[1])
        source, target = edge_index[0, order], edge_index[1, order]
        scale = weight.abs().max() if weight.numel() else torch.tensor(1.0)
        rowptr = torch.zeros(self.num_genes + 1, dtype=torch.int64)
        rowptr[1:] = torch.bincount(source, minlength=self.num_genes).cumsum(0)
        self.register_buffer(f"edge_index_{i}", edge_index, persistent=False)
        self.register_buffer(f"rowptr_{i}", rowptr, persistent=False)
        self.register_buffer(f"col_{i}", target, persistent=False)
        self.register_buffer(f"target_{i}", weight[order] / scale.clamp(min=1e-12), persistent=False)

    def network_embeddings(self) -> torch.Tensor:
        """Every gene's embedding from every network's encoder. Shapes: -> [K, num_genes, d]."""
        x = self.gene_embedding.weight
        return torch.stack([encoder(x, getattr(self, f"edge_index_{i}")) for i, encoder in enumerate(self.encoders)])

    def reconstruction_loss(
        self, rows: torch.Tensor | None = None, embeddings: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean over networks of the zero-down-weighted MSE of reconstructing adjacency rows `rows`.

        Shapes: rows [R] int64 gene indices (default: all genes; use a few hundred for the full genome),
        embeddings [K, num_genes, d] (default: computed) -> scalar.
        """
        device = self.gene_embedding.weight.device
        rows = torch.arange(self.num_genes, device=device) if rows is None else rows.to(device)
        embeddings = self.network_embeddings() if embeddings is None else embeddings
        losses = []
        for i, decoder in enumerate(self.decoders):
            predicted = decoder(embeddings[i, rows])  # [R, num_genes]
            target = adjacency_rows(
                getattr(self, f"rowptr_{i}"),
                getattr(self, f"col_{i}"),
                getattr(self, f"target_{i}"),
                rows,
                self.num_genes,
            )
            weight = torch.where(target != 0, 1.0, self.zero_weights[i])
            losses.append((weight * (predicted - target).pow(2)).mean())
        return torch.stack(losses).mean()

    def forward(self, batch: PerturbationBatch) -> ModelOutput:
        """Predict fitness and interaction for each sample's set of perturbed genes.

        Shapes: batch.perturbed [P], batch.batch [P], batch.environment [B, E] ->
        prediction [B, 2] (fitness, interaction); auxiliary_loss scalar in training mode, else None.
        """
        self._check_batch(batch)
        size = len(batch)
        embeddings = self.network_embeddings()  # [K, N, d]
        genes = self.meta_embedding(embeddings[:, batch.perturbed])  # [P, d]
        x, valid = to_dense_batch(genes, batch.batch, batch_size=size)  # [B, M, d], [B, M]
        static = torch.tanh(self.static(x))
        dynamic, allowed = x, attention_mask(valid)
        for layer in self.attention:
            dynamic = layer(dynamic, allowed)
        counts = valid.sum(dim=1, keepdim=True).to(x.dtype)  # [B, 1]
        environment = batch.environment.to(x.dtype)
        per_gene_env = environment[:, None, :].expand(-1, x.shape[1], -1)  # [B, M, E]
        scores = self.interaction_head(torch.cat([(dynamic - static).pow(2), per_gene_env], dim=-1)).squeeze(-1)
        interaction = (scores * valid).sum(dim=1) / counts.squeeze(1)  # [B]
        pooled = (dynamic * valid[..., None]).sum(dim=1) / counts  # [B, d]
        fitness = self.fitness_head(torch.cat([pooled, environment], dim=-1)).squeeze(-1)  # [B]
        auxiliary = None
        if self.training and self.reconstruction_weight > 0:
            rows = torch.unique(batch.perturbed)
            auxiliary = self.reconstruction_weight * self.reconstruction_loss(rows, embeddings)
        return ModelOutput(prediction=torch.stack([fitness, interaction], dim=1), auxiliary_loss=auxiliary)

    def _check_batch(self, batch: PerturbationBatch) -> None:
        """Clear errors for batches the model cannot read (one host sync for all the value checks)."""
        size = len(batch)
        if size == 0:
            raise ValueError("model 'dango': the batch has no samples")
        if batch.environment.shape != (size, self.env_dim):
            raise ValueError(
                f"model 'dango': environment has shape {tuple(batch.environment.shape)}, "
                f"expected [{size}, {self.env_dim}]"
            )
        if batch.perturbed.shape != batch.batch.shape or batch.perturbed.dim() != 1:
            raise ValueError("model 'dango': perturbed and batch must be [P] tensors of equal length")
        counts = torch.bincount(batch.batch.clamp(0, size - 1), minlength=size)
        problems = torch.stack(
            [
                ((batch.perturbed < 0) | (batch.perturbed >= self.num_genes)).any(),
                ((batch.batch < 0) | (batch.batch >= size)).any(),
                (batch.batch[1:] < batch.batch[:-1]).any(),
                (counts == 0).any(),
            ]
        ).tolist()
        messages = [
            f"perturbed gene indices must lie in 0..{self.num_genes - 1}",
            f"batch positions must lie in 0..{size - 1}",
            "batch must be sorted (PyG style: each sample's perturbations contiguous)",
            "every sample needs at least one perturbed gene",
        ]
        for problem, message in zip(problems, messages, strict=True):
            if problem:
                raise ValueError(f"model 'dango': {message}")


def pretrain(model: Dango, steps: int = 1000, lr: float = 1e-3, rows_per_step: int = 256, seed: int = 0) -> list[float]:
    """Train the gene embedding, encoders and decoders on reconstruction alone (Adam); returns each step's loss.

    Each step reconstructs `rows_per_step` rows drawn without replacement by a generator seeded with `seed`
    (all rows when the graph has fewer genes). The heads are left untouched.
    """
    if steps < 0 or lr <= 0 or rows_per_step < 1:
        raise ValueError(f"pretrain: need steps >= 0, lr > 0, rows_per_step >= 1; got {steps}, {lr}, {rows_per_step}")
    parameters = [*model.gene_embedding.parameters(), *model.encoders.parameters(), *model.decoders.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.train()
    losses = []
    for _ in range(steps):
        rows = torch.randperm(model.num_genes, generator=generator)[:rows_per_step]
        optimizer.zero_grad()
        loss = model.reconstruction_loss(rows)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    model.train(was_training)
    return losses


@register_model("dango", graph_set="string9.1", epochs=30)
def build_dango(context: ModelContext, **hparams) -> Dango:
    """Dango over `context.cell_graph`; `hparams` are `Dango`'s keyword arguments."""
    return Dango(context, **hparams)
