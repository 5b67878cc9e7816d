"""Notice new or changed files in the raw directory and refresh that source and what depends on it."""

import json

import dagster as dg

from torchcell_assets.defs.sources.releases import SOURCE_ASSETS
from torchcell_assets.lib.automation import TRAINING_INPUTS
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.hashing import json_digest


def raw_fingerprints(storage: TorchcellStorage) -> dict[str, list]:
    """Per source key: sorted (file name, size, mtime) of what is in `$TORCHCELL_RAW_DIR/<key>/`."""
    fingerprints = {}
    for asset in SOURCE_ASSETS:
        key = asset.key.to_user_string()
        directory = storage.raw(key)
        files = sorted(p for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []
        fingerprints[key] = [[p.name, p.stat().st_size, int(p.stat().st_mtime)] for p in files]
    return fingerprints


@dg.sensor(
    target=dg.AssetSelection.assets(*SOURCE_ASSETS).downstream() & TRAINING_INPUTS,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def raw_files_sensor(context: dg.SensorEvaluationContext, storage: TorchcellStorage) -> dg.SensorResult:
    """A source whose raw files appeared, changed or vanished is re-materialized with its dependents up to the
    training inputs (models are retrained deliberately)."""
    current = raw_fingerprints(storage)
    previous = json.loads(context.cursor) if context.cursor else None
    changed = [] if previous is None else [key for key, files in current.items() if previous.get(key) != files]
    requests = [
        dg.RunRequest(
            run_key=f"{key}:{json_digest(current[key])}",
            asset_selection=list(
                (dg.AssetSelection.assets(key).downstream() & TRAINING_INPUTS).resolve(
                    context.repository_def.asset_graph
                )
            ),
            tags={"torchcell/trigger": f"raw files changed: {key}"},
        )
        for key in changed
    ]
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(current))
