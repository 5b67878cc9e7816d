"""The GraphQL calls the UI check makes, each the one the web UI makes for the same click: launching assets
(with their checks, and a partition's tags), starting a sensor, waiting for runs, reading an asset's latest
materialization and why it is stale. Used by the UI check (tests/support/ui.py) and bench/ui_path.py."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

ASSET_JOB = "__ASSET_JOB"  # the implicit job the UI's Materialize button launches


class UiCheckError(RuntimeError):
    """Any step of the UI check failed; the message says which and carries the evidence."""


def graphql(base: str, query: str, variables: dict | None = None) -> dict:
    """POST one GraphQL document to `base/graphql`; return `data`, raising on transport or GraphQL errors."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{base}/graphql", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise UiCheckError(f"GraphQL HTTP {error.code}: {error.read().decode(errors='replace')[:2000]}") from error
    if payload.get("errors"):
        raise UiCheckError(f"GraphQL errors: {json.dumps(payload['errors'])[:2000]}")
    return payload["data"]


REPOSITORIES_QUERY = """
query { repositoriesOrError {
  __typename
  ... on RepositoryConnection { nodes { name location { name } } }
  ... on PythonError { message }
} }
"""


def _repository(base: str, quiet: bool = False) -> tuple[str, str] | None:
    """(repositoryLocationName, repositoryName) of the single loaded code location, or None if not loaded."""
    try:
        result = graphql(base, REPOSITORIES_QUERY)["repositoriesOrError"]
    except (UiCheckError, urllib.error.URLError, ConnectionError, TimeoutError):
        if quiet:
            return None
        raise
    nodes = result.get("nodes") or []
    if not nodes:
        if quiet:
            return None
        raise UiCheckError(f"no repository loaded: {result}")
    return nodes[0]["location"]["name"], nodes[0]["name"]


def _selector(base: str) -> dict:
    location, repository = _repository(base)
    return {"repositoryLocationName": location, "repositoryName": repository}


LAUNCH_MUTATION = """
mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename
  ... on LaunchRunSuccess { run { runId } }
  ... on RunConfigValidationInvalid { errors { message } }
  ... on Error { message }
} }
"""
CHECKS_QUERY = """
query Checks($keys: [AssetKeyInput!]) { assetNodes(assetKeys: $keys) {
  assetKey { path } assetChecksOrError { ... on AssetChecks { checks { name jobNames } } }
} }
"""
PARTITION_TAGS_QUERY = """
query Tags($params: PipelineSelector!, $partition: String!, $keys: [AssetKeyInput!]) {
  pipelineOrError(params: $params) { __typename
    ... on Pipeline { partition(partitionName: $partition, selectedAssetKeys: $keys) {
      tagsOrError { __typename ... on PartitionTags { results { key value } } ... on PythonError { message } }
    } }
    ... on Error { message }
  }
}
"""


def asset_check_selection(base: str, assets: Sequence[Sequence[str]], job: str = ASSET_JOB) -> list[dict]:
    """The checks of `assets` that `job` can run, as the UI's Materialize button selects them."""
    nodes = graphql(base, CHECKS_QUERY, {"keys": [{"path": list(path)} for path in assets]})["assetNodes"]
    return [
        {"assetKey": {"path": node["assetKey"]["path"]}, "name": check["name"]}
        for node in nodes
        for check in (node["assetChecksOrError"] or {}).get("checks", [])
        if job in check["jobNames"]
    ]


def partition_tags(base: str, asset: str, partition: str, job: str = ASSET_JOB) -> list[dict]:
    """The run tags of one partition of `asset` (for a multi-partition key, one per dimension too), fetched
    the way the UI's partition dialog fetches them before "Launch 1 run"."""
    variables = {
        "params": {**_selector(base), "pipelineName": job},
        "partition": partition,
        "keys": [{"path": [asset]}],
    }
    result = graphql(base, PARTITION_TAGS_QUERY, variables)["pipelineOrError"]
    tags = ((result.get("partition") or {}).get("tagsOrError") or {}).get("results")
    if not tags:
        raise UiCheckError(f"no run tags for partition {partition!r} of {asset}: {json.dumps(result)[:1000]}")
    return tags


def launch_assets(
    base: str,
    assets: Sequence[Sequence[str]],
    run_config: dict,
    tags: Sequence[dict] = (),
    checks: bool | Sequence[dict] = True,
) -> str:
    """Launch `assets` (key paths) in the implicit asset job with `run_config` and `tags`, with their checks
    (`True`, as the UI selects them), none (`False`) or the given check handles; the executor is the run
    config's, else the code location's default. Returns the run id."""
    selection = [{"path": list(path)} for path in assets]
    chosen = asset_check_selection(base, assets) if checks is True else list(checks or [])
    params = {
        "selector": {
            **_selector(base),
            "pipelineName": ASSET_JOB,
            "assetSelection": selection,
            "assetCheckSelection": chosen,
        },
        "runConfigData": run_config,
        "executionMetadata": {"tags": [{"key": t["key"], "value": t["value"]} for t in tags]},
    }
    result = graphql(base, LAUNCH_MUTATION, {"params": params})["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise UiCheckError(
            f"launchRun of {[p[-1] for p in assets]} returned {result['__typename']}: {json.dumps(result)[:2000]}"
        )
    return result["run"]["runId"]


