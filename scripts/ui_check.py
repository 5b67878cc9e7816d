"""End-to-end check of the Dagster web UI as a person sees it: headless Chromium against `dagster dev`.

Starts `dagster dev` in a throwaway DAGSTER_HOME and data dir, materializes `digenic_dataset` and its
upstream (sources, graph tables, knowledge graph) through the GraphQL API, then screenshots (and dumps the
DOM of) the asset lineage page and the dataset's asset page into `artifacts/ui/`.
Run: `.venv/bin/python scripts/ui_check.py`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = REPO / ".venv" / "bin"
ARTIFACTS = REPO / "artifacts" / "ui"
TARGET_ASSET = "digenic_dataset"
METRIC_KEY = "replicates_merged"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1600,1000",
    "--virtual-time-budget=15000",
]
# Small settings so the run fits a shared CI machine (full defaults are for real training).
RUN_CONFIG = {
    "resources": {"graph": {"config": {"buffer_pool_gib": 1.0}}},
    "execution": {"config": {"in_process": {}}},  # one process: no per-step interpreter start-up
}


class UiCheckError(RuntimeError):
    """Any step of the UI check failed; the message says which and carries the evidence."""


@dataclass
class Page:
    """One UI page captured: its URL, screenshot PNG and dumped DOM text."""

    name: str
    url: str
    png: Path
    dom: str


@dataclass
class UiCheckResult:
    """What `run_ui_check` observed, for the test to assert on."""

    run_id: str
    run_status: str
    upstream_assets: list[str]
    pages: dict[str, Page] = field(default_factory=dict)


def ensure_chromium() -> str:
    """Path of a chromium binary; installs Debian's `chromium` with apt-get if none is on PATH."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            raise UiCheckError(f"`{' '.join(command)}` failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise UiCheckError("apt-get installed chromium but no `chromium` binary is on PATH")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def dagster_dev(
    port: int, log_path: Path, startup_timeout_s: float = 240.0, home: Path | None = None, data: Path | None = None
) -> Iterator[str]:
    """Run `dagster dev` on 127.0.0.1:`port`; yield its base URL. Without `home`/`data` it runs in temporary
    DAGSTER_HOME/data/graph dirs; with them, against an existing instance (e.g. after `make demo`).

    The server gets its own process group, which is always terminated (SIGTERM, then SIGKILL) on exit.
    """
    with tempfile.TemporaryDirectory(prefix="torchcell_ui_") as tmp:
        fresh = home is None
        home = home or Path(tmp) / "dagster_home"
        data = data or Path(tmp) / "data"
        graph = Path(tmp) / "graph" if fresh else home / "graph"  # the demo keeps its graph in DAGSTER_HOME
        for directory in (home, data, graph):
            directory.mkdir(exist_ok=True)
        if fresh:
            shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "TORCHCELL_DATA_DIR": str(data),
            "TORCHCELL_GRAPH_DIR": str(graph),
        }
        command = [str(VENV_BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                base = f"http://127.0.0.1:{port}"
                _wait_for_server(base, proc, log_path, startup_timeout_s)
                yield base
            finally:
                _stop_process_group(proc)


def _wait_for_server(base: str, proc: subprocess.Popen, log_path: Path, timeout_s: float) -> None:
    """Block until the webserver answers `/server_info` and the code location has loaded."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UiCheckError(f"dagster dev exited with {proc.returncode}; log:\n{log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{base}/server_info", timeout=5) as response:
                if response.status == 200 and _repository(base, quiet=True):
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(2)
    raise UiCheckError(f"dagster dev did not come up within {timeout_s:.0f}s; log:\n{log_path.read_text()[-4000:]}")


def _stop_process_group(proc: subprocess.Popen, grace_s: float = 30.0) -> None:
    """SIGTERM the server's process group, SIGKILL it if still alive after `grace_s`."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


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


ASSET_NODES_QUERY = """
query { assetNodes { assetKey { path } dependencyKeys { path } } }
"""


def upstream_of(base: str, asset: str) -> list[list[str]]:
    """Asset key paths of `asset` and everything upstream of it, from the server's asset graph."""
    nodes = graphql(base, ASSET_NODES_QUERY)["assetNodes"]
    parents = {tuple(n["assetKey"]["path"]): [tuple(d["path"]) for d in n["dependencyKeys"]] for n in nodes}
    if (asset,) not in parents:
        raise UiCheckError(f"asset {asset!r} is not in the server's asset graph ({len(parents)} assets)")
    seen: set[tuple[str, ...]] = set()
    stack = [(asset,)]
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        stack.extend(parents.get(key, []))
    return [list(key) for key in sorted(seen)]


SENSORS_QUERY = """
query Sensors($repo: RepositorySelector!) { sensorsOrError(repositorySelector: $repo) {
  ... on Sensors { results { name jobOriginId sensorState { selectorId status } } }
} }
"""
STOP_SENSOR_MUTATION = """
mutation Stop($origin: String, $selector: String) { stopSensor(jobOriginId: $origin, jobSelectorId: $selector) {
  __typename ... on Error { message }
} }
"""


def stop_running_sensors(base: str) -> list[str]:
    """Stop every running sensor (e.g. the automation-condition sensor) so no other run competes for CPU."""
    location, repository = _repository(base)
    repo = {"repositoryLocationName": location, "repositoryName": repository}
    sensors = graphql(base, SENSORS_QUERY, {"repo": repo})["sensorsOrError"].get("results", [])
    stopped = []
    for sensor in sensors:
        if sensor["sensorState"]["status"] != "RUNNING":
            continue
        variables = {"origin": sensor["jobOriginId"], "selector": sensor["sensorState"]["selectorId"]}
        result = graphql(base, STOP_SENSOR_MUTATION, variables)["stopSensor"]
        if "message" in result:
            raise UiCheckError(f"could not stop sensor {sensor['name']}: {result['message']}")
        stopped.append(sensor["name"])
    return stopped


LAUNCH_MUTATION = """
mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename
  ... on LaunchRunSuccess { run { runId } }
  ... on RunConfigValidationInvalid { errors { message } }
  ... on Error { message }
} }
"""
RUN_STATUS_QUERY = """
query Status($runId: ID!) { runOrError(runId: $runId) {
  __typename ... on Run { status } ... on Error { message }
} }
"""
RUN_ERRORS_QUERY = """
query Logs($runId: ID!) { logsForRun(runId: $runId) {
  ... on EventConnection { events {
    __typename
    ... on MessageEvent { message stepKey }
    ... on ExecutionStepFailureEvent { error { message } }
    ... on RunFailureEvent { error { message } }
  } }
} }
"""


def launch_materialization(base: str, assets: list[list[str]]) -> str:
    """Launch the implicit asset job on `assets` (key paths); return the run id."""
    location, repository = _repository(base)
    params = {
        "selector": {
            "repositoryLocationName": location,
            "repositoryName": repository,
            "pipelineName": "__ASSET_JOB",
            "assetSelection": [{"path": path} for path in assets],
            "assetCheckSelection": [],  # checks have their own tests; the UI only needs the materializations
        },
        "runConfigData": RUN_CONFIG,
    }
    result = graphql(base, LAUNCH_MUTATION, {"params": params})["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise UiCheckError(f"launchRun returned {result['__typename']}: {json.dumps(result)[:2000]}")
    return result["run"]["runId"]


def wait_for_run(base: str, run_id: str, timeout_s: float = 600.0) -> str:
    """Poll the run until it ends; return SUCCESS or raise with the run's failure events."""
    deadline = time.monotonic() + timeout_s
    status = "UNKNOWN"
    while time.monotonic() < deadline:
        status = graphql(base, RUN_STATUS_QUERY, {"runId": run_id})["runOrError"].get("status", "UNKNOWN")
        if status == "SUCCESS":
            return status
        if status in ("FAILURE", "CANCELED"):
            raise UiCheckError(f"run {run_id} ended {status}:\n{run_failure_messages(base, run_id)}")
        time.sleep(3)
    raise UiCheckError(f"run {run_id} still {status} after {timeout_s:.0f}s")


def run_failure_messages(base: str, run_id: str) -> str:
    """The failure events of a run, one per line."""
    events = graphql(base, RUN_ERRORS_QUERY, {"runId": run_id})["logsForRun"].get("events", [])
    failed = [e for e in events if "Failure" in e["__typename"]]
    return "\n".join(
        f"{e.get('stepKey')}: {e.get('message')} {(e.get('error') or {}).get('message', '')}" for e in failed
    )


def capture_page(chromium: str, name: str, url: str, out_dir: Path, timeout_s: float = 120.0) -> Page:
    """Screenshot `url` to `<out_dir>/<name>.png` and dump its rendered DOM to `<name>.html`."""
    png = out_dir / f"{name}.png"
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium_profile_") as profile:
        flags = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
        shot = subprocess.run([*flags, f"--screenshot={png}", url], capture_output=True, text=True, timeout=timeout_s)
        if not png.is_file():
            raise UiCheckError(f"chromium wrote no screenshot of {url} ({shot.returncode}):\n{shot.stderr[-2000:]}")
        dump = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=timeout_s)
    if dump.returncode != 0 or not dump.stdout.strip():
        raise UiCheckError(f"chromium --dump-dom of {url} failed ({dump.returncode}):\n{dump.stderr[-2000:]}")
    (out_dir / f"{name}.html").write_text(dump.stdout)
    return Page(name=name, url=url, png=png, dom=dump.stdout)


def run_ui_check(out_dir: Path = ARTIFACTS) -> UiCheckResult:
    """The whole check: chromium, dagster dev, materialize, dismiss the NUX dialog, capture both pages."""
    chromium = ensure_chromium()
    out_dir.mkdir(parents=True, exist_ok=True)
    with dagster_dev(free_port(), out_dir / "dagster_dev.log") as base:
        graphql(base, "mutation { setNuxSeen }")
        stop_running_sensors(base)
        assets = upstream_of(base, TARGET_ASSET)
        run_id = launch_materialization(base, assets)
        status = wait_for_run(base, run_id)
        result = UiCheckResult(run_id=run_id, run_status=status, upstream_assets=[p[-1] for p in assets])
        pages = {
            "asset_lineage": f"{base}/assets/{TARGET_ASSET}?view=lineage&lineageScope=upstream&lineageDepth=2",
            "global_lineage": f"{base}/asset-groups",
            "target_asset": f"{base}/assets/{TARGET_ASSET}",
        }
        for name, url in pages.items():
            result.pages[name] = capture_page(chromium, name, url, out_dir)
    return result


def main() -> int:
    """CLI entry: run the check, print where the artifacts are, exit non-zero on failure."""
    try:
        result = run_ui_check()
    except UiCheckError as error:
        print(f"UI check failed: {error}", file=sys.stderr)
        return 1
    print(f"run {result.run_id}: {result.run_status} ({len(result.upstream_assets)} assets)")
    for page in result.pages.values():
        print(f"{page.name}: {page.png} ({page.png.stat().st_size} bytes) <- {page.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
