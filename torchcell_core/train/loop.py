"""The epoch loop: DDP training with AdamW, a scheduler, clipping, validation, checkpoints, early stopping.

Every rank trains on its `DistributedSampler` shard; validation runs sharded too and the predictions of
all ranks are gathered (`all_gather`, padding rows of the sampler dropped by table row), so every rank
computes the same metrics over the full validation fold and makes the same early-stopping decision.
The checkpoint criterion is the validation Pearson r of the interaction label when the validation fold
measures at least 3 distinct interaction values, else of the first label (fitness); an undefined r
(constant predictions) never counts as an improvement. Rank 0 writes `last.pt` every epoch and `best.pt`
when the criterion improves; a rerun with the same `--out` resumes from `last.pt`.

After the last epoch, a model with BatchNorm layers gets its running statistics recomputed for the final
weights (`best.pt`, else `last.pt`, the file the final report loads): running averages taken while the
weights moved are noisy for rarely active features (DCell's rarely perturbed terms shifted its eval-mode
interaction predictions by about +0.03). The statistics are the average over up to `RECALIBRATION_BATCHES`
training batches (a fixed shuffle) of their batch statistics, averaged over ranks, and rank 0 writes them
into that checkpoint, so the report, and whoever loads the checkpoint later, predict with them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from torchcell_core.datasets.loader import (
    PermutationBatchSampler,
    PerturbationBatch,
    PerturbationDataset,
    make_loader,
)
from torchcell_core.evaluation.metrics_ci import INTERACTION_LABEL, split_metrics
from torchcell_core.models.base import masked_loss
from torchcell_core.progress import progress as progress_bar
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
DEFAULT_EVAL_BATCH_SIZE = 4096  # automatic evaluation batch of a model that declares no `eval_memory` estimate
EVAL_MEMORY_PROBE = 256  # samples (a seeded random draw of the fold) the evaluation memory estimate reads
RECALIBRATION_BATCHES = 50  # training batches per rank whose statistics become BatchNorm's running statistics
RECALIBRATION_EPOCH = 0  # the shuffle of the recalibration batches (training epochs are 1, 2, ...)
BATCH_LINE_EVERY_S = 60.0  # a line on the batches of a long epoch (the epochs' own progress: every 10 s)
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
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    dist: DistributedContext,
    loss_kind: str,
    description: str = "train epoch",
) -> tuple[float, float]:
    """One pass over this rank's shard: (mean loss per sample over all ranks, samples/s over all ranks). Rank 0
    shows the batches done (a bar on a terminal, a log line each `BATCH_LINE_EVERY_S`)."""
    model.train()
    device = dist.device
    total = torch.zeros(2, dtype=torch.float64, device=device)  # [loss × samples, samples]
    started = time.perf_counter()
    batches = progress_bar(
        loader,
        description,
        "batches",
        logger if dist.is_main else None,
        BATCH_LINE_EVERY_S,
        bar=None if dist.is_main else False,
        final=False,
    )
    for batch in batches:
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


def eval_batch_size(
    model: nn.Module | None, dataset: PerturbationDataset, config: TrainConfig, device: torch.device | str = "cpu"
) -> int:
    """`config.eval_batch_size`, or when it is 0 (automatic) the largest batch whose evaluation memory, as the
    model estimates it (`eval_memory(batch) -> (fixed bytes, bytes per sample)` on a seeded random probe of
    `dataset`), fits `config.eval_memory_gib`; at least 1, at most the fold. A model without an estimate gets
    `DEFAULT_EVAL_BATCH_SIZE`. Every rank draws the same probe, so every rank picks the same size."""
    if config.eval_batch_size:
        return config.eval_batch_size
    estimate = getattr(ckpt.unwrap(model), "eval_memory", None) if model is not None else None
    if estimate is None or len(dataset) == 0:
        return DEFAULT_EVAL_BATCH_SIZE
    probe = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(config.seed))[:EVAL_MEMORY_PROBE]
    fixed, per_sample = estimate(dataset.__getitems__(probe.sort().values).to(device))
    room = config.eval_memory_gib * 2**30 - fixed
    if room < per_sample:
        logger.warning(
            "evaluation needs about %.0f MiB before any sample and %.1f MiB per sample, more than "
            "eval_memory_gib %.2f; evaluating one sample at a time",
            fixed / 2**20,
            per_sample / 2**20,
            config.eval_memory_gib,
        )
    size = int(room // per_sample) if per_sample > 0 else len(dataset)
    return max(1, min(size, len(dataset)))


def evaluation_loader(
    dataset: PerturbationDataset, config: TrainConfig, dist: DistributedContext, model: nn.Module | None = None
) -> DataLoader:
    """Unshuffled batches of `eval_batch_size` (automatic: sized by `model`'s memory estimate); under DDP each
    rank gets its shard."""
    size = eval_batch_size(model, dataset, config, dist.device)
    if dist.is_main and not config.eval_batch_size:
        logger.info(
            "evaluation batch size %d for %d samples (automatic, eval_memory_gib %.2f)",
            size,
            len(dataset),
            config.eval_memory_gib,
        )
    return make_loader(
        dataset,
        size,
        shuffle=False,
        distributed=dist.is_distributed,
        num_workers=config.num_workers,
        pin_memory=dist.device.type == "cuda",
    )


@torch.no_grad()
def predict(
    model: nn.Module,
    dataset: PerturbationDataset,
    config: TrainConfig,
    dist: DistributedContext,
    loader: DataLoader | None = None,
) -> np.ndarray:
    """Predictions [N, L] float64 for every sample of `dataset`, in dataset order, on every rank.

    Each rank predicts its `DistributedSampler` shard (`loader`, else a new `evaluation_loader`); the
    shards are gathered and the sampler's padding (repeated samples) dropped by table row.
    """
    module = ckpt.unwrap(model)
    module.eval()
    loader = evaluation_loader(dataset, config, dist, module) if loader is None else loader
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
    return float(loss), split_metrics(
        dataset.labels.numpy(), dataset.mask.numpy(), predictions, dataset.label_names, p_value=p_value
    )


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of `model` that keep running statistics (the ones eval mode reads)."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module,
    loader: Iterable[PerturbationBatch],
    dist: DistributedContext,
    max_batches: int = RECALIBRATION_BATCHES,
    seed: int = 0,
) -> int:
    """Replace every BatchNorm layer's running statistics by the mean of its batch statistics over the first
    `max_batches` batches of `loader` (train mode, current weights), averaged over ranks (weighted by their
    batch counts), so eval mode normalises with statistics of the final weights rather than a running average
    over weights that kept changing. Returns the batches used on this rank (0: no BatchNorm, `model` untouched).

    Batches of fewer than 2 samples are skipped (no batch variance). Momentum and `num_batches_tracked` are put
    back; the model is left in eval mode, and the global RNG (dropout in train mode) is seeded and restored.
    """
    layers = batchnorm_layers(model)
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    tracked = [layer.num_batches_tracked.clone() for layer in layers]  # [] each
    saved = [(layer.running_mean.clone(), layer.running_var.clone()) for layer in layers]  # [C] each
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average: running stat = mean over the batches seen since the reset
    model.train()
    used = 0
    cuda = [dist.device] if dist.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=cuda):
            torch.random.default_generator.manual_seed(seed)
            if cuda:
                torch.cuda.manual_seed(seed)
            for batch in loader:
                if len(batch) < 2:
                    continue
                model(batch.to(dist.device, non_blocking=True))
                used += 1
                if used >= max_batches:
                    break
        # one collective for all layers: [sum_i 2 C_i] = each layer's mean [C_i] and variance [C_i] times `used`
        stats = [t.to(torch.float64).flatten() * used for m in layers for t in (m.running_mean, m.running_var)]
        local = torch.cat(stats)
        total = all_reduce_sum(dist, torch.cat([local, local.new_tensor([used])]))  # on CPU, float64
        batches = float(total[-1])
        offset = 0
        for layer, (mean, var) in zip(layers, saved, strict=True):
            width = layer.running_mean.numel()
            if batches > 0:
                mean = total[offset : offset + width] / batches  # [C]
                var = total[offset + width : offset + 2 * width] / batches  # [C]
            layer.running_mean.copy_(mean.to(layer.running_mean))
            layer.running_var.copy_(var.to(layer.running_var))
            offset += 2 * width
    finally:
        for layer, momentum, count in zip(layers, momenta, tracked, strict=True):
            layer.momentum = momentum
            layer.num_batches_tracked.copy_(count)
        model.eval()
    return used


def _recalibrate_final_weights(
    module: nn.Module, loader: DataLoader, config: TrainConfig, dist: DistributedContext, directory: Path
) -> None:
    """Load the final weights (best.pt, else last.pt, as the report does), recalibrate their BatchNorm statistics
    on the training batches of a fixed shuffle and, on rank 0, write them back into that checkpoint; a model
    without BatchNorm is left alone (no load, no write)."""
    if not batchnorm_layers(module):
        return
    chosen = directory / ckpt.BEST if (directory / ckpt.BEST).is_file() else directory / ckpt.LAST
    if not chosen.is_file():
        return
    payload = ckpt.load_checkpoint(chosen)
    module.load_state_dict(payload["model"])
    set_epoch(loader, RECALIBRATION_EPOCH, config.seed)
    started = time.perf_counter()
    used = recalibrate_batchnorm(module, loader, dist, RECALIBRATION_BATCHES, config.seed + dist.rank)
    # every rank has read `chosen` before the all-reduce inside recalibrate_batchnorm, so rank 0 may replace it
    if dist.is_main:
        payload["model"] = module.state_dict()
        payload["batchnorm_recalibration"] = {"batches_per_rank": used, "world_size": dist.world_size}
        ckpt.save_atomic(payload, chosen)
        logger.info(
            "BatchNorm statistics recalibrated: %d layers, %d training batches x %d rank(s), weights of "
            "%s (epoch %d), %.1f s",
            len(batchnorm_layers(module)),
            used,
            dist.world_size,
            chosen.name,
            int(payload["epoch"]),
            time.perf_counter() - started,
        )
    barrier(dist)


def _resume(
    path: Path, config: TrainConfig, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, rank: int
) -> tuple[int, Progress]:
    """Load `last.pt` into the run; (epochs already done, progress). Changed settings are an error."""
    payload = ckpt.load_checkpoint(path)
    changed = config.resume_mismatches(payload["config"])
    if changed:
        detail = ", ".join(f"{key}: {old!r} → {new!r}" for key, (old, new) in changed.items())
        raise ValueError(
            f"cannot resume from {path}: settings changed ({detail}); restore them, or start afresh: "
            "a new --out or --no-resume on the command line, `resume: false` in a Dagster run config"
        )
    ckpt.restore(payload, model, optimizer, scheduler, rank)
    return int(payload["epoch"]), Progress(**payload["progress"])


def fit(
    model: nn.Module, data: RunData, config: TrainConfig, dist: DistributedContext, tracker: Tracker, out: Path
) -> FitResult:
    """Train `model` (already built and seeded) for `config.epochs`, resuming from `out/checkpoints/last.pt`."""
    if config.epochs < 1:
        raise ValueError(f"fit needs a resolved epoch count (TrainConfig.resolved()), got epochs={config.epochs}")
    module = model.to(dist.device)
    loss_kind = module.loss
    wrapped: nn.Module = module
    if dist.is_distributed:
        wrapped = DistributedDataParallel(
            module,
            device_ids=[dist.device] if dist.device.type == "cuda" else None,
            find_unused_parameters=config.find_unused_parameters,
        )
    optimizer = make_optimizer(module, config)
    scheduler = make_scheduler(optimizer, config)
    train_set, val_set = data.folds["train"], data.folds["val"]
    val_p = None if data.p_values is None else data.p_values["val"]
    train_loader = make_loader(
        train_set,
        config.batch_size,
        shuffle=True,
        seed=config.seed,
        distributed=dist.is_distributed,
        num_workers=config.num_workers,
        pin_memory=dist.device.type == "cuda",
    )
    val_loader = evaluation_loader(val_set, config, dist, module)
    directory = out / "checkpoints"
    last = directory / ckpt.LAST
    done, progress = 0, Progress(selection=selection_label(val_set))
    if config.resume and last.is_file():
        done, progress = _resume(last, config, module, optimizer, scheduler, dist.rank)
    num_parameters = sum(p.numel() for p in module.parameters() if p.requires_grad)
    ran = 0
    epochs = progress_bar(
        config.epochs - done,
        f"train (epochs {done + 1}-{config.epochs})",
        "epochs",
        logger if dist.is_main else None,
        bar=None if dist.is_main else False,
    )
    for epoch in range(done + 1, config.epochs + 1):
        if progress.stopped_early:
            break
        started = time.perf_counter()
        set_epoch(train_loader, epoch, config.seed)
        train_loss, throughput = train_one_epoch(
            wrapped, train_loader, optimizer, config, dist, loss_kind, f"epoch {epoch}/{config.epochs}"
        )
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
        record = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "lr": lr,
            "samples_per_s": throughput,
            "seconds": time.perf_counter() - started,
            "val": metrics,
        }
        progress.history.append(record)
        progress.stopped_early = bool(broadcast_object(dist, progress.stopped_early))
        tracker.log({k: v for k, v in record.items() if k != "epoch"} | {"best": progress.best_metric}, step=epoch)
        if dist.is_main:
            logger.info(
                "epoch %d/%d: train loss %.4f, val loss %.4f, val %s r %.4f (best %.4f @ %d), %.0f samples/s",
                epoch,
                config.epochs,
                train_loss,
                val_loss,
                progress.selection,
                value,
                progress.best_metric,
                progress.best_epoch,
                throughput,
            )
        epochs.set_note(
            f"best val {progress.selection} r {progress.best_metric:.4f} @ epoch {progress.best_epoch}, "
            f"{progress.epochs_without_improvement}/{config.patience} epochs without improvement"
            + (" (early stop)" if progress.stopped_early else "")
        )
        epochs.update(1)
        rng_states = all_gather_object(dist, ckpt.rng_state())  # last, so the resumed run continues from here
        if dist.is_main:
            payload = ckpt.checkpoint_payload(
                module, optimizer, scheduler, epoch, asdict(progress), config.to_dict(), rng_states
            )
            ckpt.save_atomic(payload, last)
            if improved:
                ckpt.save_atomic(payload, directory / ckpt.BEST)
        barrier(dist)
        ran += 1
        if config.stop_after_epochs is not None and ran >= config.stop_after_epochs and epoch < config.epochs:
            epochs.close()
            return FitResult(progress, epoch, True, num_parameters)
    epochs.close()
    _recalibrate_final_weights(module, train_loader, config, dist, directory)
    completed = progress.history[-1]["epoch"] if progress.history else done
    return FitResult(progress, completed, False, num_parameters)