RUN_QUERY = """
query Run($runId: ID!) { runOrError(runId: $runId) {
  __typename ... on Run { status startTime endTime tags { key value } } ... on Error { message }
} }
"""
RUN_EVENTS_QUERY = """
query Logs($runId: ID!) { logsForRun(runId: $runId) {
  ... on EventConnection { events {
    __typename
    ... on MessageEvent { message stepKey }
    ... on ExecutionStepFailureEvent { error { message } }
    ... on RunFailureEvent { error { message } }
  } }
} }
"""


def run_info(base: str, run_id: str) -> dict:
    """Status, start/end time and tags (as a dict) of one run."""
    run = graphql(base, RUN_QUERY, {"runId": run_id})["runOrError"]
    if "status" not in run:
        raise UiCheckError(f"run {run_id}: {run}")
    return {**run, "tags": {t["key"]: t["value"] for t in run["tags"]}}


def wait_for_run(base: str, run_id: str, timeout_s: float = 600.0) -> str:
    """Poll the run until it ends; return SUCCESS or raise with the run's failure events."""
    deadline = time.monotonic() + timeout_s
    status = "UNKNOWN"
    while time.monotonic() < deadline:
        status = run_info(base, run_id)["status"]
        if status == "SUCCESS":
            return status
        if status in ("FAILURE", "CANCELED"):
            raise UiCheckError(f"run {run_id} ended {status}:\n{run_failure_messages(base, run_id)}")
        time.sleep(3)
    raise UiCheckError(f"run {run_id} still {status} after {timeout_s:.0f}s")


def run_messages(base: str, run_id: str) -> list[dict]:
    """Every event of a run with its type, message and step."""
    return graphql(base, RUN_EVENTS_QUERY, {"runId": run_id})["logsForRun"].get("events", [])


def run_failure_messages(base: str, run_id: str) -> str:
    """The failure events of a run, one per line."""
    failed = [e for e in run_messages(base, run_id) if "Failure" in e["__typename"]]
    return "\n".join(
        f"{e.get('stepKey')}: {e.get('message')} {(e.get('error') or {}).get('message', '')}" for e in failed
    )


def executor_message(base: str, run_id: str) -> str:
    """The run's "Executing steps ..." engine event: which executor ran it (multiprocess or in process)."""
    for event in run_messages(base, run_id):
        if (event.get("message") or "").startswith("Executing steps"):
            return event["message"]
    raise UiCheckError(f"run {run_id} logged no 'Executing steps' event")


SENSOR_QUERY = """
query Sensor($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { __typename
  ... on Sensor { sensorState { status ticks(limit: 5) { status timestamp runIds skipReason error { message } } } }
  ... on Error { message }
} }
"""
SET_CURSOR_MUTATION = """
mutation Cursor($s: SensorSelector!) { setSensorCursor(sensorSelector: $s, cursor: null) {
  __typename ... on Error { message }
} }
"""
START_SENSOR_MUTATION = """
mutation Start($s: SensorSelector!) { startSensor(sensorSelector: $s) {
  __typename ... on Sensor { sensorState { status } } ... on Error { message }
} }
"""


def sensor_ticks(base: str, sensor: str) -> list[dict]:
    """The sensor's latest ticks, newest first."""
    result = graphql(base, SENSOR_QUERY, {"s": {**_selector(base), "sensorName": sensor}})["sensorOrError"]
    if "sensorState" not in result:
        raise UiCheckError(f"sensor {sensor}: {result}")
    return result["sensorState"]["ticks"]


def start_sensor_fresh(base: str, sensor: str) -> float:
    """Clear the (stopped) sensor's cursor and start it, as the UI's "Reset cursor" and toggle do; return the
    time it started. An automation sensor's first tick after this only records the current state (nothing
    fires for materializations before it); what changes after that tick is followed."""
    selector = {"s": {**_selector(base), "sensorName": sensor}}
    for mutation, field in ((SET_CURSOR_MUTATION, "setSensorCursor"), (START_SENSOR_MUTATION, "startSensor")):
        result = graphql(base, mutation, selector)[field]
        if result["__typename"] != "Sensor":
            raise UiCheckError(f"{field} on sensor {sensor}: {result}")
    return time.time()


