"""Heterogeneous GNN over the cell graph with two multi-task heads: a set head over the perturbed genes'
embeddings and an exact perturbation-operator head (wild-type minus perturbed whole-cell embedding).

Encoder: node inputs (projected `gene_features`, else a learned embedding) → k layers, each running one
`GATv2Conv` per edge type (edge weight as a 1-d edge attribute), mixing the edge types by learned softmax
weights, then `h = LayerNorm(h + GELU(mix))`. Every step is local to a node and its in-edges (no batch
norm, no global pooling inside the encoder), which is what makes the operator head's shortcut exact.

Operator head, exact rule. Let R be a sample's removed genes and D_l the nodes (not in R) reachable from R
by at most l edges followed source → target in the union of the edge types. Removing R can only change a
node's layer-l embedding if it lies in D_l (induction: layer l at node v reads layer l−1 at v and at its
in-neighbours). So layer l is recomputed for the targets D_l only, reading layer l−1 on D_l ∪ N_in(D_l) \\ R:
the recomputed values where a node lies in D_{l−1}, the wild-type values everywhere else (those are
unchanged). After k layers, nodes outside D_k ∪ R are unchanged, so
    perturbed_sum = wt_sum − Σ_{v ∈ D_k ∪ R} h_wt[v] + Σ_{v ∈ D_k} h_new[v].
The D_l of all samples of a batch are one disjoint graph (nodes keyed sample · num_genes + gene, like PyG's
`Batch` offsets), built with CSR gathers and run once per layer: no loop over samples. The wild-type pass
runs once per forward. `bench/hetero_gnn_naive.py` checks this against a full pass per sample.

Prediction [B, 2] (fitness, interaction) = set head + operator head: each head predicts both targets and
the two are summed, so both targets are trained together (multi-task) from both views. Parameters are
drawn from torch's global RNG at construction: call `torch.manual_seed` first for a reproducible model.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.nn import GATv2Conv
from torch_geometric.utils import scatter

from torchcell_core.cell.graph_sets import NODE_TYPE
from torchcell_core.datasets.loader import PerturbationBatch
from torchcell_core.models.base import ModelContext, ModelOutput, PerturbationModel, register_model

EdgeList = list[tuple[Tensor, Tensor]]  # per edge type: (edge_index [2, E] int64, edge_weight [E] float)
# Evaluation memory (`HeteroGNN.eval_memory`), in float32 rows of hidden width, fitted to the peak RSS of
# forward passes without gradients on CPU (bench/model_memory.py; 6,000 genes, 1, 3 and 6 edge types):
EDGE_ROWS = 2.0  # per edge of every edge type of a layer (the gathered inputs, the mixed outputs)
LARGEST_TYPE_EDGE_ROWS = 3.5  # per edge of the largest type (GATv2's per-edge tensors: one type at a time)
NODE_ROWS = 1.0  # per node a layer reads (targets and boundary)
MASK_BYTES = 16  # per (sample, gene) key: the dense masks and the key → row map of the disjoint batch graph


def csr_pointer(sorted_index: Tensor, num_nodes: int) -> Tensor:
    """[num_nodes + 1] int64 offsets of each node's run in `sorted_index` [E] (sorted ascending)."""
    counts = torch.bincount(sorted_index, minlength=num_nodes)
    return torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])


def expand_csr(pointer: Tensor, nodes: Tensor) -> tuple[Tensor, Tensor]:
    """Every CSR entry of every node in `nodes` [M]: `owner` [Q] (position in `nodes`), `entry` [Q]."""
    starts = pointer[nodes]
    counts = pointer[nodes + 1] - starts
    owner = torch.repeat_interleave(torch.arange(nodes.numel(), device=nodes.device), counts)
    first_of_owner = torch.cumsum(counts, 0) - counts
    entry = starts[owner] + torch.arange(owner.numel(), device=nodes.device) - first_of_owner[owner]
    return owner, entry


def symlog(x: Tensor) -> Tensor:
    """sign(x) · log(1 + |x|): keeps the size of a whole-cell difference without letting it explode."""
    return torch.sign(x) * torch.log1p(x.abs())


