"""DCell (Ma et al. 2018): a visible neural network whose hidden layers are the terms of a filtered GO DAG.

Each term t is a subsystem `BatchNorm(tanh(Linear([direct gene states, children outputs])))` with
`max(20, ceil(0.3 * genes in t's subtree))` outputs and its own linear head (an auxiliary prediction); the
roots' outputs and the environment vector feed the final head. A term is fed only its direct genes (those
no child's subtree holds), as in DCell, whether `go_gene_sets` gives direct or propagated annotations.

Terms are computed stratum by stratum (height: leaves 0, a parent above all its children); the terms of
a stratum run as packed batched matrix products (`torch.baddbmm` over terms padded to a common shape),
never as a Python loop over terms. A stratum whose shapes differ widely (a few 1,000-wide terms beside
many 20-wide ones) is cut into shape groups by a dynamic programme that trades padded work against a
per-group cost: on the real yeast DAG, one op per stratum pads 59M weights to 219M and ran about 4x
slower than 166 shape groups (5.6 s vs 1.4-1.6 s per batch of 256, one CPU thread). Activations are
feature-major ([features, B]), so the gathers that build each group's input move whole rows.

Training follows DCell: loss = root loss (the caller's `masked_loss` of `prediction`, MSE by default)
+ `auxiliary_loss` (0.3 x the mean over all terms of their heads' loss; DCell sums over terms, the mean keeps
the root loss in charge whatever the DAG's size), plus weight decay, which is an optimiser setting
(`RECOMMENDED_WEIGHT_DECAY`). Construction is seeded by the caller's `torch.manual_seed`.

What makes it learn with small batches (256) and AdamW at lr 1e-3 (before, it did not: test fitness Pearson
~0.1, interaction ~0 on the digenic demo data); the first two depart from DCell, the last restores it:
- BatchNorm `eps` is `NORM_EPS` = 1e-2, not 1e-5. A term whose genes no sample of the batch perturbs has a
  constant output, so its batch variance is 0 and BatchNorm multiplies the gradient by 1/sqrt(eps) (316 at
  1e-5); through chains of such terms float rounding grew into gradient norms of 1e5-1e7, which clipping
  turned into a zero gradient for the real signal, while Adam still took full-size steps along the noise.
  At 1e-2 the gain on a (nearly) constant feature is at most 10, and that of a term perturbed in one sample
  of the batch (variance of order 1e-3) is still several-fold, so rare perturbations still stand out.
- Weights are stored unscaled and multiplied by 1/sqrt(fan-in) in the forward pass (the roots by
  1/sqrt(width) before the final head): the effective initialisation is nn.Linear's, but an Adam step (about
  lr per entry) moves a term's pre-activation by about lr x sqrt(fan-in), not lr x fan-in. Unscaled, one step
  on the ~1,900-wide root readout moved the predictions by ~1 or more, against label spreads of 0.15
  (fitness) and 0.03 (interaction).
- The order is DCell's (tanh, then BatchNorm); the tanh used to follow BatchNorm, saturating at +-1 on the
  one sample of a batch that hits a rarely perturbed term (BatchNorm scales it to ~sqrt(batch size)).
Eval mode's BatchNorm running statistics (momentum 0.1) are noisy for rarely perturbed terms and shifted
eval-mode predictions (interaction by about +0.03 on the digenic demo data); the training loop now recomputes
them from training batches with the final weights (`torchcell_core.train.loop.recalibrate_batchnorm`), which
removed that shift on the full GO. With the GO restricted to the dataset's genes a fitness offset of about +0.04
remains, a train/eval-mode gap of rarely hit terms, not the statistics.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from torchcell_core.datasets.loader import PerturbationBatch
from torchcell_core.models.base import (
    TARGETS,
    ModelContext,
    ModelOutput,
    PerturbationModel,
    masked_loss,
    register_model,
)
from torchcell_core.ontology.dag import GoDag

MIN_TERM_OUTPUT = 20
OUTPUT_PER_GENE = 0.3
AUXILIARY_WEIGHT = 0.3
RECOMMENDED_WEIGHT_DECAY = 1e-5  # an L2 penalty for the optimiser (e.g. AdamW(weight_decay=...)); tune per dataset
NORM_EPS = 1e-2  # BatchNorm's eps: bounds its gain on features (nearly) constant within a batch (see docstring)
GROUP_OVERHEAD = 16_384  # padded weight entries one extra packed group is worth (its fixed cost in small ops)
NUM_TARGETS = len(TARGETS)


@dataclass(frozen=True)
class TermSpec:
    """One subsystem. Its input is the states of `direct_genes` (gene positions in this term but in none of
    its children's subtrees, ascending) followed by the outputs of `children` (in that order).
    `num_genes` counts every gene of the subtree; `group`/`slot` locate it in the packed layout."""

    go_id: str
    height: int
    children: tuple[str, ...]
    direct_genes: tuple[int, ...]
    num_genes: int
    in_dim: int
    out_dim: int
    group: int = -1
    slot: int = -1


def term_output_size(num_genes: int, minimum: int = MIN_TERM_OUTPUT, per_gene: float = OUTPUT_PER_GENE) -> int:
    """Width of a term's subsystem: `max(minimum, ceil(per_gene * num_genes))`."""
    return max(minimum, math.ceil(per_gene * num_genes))


def term_specs(
    dag: GoDag, gene_sets: Mapping[str, Sequence[int]], num_genes: int, minimum: int, per_gene: float
) -> list[TermSpec]:
    """One `TermSpec` per DAG term, children before parents (by height, then id).

    `gene_sets` may hold direct or propagated annotations: a term's subtree is the union of its own set and
    its descendants' sets, and it is fed directly only the genes none of its children's subtrees hold.
    """
    for go_id, genes in gene_sets.items():
        if go_id not in dag:
            raise ValueError(f"go_gene_sets names {go_id}, which is not a term of go_dag")
        bad = [int(g) for g in genes if not 0 <= int(g) < num_genes]
        if bad:
            raise ValueError(f"go_gene_sets[{go_id!r}] has gene position {bad[0]} outside [0, {num_genes})")
    subtree: dict[str, frozenset[int]] = {}
    height: dict[str, int] = {}
    for go_id in reversed(dag.topological_order()):  # children first
        children = dag.children(go_id)
        below = frozenset().union(*(subtree[c] for c in children))
        subtree[go_id] = below | {int(g) for g in gene_sets.get(go_id, ())}
        height[go_id] = max((height[c] + 1 for c in children), default=0)
        if not subtree[go_id]:
            raise ValueError(f"GO term {go_id} has no genes in its subtree; drop such terms before building DCell")
    specs: list[TermSpec] = []
    out_dims: dict[str, int] = {}
    for go_id in sorted(dag, key=lambda t: (height[t], t)):
        children = tuple(dag.children(go_id))
        below = frozenset().union(*(subtree[c] for c in children))
        direct = tuple(sorted(subtree[go_id] - below))
        out_dims[go_id] = term_output_size(len(subtree[go_id]), minimum, per_gene)
        in_dim = sum(out_dims[c] for c in children) + len(direct)
        specs.append(TermSpec(go_id, height[go_id], children, direct, len(subtree[go_id]), in_dim, out_dims[go_id]))
    return specs


def pack_stratum(shapes: Sequence[tuple[int, int]], overhead: int = GROUP_OVERHEAD) -> list[int]:
    """Cut `shapes` [(in_dim, out_dim)], sorted by (out_dim, in_dim), into consecutive groups minimising
    sum(group size x max in x max out) + overhead per group (dynamic programme). Returns group starts."""
    best, cut = [0] + [math.inf] * len(shapes), [0] * (len(shapes) + 1)
    for end in range(1, len(shapes) + 1):
        widest_in, out_dim = 0, shapes[end - 1][1]
        for start in range(end - 1, -1, -1):
            widest_in = max(widest_in, shapes[start][0])
            cost = best[start] + (end - start) * widest_in * out_dim + overhead
            if cost < best[end]:
                best[end], cut[end] = cost, start
    starts, end = [], len(shapes)
    while end > 0:
        starts.append(cut[end])
        end = cut[end]
    return starts[::-1]


def packed_layout(specs: list[TermSpec], overhead: int = GROUP_OVERHEAD) -> list[list[TermSpec]]:
    """The terms as packed groups, ascending height (each group's children lie in earlier groups); each
    term's `children` reordered by packed position (group, slot), the order of its inputs."""
    by_height: dict[int, list[TermSpec]] = defaultdict(list)
    for spec in specs:
        by_height[spec.height].append(spec)
    groups: list[list[TermSpec]] = []
    place: dict[str, tuple[int, int]] = {}
    for h in sorted(by_height):
        stratum = sorted(by_height[h], key=lambda s: (s.out_dim, s.in_dim, s.go_id))
        starts = pack_stratum([(s.in_dim, s.out_dim) for s in stratum], overhead) + [len(stratum)]
        for a, b in zip(starts[:-1], starts[1:], strict=True):
            g = len(groups)
            groups.append(
                [
                    replace(s, group=g, slot=i, children=tuple(sorted(s.children, key=place.__getitem__)))
                    for i, s in enumerate(stratum[a:b])
                ]
            )
            place.update({s.go_id: (s.group, s.slot) for s in groups[-1]})
    return groups


class _Fanout(nn.Module):
    """Hands one source's rows to the consumers that read them: one gather and one split, so the backward
    pass scatters into the source once, however many consumers it has. Activations are feature-major
    ([features, B]), so every gather and scatter moves whole contiguous rows."""

    def __init__(self, rows: list[int], sizes: list[int], targets: list[int], height: int) -> None:
        super().__init__()
        identity = len(targets) == 1 and rows == list(range(height))
        self.register_buffer("rows", None if identity else torch.tensor(rows, dtype=torch.long), persistent=False)
        self.sizes, self.targets = sizes, targets

    def forward(self, source: torch.Tensor, pieces: list[list[torch.Tensor]]) -> None:
        """source [height, B]; appends to `pieces[target]` a [size, B] block for each target."""
        taken = source if self.rows is None else source.index_select(0, self.rows)
        for target, part in zip(self.targets, taken.split(self.sizes, dim=0), strict=True):
            pieces[target].append(part)


def _input_plan(inputs: list[list[tuple[int, int]]], width: int) -> tuple[list[tuple[int, int]], torch.Tensor | None]:
    """For slots whose inputs are (source, row) lists, each padded to `width`: the distinct pairs a consumer
    reads (sorted, the order its pieces arrive in) and `positions` [slots * width] into them plus a zero row
    (None when the pieces already are the input)."""
    needed = sorted({pair for slot in inputs for pair in slot})
    index = {pair: i for i, pair in enumerate(needed)}
    positions = torch.full((len(inputs) * width,), len(needed), dtype=torch.long)
    for k, slot in enumerate(inputs):
        positions[k * width : k * width + len(slot)] = torch.tensor([index[p] for p in slot], dtype=torch.long)
    return needed, None if torch.equal(positions, torch.arange(len(needed))) else positions


def _assemble(pieces: list[torch.Tensor], positions: torch.Tensor | None) -> torch.Tensor:
    """One consumer's input [len(positions), B] from its pieces [size_i, B] (see `_input_plan`)."""
    if positions is None:
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=0)
    zero = pieces[0].new_zeros(1, pieces[0].shape[1])
    return torch.cat([*pieces, zero], dim=0).index_select(0, positions)


