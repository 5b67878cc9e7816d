"""Where the trained models are: one `TrainedRun` per model asset partition that has materialized.

Downstream assets (benchmarks, convergence projections, strain design) find run directories here through the
storage layout (`TorchcellStorage.model_run_dirs`, `classical_run_dir`); the instance says only which partitions
materialized and the data version of each one's latest materialization, which picks among a partition's run
directories (one per graph set) the one whose predictions that materialization reported. What a run holds is in
its own directory (`RunDir`: config.json, metrics.json, predictions.parquet).
"""

from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pandas as pd

from torchcell_assets.defs.models.baselines import classical_baselines
from torchcell_assets.defs.models.partitions import MODEL_PARTITIONS
from torchcell_assets.defs.models.training import MODEL_ASSETS
from torchcell_assets.lib.metadata import latest_materialization, metadata_table
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.hashing import file_sha256
from torchcell_core.train.run_dir import RunDir

CLASSICAL = "classical_baselines"
VERSION_CHARS = 16  # a training run's data version: the first 16 hex digits of its predictions' sha256


@dataclass(frozen=True)
class TrainedRun:
    """One materialized model run: `run_dir` holds config.json, metrics.json, predictions.parquet and
    checkpoints/best.pt (see torchcell_core.train); `config` is its config.json ({} for classical baselines);
    `data_version` is the data version of the partition's latest materialization."""

    model: str
    dataset: str
    asset_key: dg.AssetKey
    partition: str | None
    run_dir: Path
    config: dict = field(default_factory=dict)
    split: str = ""
    data_version: str = ""


def predictions_version(run_dir: Path) -> str:
    """The data version a materialization of the run in `run_dir` reports ("" without predictions)."""
    predictions = RunDir(run_dir).predictions
    return file_sha256(predictions)[:VERSION_CHARS] if predictions.is_file() else ""


def materialized_run_dir(candidates: list[Path], data_version: str) -> Path | None:
    """Among a partition's run directories, the one holding the predictions of the materialization with
    `data_version`; with no data version recorded, the single candidate (several: None, it is ambiguous)."""
    finished = [path for path in candidates if RunDir(path).metrics.is_file()]
    if not data_version:
        return finished[0] if len(finished) == 1 else None
    return next((path for path in finished if predictions_version(path) == data_version), None)


def trained_runs(instance: dg.DagsterInstance, storage: TorchcellStorage, classical: bool = False) -> list[TrainedRun]:
    """Every materialized partition of every neural model asset (its latest run), in model then partition order;
    with `classical`, the `classical_baselines` partitions too (model `classical_baselines`: one run directory
    holds the baselines and classical models of that comparison). A partition whose run directory is not in this
    storage's layout (not trained here, or replaced since) is left out."""
    runs = []
    assets = {**MODEL_ASSETS, **({CLASSICAL: classical_baselines} if classical else {})}
    for model, asset in assets.items():
        for partition in sorted(instance.get_materialized_partitions(asset.key)):
            dataset, split = _comparison(partition)
            record = latest_materialization(instance, asset.key, partition)
            version = "" if record is None else record.data_version
            if model == CLASSICAL:
                candidates = [storage.classical_run_dir(dataset, split)]
            else:
                candidates = storage.model_run_dirs(model, dataset, split)
            run_dir = materialized_run_dir(candidates, version)
            if run_dir is None:
                continue
            config = RunDir(run_dir).read_config() if RunDir(run_dir).config.is_file() else {}
            runs.append(TrainedRun(model, dataset, asset.key, partition, run_dir, config, split, version))
    return runs


def _comparison(partition: str) -> tuple[str, str]:
    """(dataset, split) of a model partition key (`MODEL_PARTITIONS`: dataset and split dimensions)."""
    keys = MODEL_PARTITIONS.get_partition_key_from_str(partition).keys_by_dimension
    return keys["dataset"], keys["split"]


def inputs_table(runs: list[TrainedRun], storage: TorchcellStorage) -> dg.TableMetadataValue:
    """The model partitions an asset read, as table metadata: asset, partition, the data version of the
    materialization read, its run directory (relative to the data directory) and the sha256 of its dataset's
    Parquet as the asset read it."""
    columns = ["asset", "partition", "data_version", "run_dir", "dataset_sha256"]
    digests: dict[str, str] = {}
    for dataset in {run.dataset for run in runs}:
        path = storage.dataset_parquet(dataset)
        digests[dataset] = file_sha256(path) if path.is_file() else ""
    rows = [
        (
            run.asset_key.to_user_string(),
            run.partition or "",
            run.data_version,
            storage.relative(run.run_dir),
            digests[run.dataset],
        )
        for run in runs
    ]
    return metadata_table(pd.DataFrame(rows, columns=columns), rows=max(len(rows), 1))