def mlp(in_dim: int, hidden: int, out_dim: int, dropout: float) -> nn.Sequential:
    """A two-layer head: [*, in_dim] → [*, out_dim]."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim))


class HeteroGNN(PerturbationModel):
    """GATv2 per edge type, learned edge-type mixing, a set head and an exact k-hop operator head.

    `edges`: per edge type (edge_index [2, E] int64 source → target, edge_weight [E]); `gene_features`
    [num_genes, F] or None for a learned embedding [num_genes, hidden]; `operator_chunk`: samples per
    operator-head recompute pass (None: the whole batch at once). Chunks bound peak memory without
    gradients (inference, the bench); when training, autograd keeps every chunk's recompute graph anyway.
    """

    name = "hetero_gnn"
    loss = "mse"

    def __init__(
        self,
        num_genes: int,
        env_dim: int,
        relations: list[str],
        edges: EdgeList,
        gene_features: Tensor | None = None,
        hidden: int = 64,
        num_layers: int = 2,
        heads: int = 2,
        head_hidden: int = 64,
        dropout: float = 0.0,
        operator_chunk: int | None = None,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        if not edges or len(edges) != len(relations):
            raise ValueError(f"need one edge list per relation, got {len(edges)} for relations {relations}")
        if operator_chunk is not None and operator_chunk < 1:
            raise ValueError(f"operator_chunk must be at least 1 or None, got {operator_chunk}")
        self.num_genes, self.env_dim, self.hidden, self.num_layers = num_genes, env_dim, hidden, num_layers
        self.relations, self.operator_chunk = list(relations), operator_chunk
        sources, targets = [], []
        for t, (edge_index, edge_weight) in enumerate(edges):
            order = torch.argsort(edge_index[1], stable=True)  # target-sorted: in-edges of a node are one run
            edge_index = edge_index[:, order]
            self.register_buffer(f"edge_index_{t}", edge_index)
            self.register_buffer(f"edge_weight_{t}", edge_weight[order].to(torch.float32))
            self.register_buffer(f"in_pointer_{t}", csr_pointer(edge_index[1], num_genes))
            sources.append(edge_index[0])
            targets.append(edge_index[1])
        source, target = torch.cat(sources), torch.cat(targets)
        order = torch.argsort(source, stable=True)  # the union graph by source, to walk downstream from R
        self.register_buffer("out_target", target[order])
        self.register_buffer("out_pointer", csr_pointer(source[order], num_genes))

        if gene_features is not None:
            self.register_buffer("gene_features", gene_features.to(torch.float32))
            self.input = nn.Linear(gene_features.shape[1], hidden)
        else:
            self.gene_features = None
            self.embedding = nn.Parameter(0.1 * torch.randn(num_genes, hidden))
        self.convs = nn.ModuleList(
            nn.ModuleList(GATv2Conv(hidden, hidden // heads, heads=heads, edge_dim=1) for _ in relations)
            for _ in range(num_layers)
        )
        self.type_logits = nn.Parameter(torch.zeros(num_layers, len(relations)))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(num_layers))
        self.set_head = mlp(2 * hidden + env_dim, head_hidden, 2, dropout)
        self.operator_head = mlp(hidden + env_dim, head_hidden, 2, dropout)

    # --- encoder -------------------------------------------------------------------------------------------
    def full_edges(self) -> EdgeList:
        """The whole cell graph: per edge type (edge_index [2, E_t], edge_weight [E_t])."""
        return [
            (getattr(self, f"edge_index_{t}"), getattr(self, f"edge_weight_{t}")) for t in range(len(self.relations))
        ]

    def node_inputs(self) -> Tensor:
        """Layer-0 embeddings of all genes [num_genes, hidden]."""
        return self.input(self.gene_features) if self.gene_features is not None else self.embedding

    def layer(self, index: int, x_source: Tensor, x_target: Tensor, edges: EdgeList) -> Tensor:
        """One message-passing layer on a bipartite view.

        Shapes: x_source [S, hidden]; x_target [D, hidden], the same nodes as the first D rows of x_source
        (GATv2's self loops pair target i with source i); edges index source rows → target rows.
        Returns [D, hidden].
        """
        mix_weights = torch.softmax(self.type_logits[index], dim=0)
        mixed = sum(
            w * conv((x_source, x_target), edge_index, edge_weight[:, None].to(x_source.dtype))
            for w, conv, (edge_index, edge_weight) in zip(mix_weights, self.convs[index], edges, strict=True)
        )
        return self.norms[index](x_target + nn.functional.gelu(mixed))

    def encode(self, x: Tensor, edges: EdgeList) -> list[Tensor]:
        """All layer outputs of a whole (sub)graph: x [N, hidden] → [h_0 = x, h_1, …, h_k], each [N, hidden]."""
        states = [x]
        for index in range(self.num_layers):
            states.append(self.layer(index, states[-1], states[-1], edges))
        return states

    def wild_type_states(self) -> list[Tensor]:
        """[h_0, …, h_k] of the unperturbed cell, each [num_genes, hidden]."""
        return self.encode(self.node_inputs(), self.full_edges())

    # --- exact perturbation operator ------------------------------------------------------------------------
    def operator_difference(self, perturbed: Tensor, batch: Tensor, num_samples: int, states: list[Tensor]) -> Tensor:
        """wt_sum − perturbed_sum per sample, [B, hidden], by the k-hop rule of the module docstring.

        Shapes: perturbed [P] gene indices, batch [P] sample of each, states the wild-type [h_0..h_k].
        """
        if self.operator_chunk is None or num_samples <= self.operator_chunk:
            return self._operator_difference(perturbed, batch, num_samples, states)
        parts = []
        for first in range(0, num_samples, self.operator_chunk):  # groups of samples, to bound memory
            size = min(self.operator_chunk, num_samples - first)
            chosen = (batch >= first) & (batch < first + size)
            parts.append(self._operator_difference(perturbed[chosen], batch[chosen] - first, size, states))
        return torch.cat(parts)

    def perturbed_cell_sums(self, perturbed: Tensor, batch: Tensor, num_samples: int) -> Tensor:
        """Whole-cell sum embedding [B, hidden] of each sample's cell with its perturbed genes' nodes removed."""
        states = self.wild_type_states()
        return states[-1].sum(0) - self.operator_difference(perturbed, batch, num_samples, states)

    def _reach(self, perturbed: Tensor, batch: Tensor, num_samples: int) -> tuple[Tensor, Tensor, list[Tensor]]:
        """(is_removed [B · n] bool, removed keys [R], [D_1, …, D_k] keys, each sorted) of the disjoint batch graph.

        Nodes of that graph are keys sample · n + gene; sets of keys are dense [B · n] masks, so membership and
        relabelling are gathers (no sort, no search) and `nonzero` lists keys sorted.
        """
        n = self.num_genes
        is_removed = torch.zeros(num_samples * n, dtype=torch.bool, device=perturbed.device)
        is_removed[batch * n + perturbed] = True
        removed = is_removed.nonzero().squeeze(1)
        is_reached, frontier, downstream = is_removed.clone(), removed, []
        for _ in range(self.num_layers):
            owner, entry = expand_csr(self.out_pointer, frontier % n)
            is_new = torch.zeros_like(is_reached)
            is_new[(frontier // n)[owner] * n + self.out_target[entry]] = True
            is_new &= ~is_reached
            is_reached |= is_new
            frontier = is_new.nonzero().squeeze(1)
            downstream.append((is_reached & ~is_removed).nonzero().squeeze(1))
        return is_removed, removed, downstream

    def _operator_difference(self, perturbed: Tensor, batch: Tensor, num_samples: int, states: list[Tensor]) -> Tensor:
        n = self.num_genes
        is_removed, removed, downstream = self._reach(perturbed, batch, num_samples)
        changed, values = removed[:0], states[0][:0]
        for index, targets in enumerate(downstream):
            values = self._recompute(index, targets, is_removed, changed, values, states[index])
            changed = targets
        final = states[-1]
        difference = final.new_zeros(num_samples, self.hidden)
        difference = difference.index_add(0, removed // n, final[removed % n])
        difference = difference.index_add(0, changed // n, final[changed % n] - values)
        return difference

    def _layer_graph(self, targets: Tensor, is_removed: Tensor) -> tuple[list[tuple[Tensor, Tensor, Tensor]], Tensor]:
        """The in-edges of the target keys [D] per edge type, (owner [E_t] position in `targets`, source keys
        [E_t], edge weight [E_t]) with removed sources dropped, and the boundary keys [S] (the sources that are
        not targets, sorted); `is_removed` [B · n]."""
        n = self.num_genes
        target_sample = targets // n
        is_source = torch.zeros_like(is_removed)
        per_type = []
        for t in range(len(self.relations)):
            owner, entry = expand_csr(getattr(self, f"in_pointer_{t}"), targets % n)
            source = target_sample[owner] * n + getattr(self, f"edge_index_{t}")[0, entry]
            keep = ~is_removed[source]  # a removed gene's edges are gone
            per_type.append((owner[keep], source[keep], getattr(self, f"edge_weight_{t}")[entry[keep]]))
            is_source[source[keep]] = True
        is_source[targets] = False
        return per_type, is_source.nonzero().squeeze(1)

    def _recompute(
        self, index: int, targets: Tensor, is_removed: Tensor, previous: Tensor, previous_values: Tensor, inputs: Tensor
    ) -> Tensor:
        """Layer `index` at the target keys [D] (sorted) of the disjoint batch graph → [D, hidden].

        Reads the recomputed layer-input values `previous_values` [D', hidden] at keys `previous` [D'] ⊆ targets
        and the wild-type layer input `inputs` [num_genes, hidden] at every other source; `is_removed` [B · n].
        """
        if targets.numel() == 0:
            return inputs[:0]
        n = self.num_genes
        per_type, boundary = self._layer_graph(targets, is_removed)  # boundary: wild-type values at this input
        position = torch.full_like(is_removed, -1, dtype=torch.long)  # key → row of x (targets first)
        position[targets] = torch.arange(targets.numel(), device=targets.device)
        position[boundary] = torch.arange(boundary.numel(), device=targets.device) + targets.numel()
        x = inputs[torch.cat([targets, boundary]) % n]
        if previous.numel():
            x = x.index_copy(0, position[previous], previous_values)
        edges = [(torch.stack([position[source], owner]), weight) for owner, source, weight in per_type]
        return self.layer(index, x, x[: targets.numel()], edges)

    # --- evaluation memory ---------------------------------------------------------------------------------
    def _pass_bytes(self, edges: list[int], nodes: int) -> float:
        """Estimated peak bytes of one layer without gradients over `edges` [per edge type] and `nodes`."""
        width = 4 * self.hidden  # one float32 row of hidden width
        return width * (EDGE_ROWS * sum(edges) + LARGEST_TYPE_EDGE_ROWS * max(edges) + NODE_ROWS * nodes)

    @torch.no_grad()
    def eval_memory(self, batch: PerturbationBatch) -> tuple[float, float]:
        """Estimated bytes of `forward` without gradients: (fixed, the wild-type pass; per sample, the mean over
        `batch`'s samples of their dense masks and the largest layer of their operator recompute).

        Counts the edges and nodes each layer of the operator head would read for `batch` (the same reach and
        in-edge gathers, no message passing); the loop sizes its evaluation batches by it (`eval_memory_gib`).
        """
        n, num_samples = self.num_genes, len(batch)
        full = [getattr(self, f"edge_index_{t}").shape[1] + n for t in range(len(self.relations))]  # + self loops
        fixed = self._pass_bytes(full, n) + 4 * self.hidden * n * (self.num_layers + 1)
        if num_samples == 0:
            return fixed, 0.0
        is_removed, _, downstream = self._reach(batch.perturbed, batch.batch, num_samples)
        largest = 0.0
        for targets in downstream:
            per_type, boundary = self._layer_graph(targets, is_removed)
            edges = [owner.numel() + targets.numel() for owner, _, _ in per_type]  # + self loops
            largest = max(largest, self._pass_bytes(edges, targets.numel() + boundary.numel()))
        return fixed, (largest + MASK_BYTES * num_samples * n) / num_samples

    # --- heads ---------------------------------------------------------------------------------------------
    def forward(self, batch: PerturbationBatch) -> ModelOutput:
        """Both heads on a batch of genotypes; the wild-type pass runs once for the whole batch.

        Shapes:
            input: batch.perturbed [P], batch.batch [P], batch.num_perturbations [B], batch.environment [B, env_dim]
            output: prediction [B, 2] (fitness, interaction); no auxiliary loss
        """
        self._check_batch(batch)
        num_samples = len(batch)
        states = self.wild_type_states()
        genes = states[-1][batch.perturbed]  # [P, hidden]
        pooled = torch.cat(
            [
                scatter(genes, batch.batch, dim=0, dim_size=num_samples, reduce="sum"),
                scatter(genes, batch.batch, dim=0, dim_size=num_samples, reduce="max"),
                batch.environment.to(genes.dtype),
            ],
            dim=1,
        )
        difference = self.operator_difference(batch.perturbed, batch.batch, num_samples, states)
        operator = torch.cat([symlog(difference), batch.environment.to(genes.dtype)], dim=1)
        return ModelOutput(prediction=self.set_head(pooled) + self.operator_head(operator))

    def _check_batch(self, batch: PerturbationBatch) -> None:
        num_samples = len(batch)
        if batch.environment.shape != (num_samples, self.env_dim):
            raise ValueError(
                f"environment must be [{num_samples}, {self.env_dim}] (batch size, env_dim), "
                f"got {list(batch.environment.shape)}"
            )
        if batch.perturbed.shape != batch.batch.shape:
            raise ValueError(f"perturbed {list(batch.perturbed.shape)} and batch {list(batch.batch.shape)} differ")
        if batch.perturbed.numel() == 0:
            return
        if int(batch.perturbed.min()) < 0 or int(batch.perturbed.max()) >= self.num_genes:
            bad = batch.perturbed[(batch.perturbed < 0) | (batch.perturbed >= self.num_genes)].tolist()
            raise ValueError(f"perturbed gene indices must lie in [0, {self.num_genes}); got {bad}")
        if int(batch.batch.min()) < 0 or int(batch.batch.max()) >= num_samples:
            raise ValueError(f"batch (sample of each perturbation) must lie in [0, {num_samples})")
        counts = torch.bincount(batch.batch, minlength=num_samples)
        if not torch.equal(counts, batch.num_perturbations.to(counts.device)):
            raise ValueError("num_perturbations does not match the counts of the batch vector")
        keys = batch.batch * self.num_genes + batch.perturbed
        if torch.unique(keys).numel() != keys.numel():
            raise ValueError("a sample lists the same perturbed gene more than once")


def cell_graph_edges(cell_graph: Any, num_genes: int) -> tuple[list[str], EdgeList]:
    """Relation names and (edge_index, edge_weight) per gene–gene edge type of a cell-graph `HeteroData`."""
    graph_nodes = cell_graph[NODE_TYPE].num_nodes if NODE_TYPE in cell_graph.node_types else None
    if graph_nodes != num_genes:
        raise ValueError(f"cell_graph has {graph_nodes} {NODE_TYPE!r} nodes, the context {num_genes} genes")
    relations, edges = [], []
    for edge_type in cell_graph.edge_types:
        source_type, relation, target_type = edge_type
        if (source_type, target_type) != (NODE_TYPE, NODE_TYPE):
            raise ValueError(f"edge type {edge_type} is not gene → gene")
        store = cell_graph[edge_type]
        edge_index = store.edge_index.to(torch.int64)
        if edge_index.dim() != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"edge type {relation!r}: edge_index must be [2, E], got {list(edge_index.shape)}")
        if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_genes):
            raise ValueError(f"edge type {relation!r}: edge_index has node ids outside [0, {num_genes})")
        weight = getattr(store, "edge_weight", None)
        weight = torch.ones(edge_index.shape[1]) if weight is None else weight.to(torch.float32)
        if weight.shape != (edge_index.shape[1],):
            raise ValueError(f"edge type {relation!r}: edge_weight must be [{edge_index.shape[1]}]")
        relations.append(relation)
        edges.append((edge_index, weight))
    if not edges:
        raise ValueError("cell_graph has no edge types: the heterogeneous GNN needs at least one")
    return relations, edges


# One GATv2 layer in the pipeline: with two, a perturbed cell's recomputed 2-hop neighbourhood covers about half of
# the STRING 12 graph (bench/hetero_gnn_naive.py), which on CPU costs minutes per epoch.
@register_model("hetero_gnn", graph_set="string12", epochs=20, hparams={"num_layers": 1})
def build_hetero_gnn(context: ModelContext, **hparams: Any) -> HeteroGNN:
    """HeteroGNN over `context.cell_graph` (required) and `context.gene_features` (optional)."""
    cell_graph = context.need("cell_graph", "hetero_gnn")
    relations, edges = cell_graph_edges(cell_graph, context.num_genes)
    features = context.gene_features
    if features is not None and (features.dim() != 2 or features.shape[0] != context.num_genes):
        raise ValueError(f"gene_features must be [{context.num_genes}, d], got {list(features.shape)}")
    return HeteroGNN(context.num_genes, context.env_dim, relations, edges, gene_features=features, **hparams)
