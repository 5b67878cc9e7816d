"""The epoch loop: DDP training with AdamW, a scheduler, clipping, validation, checkpoints, early stopping.

Every rank trains on its `DistributedSampler` shard; validation runs sharded too and the predictions of
all ranks are gathered (`all_gather`, padding rows of the sampler dropped by table row), so every rank
computes the same metrics over the full validation fold and makes the same early-stopping decision.
The checkpoint criterion is the validation Pearson r of the interaction label when the validation fold
measures at least 3 distinct interaction values, else of the first label (fitness); an undefined r
(constant predictions) never counts as an improvement. Rank 0 writes `last.pt` every epoch and `best.pt`
when the criterion improves; a rerun with the same `--out` resumes from `last.pt`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from torchcell_core.datasets.loader import PermutationBatchSampler, PerturbationDataset, make_loader
from torchcell_core.evaluation.metrics_ci import INTERACTION_LABEL, split_metrics
from torchcell_core.models.base import masked_loss
from torchcell_core.train import checkpoint as ckpt
from torchcell_core.train.config import TrainConfig
from torchcell_core.train.data import RunData
from torchcell_core.train.distributed import (
    DistributedContext,
    all_gather_object,
    all_gather_rows,
    all_reduce_sum,
    barrier,
    broadcast_object,
)
from torchcell_core.train.tracking import Tracker

MIN_SELECTION_VALUES = 3
logger = logging.getLogger(__name__)


@dataclass
class Progress:
    """Early-stopping state and per-epoch history; stored in every checkpoint."""

    selection: str
    best_metric: float = -math.inf
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    stopped_early: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FitResult:
    """How `fit` ended: `interrupted` when `stop_after_epochs` cut it short (no final evaluation then)."""

    progress: Progress
    epochs_completed: int
    interrupted: bool
    num_parameters: int


def selection_label(dataset: PerturbationDataset) -> str:
    """The label whose validation Pearson picks `best.pt` (see the module docstring)."""
    names = dataset.label_names
    if INTERACTION_LABEL in names:
        j = names.index(INTERACTION_LABEL)
        measured = dataset.labels[dataset.mask[:, j], j]
        if torch.unique(measured).numel() >= MIN_SELECTION_VALUES:
            return INTERACTION_LABEL
    return names[0]


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> Any:
    """Cosine decay over `epochs`, or a halving on a validation-loss plateau, or none; stepped per epoch."""
    if config.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=max(1, config.patience // 2))
    return None


def set_epoch(loader: DataLoader, epoch: int, seed: int) -> None:
    """Make the shuffle of `epoch` a function of (seed, epoch) alone, so a resumed run replays it."""
    if isinstance(loader.sampler, DistributedSampler):
        loader.sampler.set_epoch(epoch)
    elif isinstance(loader.batch_sampler, PermutationBatchSampler):
        loader.batch_sampler.generator.manual_seed(seed * 100_003 + epoch)


def train_one_epoch(
    model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, config: TrainConfig,
    dist: DistributedContext, loss_kind: str,
) -> tuple[float, float]:  # fmt: skip
    """One pass over this rank's shard: (mean loss per sample over all ranks, samples/s over all ranks)."""
    model.train()
    device = dist.device
    total = torch.zeros(2, dtype=torch.float64, device=device)  # [loss × samples, samples]
    started = time.perf_counter()
    for batch in loader:
        batch = batch.to(device, non_blocking=True)
        output = model(batch)
        loss = masked_loss(output.prediction, batch.labels, batch.mask, loss_kind)
        if output.auxiliary_loss is not None:
            loss = loss + output.auxiliary_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        size = float(len(batch))
        total += torch.stack([loss.detach().to(torch.float64) * size, total.new_tensor(size)])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    loss_sum, samples = all_reduce_sum(dist, total).tolist()
    elapsed = float(all_reduce_sum(dist, torch.tensor([seconds])).item()) / dist.world_size
    return loss_sum / max(samples, 1.0), samples / max(elapsed, 1e-9)


def evaluation_loader(dataset: PerturbationDataset, config: TrainConfig, dist: DistributedContext) -> DataLoader:
    """Unshuffled batches of `config.eval_batch_size`; under DDP each rank gets its shard."""
    return make_loader(dataset, config.eval_batch_size, shuffle=False, distributed=dist.is_distributed,
                       num_workers=config.num_workers, pin_memory=dist.device.type == "cuda")  # fmt: skip


@torch.no_grad()
def predict(
    model: nn.Module, dataset: PerturbationDataset, config: TrainConfig, dist: DistributedContext,
    loader: DataLoader | None = None,
) -> np.ndarray:  # fmt: skip
    """Predictions [N, L] float64 for every sample of `dataset`, in dataset order, on every rank.

    Each rank predicts its `DistributedSampler` shard (`loader`, else a new `evaluation_loader`); the
    shards are gathered and the sampler's padding (repeated samples) dropped by table row.
    """
    module = ckpt.unwrap(model)
    module.eval()
    loader = evaluation_loader(dataset, config, dist) if loader is None else loader
    rows, outputs = [], []
    for batch in loader:
        outputs.append(module(batch.to(dist.device, non_blocking=True)).prediction.to(torch.float64))
        rows.append(batch.row.to(dist.device))
    width = dataset.num_labels
    local_rows = torch.cat(rows) if rows else torch.empty(0, dtype=torch.long, device=dist.device)
    local_outputs = torch.cat(outputs) if outputs else torch.empty(0, width, dtype=torch.float64, device=dist.device)
    every_row = all_gather_rows(dist, local_rows).numpy()
    every_output = all_gather_rows(dist, local_outputs).numpy()
    unique_rows, first = np.unique(every_row, return_index=True)  # sorted, as dataset.rows is
    if not np.array_equal(unique_rows, dataset.rows.numpy()):
        raise RuntimeError(f"gathered predictions cover {unique_rows.size} rows, the fold has {len(dataset)}")
    return every_output[first][:, :width]


