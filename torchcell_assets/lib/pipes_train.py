"""Training under Dagster Pipes: `python -m torchcell_assets.lib.pipes_train <torchcell_core.train.run argv>`.

Every rank trains exactly as `torchcell_core.train.run` does; rank 0, when launched by a Pipes client,
also forwards its log lines to Dagster and reports the materialization (metrics, run directory,
predictions digest as the data version) and the `predictions_complete` check back to the asset.
Only `dagster_pipes` is imported here, so the training child stays free of the orchestrator itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR, PipesContext, open_dagster_pipes

from torchcell_core.train.config import parse_args
from torchcell_core.train.prediction_check import PREDICTIONS_COMPLETE, fold_rows, prediction_completeness
from torchcell_core.train.run import main as train_main
from torchcell_core.train.run_dir import RunDir


class PipesLogHandler(logging.Handler):
    """Sends the training's log records to the Dagster run (they show in the UI's run log)."""

    def __init__(self, pipes: PipesContext) -> None:
        super().__init__(logging.INFO)
        self.pipes = pipes

    def emit(self, record: logging.LogRecord) -> None:
        self.pipes.log.info(self.format(record))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_metadata(document: dict[str, Any], out: Path, run_dir: str) -> dict[str, Any]:
    """Plain metadata of a finished run: test Pearson per target, size, speed and where it lives."""
    test = document["splits"].get("test", {})
    return {
        **{f"test_{label}_pearson": float(values["pearson"]) for label, values in test.items()},
        "num_parameters": int(document["num_parameters"]),
        "train_samples_per_s": float(document["train_samples_per_s"] or 0.0),
        "epochs_completed": int(document["epochs_completed"]),
        "world_size": int(document["world_size"]),
        "best_epoch": int(document["selection"]["best_epoch"] or 0),
        "run_dir": {"raw_value": run_dir, "type": "path"},
        "predictions_sha256": _sha256(RunDir(out).predictions),
    }


def report(pipes: PipesContext, document: dict[str, Any], argv: list[str]) -> None:
    """Report the materialization and the predictions check of the run configured by `argv`."""
    config = parse_args(argv)
    out = Path(config.out)
    run_dir = str(pipes.get_extra("run_dir")) if "run_dir" in pipes.extras else str(out)
    metadata = run_metadata(document, out, run_dir)
    pipes.report_asset_materialization(metadata=metadata, data_version=metadata["predictions_sha256"][:16])
    predictions = pd.read_parquet(RunDir(out).predictions)
    predicted = [c for c in predictions.columns if c.startswith("predicted_")]
    passed, figures = prediction_completeness(predictions, fold_rows(config.dataset, config.split), predicted)
    pipes.report_asset_check(PREDICTIONS_COMPLETE, passed=passed, metadata=figures)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if int(os.environ.get("RANK", "0")) != 0 or DAGSTER_PIPES_CONTEXT_ENV_VAR not in os.environ:
        train_main(argv)
        return
    with open_dagster_pipes() as pipes:
        handler = PipesLogHandler(pipes)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logging.getLogger("torchcell_core").addHandler(handler)
        document = train_main(argv)
        if document is None:
            raise RuntimeError("training stopped before its final report (interrupted run)")
        report(pipes, document, argv)


if __name__ == "__main__":
    main()
