"""Where the trained neural models are: one `TrainedRun` per model asset (partition) that has materialized.

Downstream assets (benchmarks, convergence projections, strain design) find run directories here, from the
instance's materialization records, so that lineage and the UI agree on which run a number came from.
"""

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd

from torchcell_assets.defs.models.baselines import classical_baselines
from torchcell_assets.defs.models.training import MODEL_ASSETS
from torchcell_assets.lib.metadata import latest_materialization, metadata_table
from torchcell_assets.lib.storage import TorchcellStorage


@dataclass(frozen=True)
class TrainedRun:
    """One materialized model run: `run_dir` holds config.json, metrics.json, predictions.parquet and
    checkpoints/best.pt (see torchcell_core.train); `data_version` is that materialization's data version."""

    model: str
    dataset: str
    asset_key: dg.AssetKey
    partition: str | None
    run_dir: Path
    metadata: dict
    split: str = ""
    data_version: str = ""


def trained_runs(instance: dg.DagsterInstance, storage: TorchcellStorage, classical: bool = False) -> list[TrainedRun]:
    """Every materialized partition of every neural model asset (its latest run), in model then partition order;
    with `classical`, the `classical_baselines` partitions too (model `classical_baselines`: one run directory
    holds the baselines and classical models of that comparison). Run directories recorded relative to the data
    directory are resolved under `storage`'s (absolute ones, recorded by older runs, are kept)."""
    runs = []
    assets = {**MODEL_ASSETS, **({"classical_baselines": classical_baselines} if classical else {})}
    for model, asset in assets.items():
        for partition in sorted(instance.get_materialized_partitions(asset.key)):
            record = latest_materialization(instance, asset.key, partition)
            if record is None or not record.metadata.get("run_dir"):
                continue
            run_dir = storage.resolve(str(record.metadata["run_dir"]))
            if not run_dir.is_dir():
                continue
            metadata = record.metadata
            runs.append(TrainedRun(model, str(metadata["dataset"]), asset.key, partition, run_dir, metadata,
                                   str(metadata.get("split", "")), record.data_version))  # fmt: skip
    return runs


def inputs_table(runs: list[TrainedRun], storage: TorchcellStorage) -> dg.TableMetadataValue:
    """The model partitions an asset read, as table metadata: asset, partition, the data version of the
    materialization read, its run directory (relative to the data directory) and its dataset's sha256."""
    columns = ["asset", "partition", "data_version", "run_dir", "dataset_sha256"]
    rows = [(run.asset_key.to_user_string(), run.partition or "", run.data_version, storage.relative(run.run_dir),
             str(run.metadata.get("dataset_sha256", ""))) for run in runs]  # fmt: skip
    return metadata_table(pd.DataFrame(rows, columns=columns), rows=max(len(rows), 1))