def validation_metrics(
    dataset: PerturbationDataset, predictions: np.ndarray, p_value: np.ndarray | None, loss_kind: str
) -> tuple[float, dict[str, dict]]:
    """(masked loss over the whole fold, per-label metrics) of `predictions` [N, L]."""
    loss = masked_loss(torch.from_numpy(predictions).float(), dataset.labels, dataset.mask, loss_kind)
    return float(loss), split_metrics(dataset.labels.numpy(), dataset.mask.numpy(), predictions,
                                      dataset.label_names, p_value=p_value)  # fmt: skip


def _resume(
    path: Path, config: TrainConfig, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, rank: int
) -> tuple[int, Progress]:
    """Load `last.pt` into the run; (epochs already done, progress). Changed settings are an error."""
    payload = ckpt.load_checkpoint(path)
    changed = config.resume_mismatches(payload["config"])
    if changed:
        detail = ", ".join(f"{key}: {old!r} → {new!r}" for key, (old, new) in changed.items())
        raise ValueError(f"cannot resume from {path}: settings changed ({detail}); use a new --out or --no-resume")
    ckpt.restore(payload, model, optimizer, scheduler, rank)
    return int(payload["epoch"]), Progress(**payload["progress"])


def fit(
    model: nn.Module, data: RunData, config: TrainConfig, dist: DistributedContext, tracker: Tracker, out: Path
) -> FitResult:
    """Train `model` (already built and seeded) for `config.epochs`, resuming from `out/checkpoints/last.pt`."""
    module = model.to(dist.device)
    loss_kind = module.loss
    wrapped: nn.Module = module
    if dist.is_distributed:
        wrapped = DistributedDataParallel(module, device_ids=[dist.device] if dist.device.type == "cuda" else None,
                                          find_unused_parameters=config.find_unused_parameters)  # fmt: skip
    optimizer = make_optimizer(module, config)
    scheduler = make_scheduler(optimizer, config)
    train_set, val_set = data.folds["train"], data.folds["val"]
    val_p = None if data.p_values is None else data.p_values["val"]
    train_loader = make_loader(train_set, config.batch_size, shuffle=True, seed=config.seed,
                               distributed=dist.is_distributed, num_workers=config.num_workers,
                               pin_memory=dist.device.type == "cuda")  # fmt: skip
    val_loader = evaluation_loader(val_set, config, dist)
    directory = out / "checkpoints"
    last = directory / ckpt.LAST
    done, progress = 0, Progress(selection=selection_label(val_set))
    if config.resume and last.is_file():
        done, progress = _resume(last, config, module, optimizer, scheduler, dist.rank)
    num_parameters = sum(p.numel() for p in module.parameters() if p.requires_grad)
    ran = 0
    for epoch in range(done + 1, config.epochs + 1):
        if progress.stopped_early:
            break
        started = time.perf_counter()
        set_epoch(train_loader, epoch, config.seed)
        train_loss, throughput = train_one_epoch(wrapped, train_loader, optimizer, config, dist, loss_kind)
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"training loss is {train_loss} at epoch {epoch}; try a lower --lr")
        val_predictions = predict(module, val_set, config, dist, val_loader)
        val_loss, metrics = validation_metrics(val_set, val_predictions, val_p, loss_kind)
        value = metrics[progress.selection]["pearson"]
        improved = math.isfinite(value) and value > progress.best_metric
        if improved:
            progress.best_metric, progress.best_epoch, progress.epochs_without_improvement = value, epoch, 0
        else:
            progress.epochs_without_improvement += 1
        progress.stopped_early = progress.epochs_without_improvement >= config.patience
        lr = optimizer.param_groups[0]["lr"]
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(val_loss)
        elif scheduler is not None:
            scheduler.step()
        record = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": lr,
                  "samples_per_s": throughput, "seconds": time.perf_counter() - started, "val": metrics}  # fmt: skip
        progress.history.append(record)
        progress.stopped_early = bool(broadcast_object(dist, progress.stopped_early))
        tracker.log({k: v for k, v in record.items() if k != "epoch"} | {"best": progress.best_metric}, step=epoch)
        if dist.is_main:
            logger.info("epoch %d/%d: train loss %.4f, val loss %.4f, val %s r %.4f (best %.4f @ %d), %.0f samples/s",
                        epoch, config.epochs, train_loss, val_loss, progress.selection, value, progress.best_metric,
                        progress.best_epoch, throughput)  # fmt: skip
        rng_states = all_gather_object(dist, ckpt.rng_state())  # last, so the resumed run continues from here
        if dist.is_main:
            payload = ckpt.checkpoint_payload(module, optimizer, scheduler, epoch, asdict(progress),
                                              config.to_dict(), rng_states)  # fmt: skip
            ckpt.save_atomic(payload, last)
            if improved:
                ckpt.save_atomic(payload, directory / ckpt.BEST)
        barrier(dist)
        ran += 1
        if config.stop_after_epochs is not None and ran >= config.stop_after_epochs and epoch < config.epochs:
            return FitResult(progress, epoch, True, num_parameters)
    completed = progress.history[-1]["epoch"] if progress.history else done
    return FitResult(progress, completed, False, num_parameters)
