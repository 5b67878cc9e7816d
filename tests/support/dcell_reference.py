"""DCell computed term by term, as a direct reading of the DCell paper: the reference the packed model is
checked against (tests/core/test_dcell.py) and timed against (bench/dcell_reference.py).

`DCellReference` loops over the terms in topological order in Python, each with its own `nn.Linear`, tanh,
`nn.BatchNorm1d` (the model's eps and momentum) and head, and reads out the roots times `DCell.root_scale`;
`copy_weights_from` gives it the packed model's effective (fan-in scaled) weights, so both compute the same
function."""

import torch
from torch import nn

from torchcell_core.datasets.loader import PerturbationBatch
from torchcell_core.models.base import ModelOutput, masked_loss
from torchcell_core.models.dcell import NUM_TARGETS, DCell


class DCellReference(nn.Module):
    """DCell with one module per term, run in a Python loop over terms; structure taken from `model.terms`.

    Each term's input is its direct genes' states then its children's outputs (in `TermSpec.children` order),
    the order of the packed model's weight rows; a term computes `BatchNorm(tanh(Linear(input)))`, and the final
    head reads the roots' outputs times `model.root_scale`, then the environment, as `DCell` does.
    """

    def __init__(self, model: DCell) -> None:
        super().__init__()
        self.loss = model.loss
        self.auxiliary_weight = model.auxiliary_weight
        self.num_genes = model.num_genes
        self.order = sorted(model.terms, key=lambda spec: (spec.height, spec.go_id))
        self.roots = list(model.roots)
        self.root_scale = model.root_scale
        packed_norm = model.groups[0].norm  # every group's BatchNorm has the model's eps and momentum
        self.linears = nn.ModuleList(nn.Linear(spec.in_dim, spec.out_dim) for spec in self.order)
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(spec.out_dim, eps=packed_norm.eps, momentum=packed_norm.momentum) for spec in self.order
        )
        self.heads = nn.ModuleList(nn.Linear(spec.out_dim, NUM_TARGETS) for spec in self.order)
        self.head = nn.Linear(model.head.in_features, NUM_TARGETS)
        device = model.head.weight.device
        self.direct_genes = [torch.tensor(spec.direct_genes, dtype=torch.long, device=device) for spec in self.order]
        self.to(device=device, dtype=model.head.weight.dtype)
        copy_weights_from(self, model)

    def forward(self, batch: PerturbationBatch) -> ModelOutput:
        """Shapes: `perturbed` [P], `batch` [P], `environment` [B, E] -> `prediction` [B, 2], scalar aux loss."""
        states = batch.environment.new_zeros(len(batch), self.num_genes)  # [B, num_genes]
        states[batch.batch, batch.perturbed] = 1.0
        outputs: dict[str, torch.Tensor] = {}  # go_id -> [B, out_dim]
        term_losses = []
        for i, spec in enumerate(self.order):
            x = torch.cat([states[:, self.direct_genes[i]]] + [outputs[c] for c in spec.children], dim=1)  # [B, in]
            outputs[spec.go_id] = self.norms[i](torch.tanh(self.linears[i](x)))  # tanh, then BatchNorm
            term_losses.append(masked_loss(self.heads[i](outputs[spec.go_id]), batch.labels, batch.mask, self.loss))
        roots = torch.cat([outputs[r] for r in self.roots], dim=1) * self.root_scale  # [B, sum of root widths]
        prediction = self.head(torch.cat([roots, batch.environment], dim=1))  # [B, 2]
        return ModelOutput(prediction, self.auxiliary_weight * torch.stack(term_losses).mean())

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


@torch.no_grad()
def copy_weights_from(reference: DCellReference, model: DCell) -> None:
    """Set every reference tensor (weights, biases, BatchNorm statistics) to the packed model's values; the
    weights copied are the effective ones (stored weights times their 1/sqrt(fan-in) scale)."""
    for i, spec in enumerate(reference.order):
        packed = model.term_parameters(spec.go_id)
        reference.linears[i].weight.copy_(packed["weight"])
        reference.linears[i].bias.copy_(packed["bias"])
        norm = reference.norms[i]
        norm.weight.copy_(packed["norm_weight"])
        norm.bias.copy_(packed["norm_bias"])
        norm.running_mean.copy_(packed["running_mean"])
        norm.running_var.copy_(packed["running_var"])
        norm.num_batches_tracked.copy_(model.groups[spec.group].norm.num_batches_tracked)
        reference.heads[i].weight.copy_(packed["head_weight"])
        reference.heads[i].bias.copy_(packed["head_bias"])
    reference.head.load_state_dict(model.head.state_dict())
