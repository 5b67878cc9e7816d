"""The end of a run: the best weights predict every fold, and rank 0 writes what a reader looks at.

Outputs in the run directory: `metrics.json` (per fold and label; bootstrap 95% CIs on the test fold),
`predictions.parquet` (table row, fold, measured and predicted per label), `training_curve.png` and one
predicted-vs-measured scatter per label of the test fold (the validation fold when there is no test).
Final numbers come from `best.pt` (the validation criterion of loop.py), or `last.pt` when no epoch
improved it; for models with BatchNorm, that file holds the running statistics loop.py recomputed for its
weights after training.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from torch import nn

from torchcell_core.evaluation.metrics_ci import split_metrics
from torchcell_core.train import checkpoint as ckpt
from torchcell_core.train.config import TrainConfig
from torchcell_core.train.data import RunData
from torchcell_core.train.distributed import DistributedContext, barrier
from torchcell_core.train.loop import FitResult, predict
from torchcell_core.train.run_dir import RunDir
from torchcell_core.train.tracking import Tracker

CI_FOLD = "test"


def json_ready(value: Any) -> Any:
    """`value` with NaN and ±inf replaced by None, numpy scalars by Python ones (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def predictions_table(data: RunData, predictions: dict[str, np.ndarray], split: str) -> pa.Table:
    """One row per sample of every fold: `row`, `split` (the fold), `measured_<label>` (null where
    unmeasured) and `predicted_<label>`; the split column's name is in the schema metadata."""
    folds = list(predictions)
    columns: dict[str, Any] = {
        "row": np.concatenate([data.folds[f].rows.numpy() for f in folds]),
        "split": pa.array([f for f in folds for _ in range(len(data.folds[f]))], pa.string()),
    }
    names = data.folds[folds[0]].label_names
    for j, name in enumerate(names):
        measured = np.concatenate([data.folds[f].labels[:, j].numpy().astype(np.float64) for f in folds])
        mask = np.concatenate([data.folds[f].mask[:, j].numpy() for f in folds])
        columns[f"measured_{name}"] = pa.array(measured, pa.float64(), mask=~mask)
        columns[f"predicted_{name}"] = pa.array(np.concatenate([predictions[f][:, j] for f in folds]), pa.float64())
    return pa.table(columns).replace_schema_metadata({"split_column": split})


def training_curve(history: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Train and validation loss, and validation Pearson r per label, against the epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [record["epoch"] for record in history]
    fig, (loss_ax, r_ax) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=110)
    loss_ax.plot(epochs, [r["train_loss"] for r in history], label="train")
    loss_ax.plot(epochs, [r["val_loss"] for r in history], label="validation")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.legend()
    labels = list(history[0]["val"]) if history else []
    for label in labels:
        r_ax.plot(epochs, [r["val"][label]["pearson"] for r in history], label=label)
    r_ax.set_xlabel("epoch")
    r_ax.set_ylabel("validation Pearson r")
    if labels:
        r_ax.legend()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _load_final_weights(model: nn.Module, out: Path) -> str:
    """Put best.pt's weights (else last.pt's) into `model`; returns which file was used."""
    directory = out / "checkpoints"
    chosen = directory / ckpt.BEST if (directory / ckpt.BEST).is_file() else directory / ckpt.LAST
    ckpt.unwrap(model).load_state_dict(ckpt.load_checkpoint(chosen)["model"])
    return chosen.name


def final_report(
    model: nn.Module,
    data: RunData,
    config: TrainConfig,
    dist: DistributedContext,
    tracker: Tracker,
    out: Path,
    result: FitResult,
) -> dict[str, Any] | None:
    """Predict every fold with the final weights (all ranks), then write the outputs (rank 0, which
    returns the metrics document; other ranks return None)."""
    barrier(dist)
    weights = _load_final_weights(model, out)
    predictions = {fold: predict(model, dataset, config, dist) for fold, dataset in data.folds.items()}
    if not dist.is_main:
        return None
    splits = {}
    for fold, dataset in data.folds.items():
        p_value = None if data.p_values is None else data.p_values[fold]
        splits[fold] = split_metrics(
            dataset.labels.numpy(),
            dataset.mask.numpy(),
            predictions[fold],
            dataset.label_names,
            p_value=p_value,
            seed=config.seed,
            n_resamples=config.bootstrap if fold == CI_FOLD else 0,
        )
    history = result.progress.history
    throughputs = [record["samples_per_s"] for record in history]
    document = {
        "model": config.model,
        "weights": weights,
        "num_parameters": result.num_parameters,
        "world_size": dist.world_size,
        "selection": {
            "metric": f"val/{result.progress.selection}/pearson",
            "best": result.progress.best_metric,
            "best_epoch": result.progress.best_epoch,
        },
        "epochs_completed": result.epochs_completed,
        "stopped_early": result.progress.stopped_early,
        "train_samples_per_s": float(np.mean(throughputs)) if throughputs else None,
        "bootstrap": {"fold": CI_FOLD, "resamples": config.bootstrap, "seed": config.seed, "confidence": 0.95},
        "splits": splits,
        "history": history,
    }
    files = RunDir(out)
    files.metrics.write_text(json.dumps(json_ready(document), indent=2))
    pq.write_table(predictions_table(data, predictions, config.split), files.predictions)
    training_curve(history, files.training_curve, f"{config.model} on {Path(config.dataset).stem}")
    tracker.log_image("training_curve", files.training_curve)
    _scatter_plots(data, predictions, config, tracker, out)
    tracker.summary(
        {
            "num_parameters": result.num_parameters,
            "train_samples_per_s": document["train_samples_per_s"],
            "best_epoch": result.progress.best_epoch,
            "final": splits,
        }
    )
    return document


def _scatter_plots(
    data: RunData, predictions: dict[str, np.ndarray], config: TrainConfig, tracker: Tracker, out: Path
) -> None:
    """One predicted-vs-measured scatter per label with measured rows, on the test fold (else val)."""
    from torchcell_core.evaluation.plots import scatter_predicted_vs_measured

    fold = CI_FOLD if CI_FOLD in predictions else "val"
    dataset = data.folds[fold]
    for j, label in enumerate(dataset.label_names):
        keep = dataset.mask[:, j].numpy()
        if keep.sum() < 2:
            continue
        path = scatter_predicted_vs_measured(
            dataset.labels[keep, j].numpy(),
            predictions[fold][keep, j],
            RunDir(out).scatter(fold, label),
            f"{config.model}: {label}, {fold} fold",
            label=label,
        )
        tracker.log_image(f"scatter/{fold}/{label}", path)
