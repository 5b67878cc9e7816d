"""Checkpoints: everything a run needs to continue as if never stopped, written atomically by rank 0.

A checkpoint holds the unwrapped model's weights, the optimizer and scheduler states, the epoch just
finished, the early-stopping state and per-epoch history, the config, and the RNG states (python,
numpy, torch, CUDA) of every rank, gathered to rank 0 so that each rank resumes its own streams. It is
written to a temporary file in the same folder and moved over the old one with `os.replace`, so a crash
mid-write leaves the previous checkpoint whole. Everything is stored as tensors and plain containers,
so it loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

CHECKPOINT_FORMAT = 1
LAST = "last.pt"
BEST = "best.pt"


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def rng_state() -> dict[str, Any]:
    """This process's python, numpy, torch and CUDA generator states as tensors and plain values."""
    version, internal, gauss = random.getstate()
    kind, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, torch.tensor(internal, dtype=torch.int64), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` captured (CUDA states only where CUDA is available)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(int(v) for v in internal.tolist()), gauss))
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available() and state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_payload(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    epoch: int,
    progress: dict[str, Any],
    config: dict[str, Any],
    rng_states: list[dict[str, Any]],
) -> dict[str, Any]:
    """The dict a checkpoint stores; `epoch` is the last finished epoch (1-based), `progress` the
    early-stopping state and history, `rng_states` one entry per rank in rank order."""
    return {
        "format": CHECKPOINT_FORMAT,
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": int(epoch),
        "progress": progress,
        "config": config,
        "rng": rng_states,
        "world_size": len(rng_states),
    }


def save_atomic(payload: dict[str, Any], path: str | Path) -> Path:
    """`torch.save` to a temporary sibling, then `os.replace` it over `path` (atomic on one filesystem)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        torch.save(payload, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The payload at `path` (on CPU), checked for its format."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"{path}: checkpoint format {found!r}, expected {CHECKPOINT_FORMAT}")
    return payload


def restore(
    payload: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, rank: int
) -> None:
    """Load weights, optimizer and scheduler from `payload`, and this rank's RNG states.

    A run resumed on a different number of ranks restores rank 0's RNG states on every rank
    (the weights are exact; the random streams then differ from an uninterrupted run).
    """
    unwrap(model).load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    if scheduler is not None and payload["scheduler"] is not None:
        scheduler.load_state_dict(payload["scheduler"])
    states = payload["rng"]
    set_rng_state(states[rank] if rank < len(states) else states[0])
