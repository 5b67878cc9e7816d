"""The run-directory contract: the files a training run (or a classical-baselines comparison) leaves behind, named
in this one place, so that writers (the trainer, the baselines asset) and readers (benchmarks, convergence, strain
design, the Pipes reporter, the benches) cannot drift apart."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

METRICS_JSON = "metrics.json"  # per fold and label; bootstrap 95% CIs on the test fold
PREDICTIONS_PARQUET = "predictions.parquet"  # table row, fold, measured and predicted per label
CONFIG_JSON = "config.json"  # the TrainConfig that reproduces the run
CURVE_PNG = "training_curve.png"


@dataclass(frozen=True)
class RunDir:
    """One run's directory and the paths of what it holds."""

    path: Path

    @property
    def metrics(self) -> Path:
        return self.path / METRICS_JSON

    @property
    def predictions(self) -> Path:
        return self.path / PREDICTIONS_PARQUET

    @property
    def config(self) -> Path:
        return self.path / CONFIG_JSON

    @property
    def training_curve(self) -> Path:
        return self.path / CURVE_PNG

    def scatter(self, fold: str, label: str) -> Path:
        """The predicted-vs-measured plot of one fold and label."""
        return self.path / f"scatter_{fold}_{label}.png"

    def read_metrics(self) -> dict:
        return json.loads(self.metrics.read_text())

    def read_config(self) -> dict:
        return json.loads(self.config.read_text())
