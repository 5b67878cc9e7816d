"""Where the trained neural models are: one `TrainedRun` per model asset (partition) that has materialized.

Downstream assets (benchmarks, convergence projections, strain design) find run directories here, from the
instance's materialization records, so that lineage and the UI agree on which run a number came from.
"""

from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from torchcell_assets.defs.models.baselines import classical_baselines
from torchcell_assets.defs.models.training import MODEL_ASSETS


@dataclass(frozen=True)
class TrainedRun:
    """One materialized model run: `run_dir` holds config.json, metrics.json, predictions.parquet and
    checkpoints/best.pt (see torchcell_core.train)."""

    model: str
    dataset: str
    asset_key: dg.AssetKey
    partition: str | None
    run_dir: Path
    metadata: dict
    split: str = ""


def latest_partition_metadata(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> dict | None:
    """The plain metadata values of the latest materialization of one partition of `key`."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(key, asset_partitions=[partition]), limit=1)
    if not records.records:
        return None
    materialization = records.records[0].asset_materialization
    return {name: value.value for name, value in materialization.metadata.items()}


def trained_runs(instance: dg.DagsterInstance, classical: bool = False) -> list[TrainedRun]:
    """Every materialized partition of every neural model asset (its latest run), in model then partition order;
    with `classical`, the `classical_baselines` partitions too (model `classical_baselines`: one run directory
    holds the baselines and classical models of that comparison)."""
    runs = []
    assets = {**MODEL_ASSETS, **({"classical_baselines": classical_baselines} if classical else {})}
    for model, asset in assets.items():
        for partition in sorted(instance.get_materialized_partitions(asset.key)):
            metadata = latest_partition_metadata(instance, asset.key, partition)
            if metadata is None or not Path(str(metadata.get("run_dir", ""))).is_dir():
                continue
            runs.append(TrainedRun(model, str(metadata["dataset"]), asset.key, partition, Path(metadata["run_dir"]),
                                   metadata, str(metadata.get("split", ""))))  # fmt: skip
    return runs