def wait_for_tick(base: str, sensor: str, after: float, timeout_s: float = 240.0) -> dict:
    """The first finished tick of `sensor` after `after` (unix time); raise if it failed or none came."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for tick in sensor_ticks(base, sensor):
            if tick["timestamp"] > after and tick["status"] != "STARTED":
                if tick["status"] == "FAILURE":
                    raise UiCheckError(f"sensor {sensor} tick failed: {tick['error']}")
                return tick
        time.sleep(3)
    raise UiCheckError(f"sensor {sensor} did not tick within {timeout_s:.0f}s of starting")


SENSOR_RUNS_QUERY = """
query Runs($filter: RunsFilter) { runsOrError(filter: $filter) {
  ... on Runs { results { runId status assetSelection { path } } }
} }
"""


def wait_for_sensor_run(base: str, sensor: str, asset: str, after: float, timeout_s: float = 600.0) -> str:
    """The id of the first run `sensor` launched after `after` (unix time) that materializes `asset`; raise
    with the sensor's latest ticks if none came within `timeout_s`."""
    run_filter = {"tags": [{"key": "dagster/sensor_name", "value": sensor}], "createdAfter": after}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = graphql(base, SENSOR_RUNS_QUERY, {"filter": run_filter})["runsOrError"].get("results", [])
        for run in reversed(runs):  # oldest first
            if [asset] in [key["path"] for key in run["assetSelection"] or []]:
                return run["runId"]
        time.sleep(5)
    launched = {r["runId"]: [k["path"][-1] for k in r["assetSelection"] or []] for r in runs}
    raise UiCheckError(
        f"sensor {sensor} launched no run of {asset} within {timeout_s:.0f}s; runs it launched: "
        f"{launched}; its latest ticks: {json.dumps(sensor_ticks(base, sensor))[:2000]}"
    )


MATERIALIZATION_QUERY = """
query Latest($key: AssetKeyInput!, $partitions: [String!]) { assetOrError(assetKey: $key) { __typename
  ... on Asset { assetMaterializations(limit: 1, partitions: $partitions) { runId partition timestamp
    metadataEntries { __typename label
      ... on TableMetadataEntry { table { records schema { columns { name type } } } }
      ... on TextMetadataEntry { text }
      ... on PathMetadataEntry { path }
      ... on IntMetadataEntry { intValue }
      ... on BoolMetadataEntry { boolValue }
    }
  } }
  ... on AssetNotFoundError { message }
} }
"""


def latest_materialization(base: str, asset: str, partition: str | None = None) -> dict:
    """The latest materialization of `asset` (of one partition if given): run id, partition, timestamp and
    metadata entries by label (tables as {"columns": {name: type}, "records": [dict]}, others as a value)."""
    variables = {"key": {"path": [asset]}, "partitions": [partition] if partition else None}
    result = graphql(base, MATERIALIZATION_QUERY, variables)["assetOrError"]
    events = result.get("assetMaterializations") or []
    if not events:
        raise UiCheckError(f"{asset}{f' partition {partition}' if partition else ''} has no materialization: {result}")
    event = events[0]
    entries: dict[str, object] = {}
    for entry in event["metadataEntries"]:
        if entry["__typename"] == "TableMetadataEntry":
            table = entry["table"]
            entries[entry["label"]] = {
                "columns": {c["name"]: c["type"] for c in table["schema"]["columns"]},
                "records": [json.loads(record) for record in table["records"]],
            }
        else:
            values = [v for k, v in entry.items() if k not in ("__typename", "label")]
            entries[entry["label"]] = values[0] if values else entry["__typename"]
    return {**event, "metadata": entries, "types": {e["label"]: e["__typename"] for e in event["metadataEntries"]}}


STALE_QUERY = """
query Stale($keys: [AssetKeyInput!], $partition: String) { assetNodes(assetKeys: $keys) {
  staleStatus(partition: $partition) staleCauses(partition: $partition) { key { path } reason dependency { path } }
} }
"""


def stale_status(base: str, asset: str, partition: str | None = None) -> tuple[str, list[str]]:
    """(FRESH | STALE | MISSING, the root stale causes as "asset: reason [dependency]") of `asset` (one
    partition if given), as the asset page's Unsynced tag lists them."""
    nodes = graphql(base, STALE_QUERY, {"keys": [{"path": [asset]}], "partition": partition})["assetNodes"]
    if not nodes:
        raise UiCheckError(f"asset {asset} not found")
    causes = [
        f"{'/'.join(c['key']['path'])}: {c['reason']}"
        + (f" [{'/'.join(c['dependency']['path'])}]" if c["dependency"] else "")
        for c in nodes[0]["staleCauses"]
    ]
    return nodes[0]["staleStatus"], causes
