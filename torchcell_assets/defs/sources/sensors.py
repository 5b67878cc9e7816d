"""Notice new or changed files in the raw directory and refresh that source and what depends on it, once the
files have stopped changing."""

import json
from fnmatch import fnmatchcase

import dagster as dg

from torchcell_assets.defs.sources.genome import go_dag, s288c_genome
from torchcell_assets.defs.sources.releases import SOURCE_ASSETS
from torchcell_assets.lib.automation import TRAINING_INPUTS
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.hashing import json_digest
from torchcell_core.sources.registry import REGISTRY

# Raw folder (a registry key) → the asset that reads it: each source release, the GO DAG (`go/`: go-basic.obo or
# GO.sqlite) and the genome (`sgd_genome/`: SGD's GFF3).
WATCHED = {
    **{asset.key.to_user_string(): asset.key for asset in SOURCE_ASSETS},
    "go": go_dag.key,
    "sgd_genome": s288c_genome.key,
}


def raw_fingerprints(storage: TorchcellStorage) -> dict[str, list]:
    """Per raw folder (`WATCHED`): sorted (file name, size, mtime) of its source's files (registry names only, so a
    README or .DS_Store does not count) in `$TORCHCELL_RAW_DIR/<key>/`."""
    fingerprints = {}
    for key in WATCHED:
        patterns = [source_file.name for source_file in REGISTRY[key].files]
        directory = storage.raw(key)
        files = sorted(p for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []
        owned = [p for p in files if any(fnmatchcase(p.name, pattern) for pattern in patterns)]
        fingerprints[key] = [[p.name, p.stat().st_size, int(p.stat().st_mtime)] for p in owned]
    return fingerprints


def settled_changes(settled: dict, observed: dict, current: dict) -> list[str]:
    """Sources whose files differ from what was last acted on (`settled`) and are unchanged since the previous
    tick (`observed`): a file still being copied changes between ticks and waits."""
    return [key for key, files in current.items() if files != settled.get(key) and files == observed.get(key)]


def _read_cursor(cursor: str | None, current: dict) -> tuple[dict, dict]:
    """(settled, observed) from the cursor; the first tick (no cursor) takes what is there as settled, and so does
    the first tick that watches a folder the cursor does not know yet."""
    if not cursor:
        return current, current
    state = json.loads(cursor)
    if "settled" not in state:  # the cursor before stability was tracked: the fingerprints of the last tick
        state = {"settled": state, "observed": state}
    return {**current, **state["settled"]}, {**current, **state["observed"]}


@dg.sensor(
    target=dg.AssetSelection.assets(*WATCHED.values()).downstream() & TRAINING_INPUTS,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Refreshes a source whose raw files appeared, changed or vanished, once their sizes and mtimes "
    "are unchanged across two consecutive ticks (a copy in progress waits), with its dependents up to the "
    "training inputs.",
)
def raw_files_sensor(context: dg.SensorEvaluationContext, storage: TorchcellStorage) -> dg.SensorResult:
    """A source whose raw files appeared, changed or vanished is re-materialized with its dependents up to the
    training inputs (models are retrained deliberately), once its files are the same on two consecutive ticks."""
    current = raw_fingerprints(storage)
    settled, observed = _read_cursor(context.cursor, current)
    changed = settled_changes(settled, observed, current)
    requests = [
        dg.RunRequest(
            run_key=f"{key}:{json_digest(current[key])}",
            asset_selection=list(
                (dg.AssetSelection.assets(WATCHED[key]).downstream() & TRAINING_INPUTS).resolve(
                    context.repository_def.asset_graph
                )
            ),
            tags={"torchcell/trigger": f"raw files changed: {key}"},
        )
        for key in changed
    ]
    settled = {**settled, **{key: current[key] for key in changed}}
    pending = sorted(key for key, files in current.items() if files != settled.get(key))
    if pending:
        context.log.info(f"waiting for files to stop changing: {', '.join(pending)}")
    return dg.SensorResult(
        run_requests=requests, cursor=json.dumps({"settled": settled, "observed": current}, sort_keys=True)
    )
