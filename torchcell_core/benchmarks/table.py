"""Benchmark rows: a model's test metrics beside the mean baseline and the noise ceiling."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from torchcell_core.duckdb_tables import replace_table
from torchcell_core.evaluation.metrics import regression_metrics

BENCHMARK_TABLE = "benchmark_results"


def benchmark_rows(
    predictions: pd.DataFrame, card: dict, truth: pd.DataFrame | None, eval_split: str = "test"
) -> pd.DataFrame:
    """Rows for `eval_split`: the model, a train-mean baseline and (with truth) the noise ceiling.

    `predictions` has gene_a, gene_b, split, measured, predicted; `truth` has gene_a,
    gene_b, epsilon_true (simulated screens only).
    """
    test = predictions[predictions["split"] == eval_split]
    if test.empty:
        raise ValueError(f"no rows in split {eval_split!r}")
    train_mean = float(predictions.loc[predictions["split"] == "train", "measured"].mean())
    common = {
        "dataset": "digenic",
        "target": card["target"],
        "split_type": "random",
        "eval_split": eval_split,
        "simulated": bool(card.get("simulated", False)),
        "dataset_sha256": card["dataset_sha256"],
    }
    rows = [
        {"model": card["model"], "features": card["features"], "parameters": card["parameters"],
         "train_seconds": card["train_seconds"], **regression_metrics(test["measured"], test["predicted"])},
        {"model": "train_mean", "features": "none", "parameters": 1, "train_seconds": 0.0,
         **regression_metrics(test["measured"], np.full(len(test), train_mean))},
    ]  # fmt: skip
    if truth is not None:
        joined = test.merge(truth, on=["gene_a", "gene_b"], how="inner")
        rows.append(
            {"model": "noise_ceiling (truth as prediction)", "features": "simulator truth", "parameters": 0,
             "train_seconds": 0.0, **regression_metrics(joined["measured"], joined["epsilon_true"])}
        )  # fmt: skip
    return pd.DataFrame([{**common, **row} for row in rows])


def store_benchmark(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> None:
    """Replace the benchmark table with `rows`, in one transaction."""
    replace_table(con, BENCHMARK_TABLE, rows)