def _uniform(shape: tuple[int, ...], bound: torch.Tensor | float, keep: torch.Tensor) -> nn.Parameter:
    """U(-bound, bound) entries, 0 where not `keep`."""
    return nn.Parameter((torch.rand(shape) * 2 - 1) * bound * keep)


class _TermGroup(nn.Module):
    """n terms of one stratum padded to [out_max, in_max]: one baddbmm, one tanh, one BatchNorm, one head bmm.
    Padded inputs read a zero row and padded outputs are masked to 0, so padding never changes the result.
    `weight` and `head_weight` are stored unscaled (U(-1, 1)); the effective weights are them times `scale` and
    `head_scale` (1/sqrt(fan-in) per term), nn.Linear's default initialisation (see the module docstring)."""

    def __init__(self, specs: list[TermSpec], positions: torch.Tensor | None, norm_eps: float = NORM_EPS) -> None:
        super().__init__()
        n, self.in_max, self.out_max = len(specs), max(s.in_dim for s in specs), max(s.out_dim for s in specs)
        self.register_buffer("positions", positions, persistent=False)
        in_dims = torch.tensor([s.in_dim for s in specs]).view(n, 1, 1)
        out_dims = torch.tensor([s.out_dim for s in specs]).view(n, 1, 1)
        out_ok = torch.arange(self.out_max).view(1, -1, 1) < out_dims  # [n, out_max, 1]
        in_ok = torch.arange(self.in_max).view(1, 1, -1) < in_dims  # [n, 1, in_max]
        self.register_buffer("scale", in_dims.float().rsqrt(), persistent=False)  # [n, 1, 1]: 1/sqrt(fan-in)
        self.register_buffer("head_scale", out_dims.float().rsqrt(), persistent=False)  # [n, 1, 1]
        self.weight = _uniform((n, self.out_max, self.in_max), 1.0, out_ok & in_ok)  # effective: weight * scale
        self.bias = _uniform((n, self.out_max, 1), self.scale, out_ok)
        self.norm = nn.BatchNorm1d(n * self.out_max, eps=norm_eps)
        head_in_ok = out_ok.transpose(1, 2)  # [n, 1, out_max]
        self.head_weight = _uniform((n, NUM_TARGETS, self.out_max), 1.0, head_in_ok)  # effective: x head_scale
        self.head_bias = _uniform((n, NUM_TARGETS, 1), self.head_scale, torch.ones(1, dtype=torch.bool))
        mask = out_ok.reshape(n * self.out_max, 1).float()
        self.register_buffer("output_mask", None if bool(mask.all()) else mask, persistent=False)

    def forward(self, pieces: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Shapes: pieces [size_i, B] -> outputs [n * out_max, B] (slot k at row k * out_max), heads [n, 2, B]."""
        n = self.weight.shape[0]
        x = _assemble(pieces, self.positions).view(n, self.in_max, -1)  # [n, in_max, B]
        hidden = torch.baddbmm(self.bias, self.weight * self.scale, x)  # [n, out_max, B]
        out = self.norm(torch.tanh(hidden).view(1, n * self.out_max, -1)).view(n * self.out_max, -1)  # tanh, then BN
        if self.output_mask is not None:
            out = out * self.output_mask
        heads = torch.baddbmm(self.head_bias, self.head_weight * self.head_scale, out.view(n, self.out_max, -1))
        return out, heads


class DCell(PerturbationModel):
    """DCell over `context.go_dag` with `context.go_gene_sets` {term: gene positions} (see module docstring).

    Gene states: 1 for a perturbed (deleted) gene, 0 otherwise, over the genes some term holds; perturbing
    a gene that no term holds changes nothing. `terms` lists every `TermSpec` in packed order.
    """

    name = "dcell"
    loss = "mse"

    def __init__(
        self,
        context: ModelContext,
        min_term_output: int = MIN_TERM_OUTPUT,
        output_per_gene: float = OUTPUT_PER_GENE,
        auxiliary_weight: float = AUXILIARY_WEIGHT,
        group_overhead: int = GROUP_OVERHEAD,
        norm_eps: float = NORM_EPS,
    ) -> None:
        super().__init__()
        dag = context.need("go_dag", self.name)
        gene_sets = context.need("go_gene_sets", self.name)
        self.num_genes, self.env_dim, self.auxiliary_weight = context.num_genes, context.env_dim, auxiliary_weight
        specs = term_specs(dag, gene_sets, context.num_genes, min_term_output, output_per_gene)
        if not specs:
            raise ValueError("go_dag has no terms")
        layout = packed_layout(specs, group_overhead)
        self.terms: list[TermSpec] = [spec for group in layout for spec in group]
        self.term_index = {spec.go_id: i for i, spec in enumerate(self.terms)}
        used = sorted({g for spec in self.terms for g in spec.direct_genes})
        gene_row = torch.full((context.num_genes,), len(used), dtype=torch.long)  # unused genes: a spare row
        gene_row[used] = torch.arange(len(used))
        self.register_buffer("gene_row", gene_row, persistent=False)
        self.num_used_genes = len(used)

        self.roots = [spec.go_id for spec in self.terms if not dag.parents(spec.go_id)]
        out_max = [max(s.out_dim for s in group) for group in layout]

        def rows(go_id: str) -> list[tuple[int, int]]:  # (source, row) of a term's outputs; source 0 = genes
            spec = self.terms[self.term_index[go_id]]
            return [(spec.group + 1, spec.slot * out_max[spec.group] + j) for j in range(spec.out_dim)]

        consumers = [  # per consumer (each group, then the final head), per slot: its input as (source, row)
            [[(0, int(gene_row[g])) for g in s.direct_genes] + [p for c in s.children for p in rows(c)] for s in group]
            for group in layout
        ] + [[[p for r in self.roots for p in rows(r)]]]
        in_max = [max(s.in_dim for s in group) for group in layout] + [len(consumers[-1][0])]
        plans = [_input_plan(inputs, width) for inputs, width in zip(consumers, in_max, strict=True)]
        self.groups = nn.ModuleList(
            _TermGroup(group, plan[1], norm_eps) for group, plan in zip(layout, plans[:-1], strict=True)
        )
        self.register_buffer("root_positions", plans[-1][1], persistent=False)
        reads: list[dict[int, list[int]]] = [defaultdict(list) for _ in range(len(layout) + 1)]  # source: c -> rows
        for c, (needed, _) in enumerate(plans):
            for source, row in needed:
                reads[source][c].append(row)
        heights = [self.num_used_genes + 1] + [len(group) * width for group, width in zip(layout, out_max, strict=True)]
        self.fanouts = nn.ModuleList(
            _Fanout([row for rs in r.values() for row in rs], [len(rs) for rs in r.values()], list(r), height)
            for r, height in zip(reads, heights, strict=True)
        )
        self.head = nn.Linear(in_max[-1] + context.env_dim, NUM_TARGETS)
        self.root_scale = 1.0 / math.sqrt(in_max[-1])  # the roots' readout scale, as the terms' (module docstring)
        if context.label_means is not None:  # start every head at the training means: term outputs are
            self.start_at(context.label_means)  # batch-normalised (zero-mean), so the biases carry the offset

    @torch.no_grad()
    def start_at(self, label_means: torch.Tensor) -> None:
        """Set the final head's and every term head's bias to `label_means` [2]: without it the biases must
        walk to the mean fitness (~0.8) at about lr per step, hundreds of steps before any signal is learned."""
        self.head.bias.copy_(label_means)
        for group in self.groups:
            group.head_bias.copy_(label_means.view(1, NUM_TARGETS, 1).expand_as(group.head_bias))

    def gene_states(self, batch: PerturbationBatch) -> torch.Tensor:
        """[num_used_genes + 1, B] float (feature-major): 1 where the sample's gene is perturbed (the last row
        collects genes no term holds and is never read)."""
        states = batch.environment.new_zeros(self.num_used_genes + 1, len(batch))
        states[self.gene_row[batch.perturbed], batch.batch] = 1.0
        return states

    def forward(self, batch: PerturbationBatch) -> ModelOutput:
        """Shapes:
        - **input:** `perturbed` [P], `batch` [P], `environment` [B, env_dim], `labels`/`mask` [B, 2]
        - **output:** `prediction` [B, 2]; `auxiliary_loss` scalar (0.3 x mean term-head loss)
        """
        self._check(batch)
        pieces: list[list[torch.Tensor]] = [[] for _ in range(len(self.groups) + 1)]  # inputs of each consumer
        self.fanouts[0](self.gene_states(batch), pieces)
        heads = []
        for g, group in enumerate(self.groups):  # one packed step per shape group of a stratum, never one per term
            out, head = group(pieces[g])
            pieces[g] = []  # consumed; let autograd own the references
            self.fanouts[g + 1](out, pieces)
            heads.append(head)
        roots = _assemble(pieces[-1], self.root_positions)  # [sum of root widths, B]
        prediction = self.head(torch.cat([roots.t() * self.root_scale, batch.environment], dim=1))
        return ModelOutput(prediction, self.auxiliary_weight * self.term_loss(torch.cat(heads, dim=0), batch))

    def term_loss(self, heads: torch.Tensor, batch: PerturbationBatch) -> torch.Tensor:
        """Mean over terms of `masked_loss(heads[t].T, labels, mask)`; heads [T, 2, B] in `terms` order."""
        num_terms = heads.shape[0]
        labels, mask = batch.labels.repeat(1, num_terms), batch.mask.repeat(1, num_terms)
        return masked_loss(heads.permute(2, 0, 1).reshape(heads.shape[2], -1), labels, mask, self.loss)

    def _check(self, batch: PerturbationBatch) -> None:
        if batch.environment.shape[1] != self.env_dim:
            raise ValueError(f"DCell was built for env_dim {self.env_dim}, batch has {batch.environment.shape[1]}")
        if batch.labels.shape[1] != NUM_TARGETS:
            raise ValueError(f"DCell predicts {TARGETS}; batch has {batch.labels.shape[1]} label columns")
        if batch.perturbed.numel():
            low, high = int(batch.perturbed.min()), int(batch.perturbed.max())
            if low < 0 or high >= self.num_genes:
                bad = low if low < 0 else high
                raise ValueError(f"perturbed gene index {bad} is outside [0, {self.num_genes})")
        if self.training and len(batch) < 2:
            raise ValueError("DCell's BatchNorm needs at least 2 samples per batch in train mode")

    def term_parameters(self, go_id: str, gradients: bool = False) -> dict[str, torch.Tensor]:
        """One term's unpadded tensors (or their gradients), laid out as `nn.Linear` holds them: views, except
        `weight` and `head_weight`, which are the effective weights (the stored ones times their fan-in scale):
        weight [out, in], bias [out], norm_weight/norm_bias/running_mean/running_var [out],
        head_weight [2, out], head_bias [2]."""
        spec = self.terms[self.term_index[go_id]]
        group, k = self.groups[spec.group], spec.slot
        cols = slice(k * group.out_max, k * group.out_max + spec.out_dim)

        def part(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.grad if gradients else tensor

        def scaled(tensor: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:  # slot k's effective weight (or grad)
            return tensor.grad[k] / scale[k] if gradients else tensor.detach()[k] * scale[k]

        return {
            "weight": scaled(group.weight, group.scale)[: spec.out_dim, : spec.in_dim],
            "bias": part(group.bias)[k, : spec.out_dim, 0],
            "norm_weight": part(group.norm.weight)[cols],
            "norm_bias": part(group.norm.bias)[cols],
            "head_weight": scaled(group.head_weight, group.head_scale)[:, : spec.out_dim],
            "head_bias": part(group.head_bias)[k, :, 0],
            **({} if gradients else {"running_mean": group.norm.running_mean[cols]}),
            **({} if gradients else {"running_var": group.norm.running_var[cols]}),
        }

    def num_parameters(self) -> int:
        """Trainable entries excluding padding: per term (in + 1) x out + 2 x out (norm) + (out + 1) x 2 (head)."""
        per_term = sum((s.in_dim + 3) * s.out_dim + (s.out_dim + 1) * NUM_TARGETS for s in self.terms)
        return per_term + sum(p.numel() for p in self.head.parameters())


@register_model("dcell", go=True, epochs=20)
def build_dcell(context: ModelContext, **hparams: Any) -> DCell:
    """DCell from `context.go_dag` and `context.go_gene_sets`; hparams are `DCell`'s keyword arguments."""
    return DCell(context, **hparams)
