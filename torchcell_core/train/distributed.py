"""Process-group setup from torchrun's environment, and the few collectives the loop needs.

Under `torchrun` (one node: `--standalone --nproc_per_node=N`; several: `--nnodes`, `--rdzv-endpoint`)
each process finds RANK, WORLD_SIZE and LOCAL_RANK in its environment and joins the group through
`env://`: nccl when it trains on a GPU, gloo on CPU. Without those variables (or with WORLD_SIZE=1) it is
one process and every collective below is the identity, so the same loop runs in a test or a notebook.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: `rank` of `world_size`, its `device`, and the backend (None: one process)."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.backend is not None


def resolve_device(requested: str, local_rank: int = 0) -> torch.device:
    """`auto`: the local GPU when CUDA is available, else CPU; `cuda` without CUDA is an error."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but CUDA is not available (torch.cuda.is_available() is False)")
    if requested in ("cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if requested not in ("cuda", "auto", "cpu"):
        raise ValueError(f"device must be auto, cpu or cuda, got {requested!r}")
    return torch.device("cpu")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as error:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from error


def init_distributed(device: str = "auto") -> DistributedContext:
    """Join the process group when launched by torchrun or WORLD_SIZE > 1 (nccl on GPU, gloo on CPU), else
    stay one process. Under torchrun even one rank joins (and DDP wraps the model), so a one-GPU run goes
    through the same nccl path as eight."""
    world_size = _env_int("WORLD_SIZE", 1)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    chosen = resolve_device(device, local_rank)
    if world_size <= 1 and not os.environ.get("TORCHELASTIC_RUN_ID"):
        return DistributedContext(0, 1, 0, chosen, None)
    if not 0 <= rank < world_size:
        raise ValueError(f"RANK={rank} is outside WORLD_SIZE={world_size}")
    backend = "nccl" if chosen.type == "cuda" else "gloo"
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://")
    return DistributedContext(rank, world_size, local_rank, chosen, backend)


def shutdown(context: DistributedContext, wait: bool = True) -> None:
    """Leave the process group (no-op for a single process). `wait=False` after an error: a barrier
    could hang while the other ranks wait in another collective (torchrun then stops them)."""
    if context.is_distributed and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def barrier(context: DistributedContext) -> None:
    if context.is_distributed:
        dist.barrier()


def all_reduce_sum(context: DistributedContext, values: torch.Tensor) -> torch.Tensor:
    """Element-wise sum of `values` [k] over ranks (a copy on CPU)."""
    values = values.detach().to(context.device, torch.float64)
    if context.is_distributed:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values.cpu()


def all_gather_rows(context: DistributedContext, tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's `tensor` [n_r, ...] stacked in rank order → [sum n_r, ...] on CPU; ranks may hold
    different row counts (padded to the largest for the collective, then trimmed)."""
    if not context.is_distributed:
        return tensor.detach().cpu()
    local = tensor.detach().to(context.device).contiguous()
    sizes = [torch.zeros(1, dtype=torch.long, device=context.device) for _ in range(context.world_size)]
    dist.all_gather(sizes, torch.tensor([local.shape[0]], dtype=torch.long, device=context.device))
    counts = [int(size.item()) for size in sizes]
    padded = local.new_zeros((max(counts), *local.shape[1:]))
    padded[: local.shape[0]] = local
    gathered = [torch.empty_like(padded) for _ in range(context.world_size)]
    dist.all_gather(gathered, padded)
    return torch.cat([part[:count] for part, count in zip(gathered, counts, strict=True)]).cpu()


def all_gather_object(context: DistributedContext, value: Any) -> list[Any]:
    """[value of rank 0, value of rank 1, ...] on every rank (picklable values)."""
    if not context.is_distributed:
        return [value]
    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast_object(context: DistributedContext, value: Any) -> Any:
    """Rank 0's `value` on every rank."""
    if not context.is_distributed:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]
