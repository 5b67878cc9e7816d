"""End-to-end check of the Dagster web UI as a person sees it: headless Chromium against `dagster dev`.

Starts `dagster dev` in a throwaway DAGSTER_HOME and data dir and, through the GraphQL calls the UI's buttons
make (the code location's default executor, the assets' checks included): materializes `digenic_dataset` and
its upstream (sources, graph tables, knowledge graph) and `sweep_plan`; starts the `follow_upstream` automation
sensor; trains `mlp_model` on one partition (digenic|split_random, 2 epochs); waits for the run the sensor
launches to follow it with `model_benchmarks` and reads that table's metadata; rebuilds another dataset so the
model turns stale; then screenshots (and dumps the DOM of) the pages the README shows into `artifacts/ui/`.
Run by tests/assets/test_ui.py (`make test-ui`) and by `.venv/bin/python scripts/ui_check.py`; `dagster_dev`,
`capture_page` and `how_do_i_pages` also serve scripts/tour_screenshots.py and bench/ui_path.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from tests.support.ui_graphql import (
    UiCheckError,
    _repository,
    asset_check_selection,
    executor_message,
    graphql,
    latest_materialization,
    launch_assets,
    partition_tags,
    run_info,
    stale_status,
    start_sensor_fresh,
    wait_for_run,
    wait_for_sensor_run,
    wait_for_tick,
)

REPO = Path(__file__).resolve().parents[2]
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
# Small settings so the runs fit a shared CI machine (full defaults are for real training). No `execution`:
# the runs use the code location's default executor, as a click in the UI does.
RUN_CONFIG = {"resources": {"graph": {"config": {"buffer_pool_gib": 1.0}}}}
MODEL_ASSET = "mlp_model"
MODEL_PARTITION = "digenic|split_random"  # MultiPartitionKey dataset|split, as the UI writes it
MODEL_CONFIG = {"epochs": 2, "bootstrap": 200}  # what a user types into the launchpad for a quick run
FOLLOWING_SENSOR = "follow_upstream"
BENCHMARKS = "model_benchmarks"
LINEAGE_COLUMNS = ("run_dir", "dataset_sha256", "predictions_sha256")
NEW_INPUT = "gene_features"  # an input of every model, not built before: building it makes the model stale


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
    executor: str = ""  # the first run's "Executing steps ..." event
    checks: list[str] = field(default_factory=list)  # asset checks the first run was launched with
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each stage
    model_run_id: str = ""
    model_run_status: str = ""
    model_run_tags: dict[str, str] = field(default_factory=dict)
    model_metadata: dict = field(default_factory=dict)  # the model partition's latest materialization metadata
    followed_run_id: str = ""  # the run the automation sensor launched for model_benchmarks
    followed_run_status: str = ""
    followed_run_tags: dict[str, str] = field(default_factory=dict)
    benchmarks_run_id: str = ""  # the run of model_benchmarks' latest materialization
    benchmarks_table: dict = field(default_factory=dict)  # {"columns": {name: type}, "records": [dict]}
    benchmarks_table_type: str = ""  # GraphQL type of the `table` metadata entry
    status_before: str = ""  # the model partition right after its run
    stale_status: str = ""  # the model partition after NEW_INPUT was built
    stale_causes: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # stage ("follow", "stale") → what failed there
    pages: dict[str, Page] = field(default_factory=dict)


def how_do_i_pages(partition: str = MODEL_PARTITION) -> dict[str, str]:
    """The README's "How do I…" pages (name → path): the model's partitions, the sweep's partitions, a stale
    model partition, the benchmark table. `tour_screenshots.py --pages how_do_i` and the UI check take them."""
    return {
        "howto_materialize_model": f"/assets/{MODEL_ASSET}?view=partitions",
        "howto_sweep_backfill": "/assets/sweep_model?view=partitions",
        "howto_stale": f"/assets/{MODEL_ASSET}?view=partitions&partition={quote(partition, safe='')}",
        "howto_trace_row": f"/assets/{BENCHMARKS}",
    }


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
    """The whole check: chromium, dagster dev, the runs a user would launch, the followed benchmark, pages."""
    chromium = ensure_chromium()
    out_dir.mkdir(parents=True, exist_ok=True)
    with dagster_dev(free_port(), out_dir / "dagster_dev.log") as base:
        graphql(base, "mutation { setNuxSeen }")
        stop_running_sensors(base)  # no sensor reacts to the first run
        result = materialize_dataset(base)
        # A failure in these stages is recorded and the pages are still captured (they show what happened).
        with _stage(result, "follow"):
            follow_a_model_run(base, result)
        with _stage(result, "stale"):
            clock = time.monotonic()
            result.status_before = stale_status(base, MODEL_ASSET, MODEL_PARTITION)[0]
            wait_for_run(base, launch_assets(base, [[NEW_INPUT]], RUN_CONFIG))
            result.stale_status, result.stale_causes = stale_status(base, MODEL_ASSET, MODEL_PARTITION)
            result.seconds["new_input_run"] = time.monotonic() - clock
        clock = time.monotonic()
        pages = {
            "asset_lineage": f"/assets/{TARGET_ASSET}?view=lineage&lineageScope=upstream&lineageDepth=2",
            "global_lineage": "/asset-groups",
            "target_asset": f"/assets/{TARGET_ASSET}",
            **how_do_i_pages(),
        }
        for name, path in pages.items():
            result.pages[name] = capture_page(chromium, name, base + path, out_dir)
        result.seconds["pages"] = time.monotonic() - clock
    summary = {k: v for k, v in vars(result).items() if k not in ("pages", "model_metadata", "benchmarks_table")}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return result


@contextlib.contextmanager
def _stage(result: UiCheckResult, name: str) -> Iterator[None]:
    """Record a UiCheckError of stage `name` in `result.errors` instead of raising it."""
    try:
        yield
    except UiCheckError as error:
        result.errors[name] = str(error)


def materialize_dataset(base: str) -> UiCheckResult:
    """Materialize TARGET_ASSET with everything upstream and `sweep_plan` (the sweep's partitions) in one run,
    checks included, as the Materialize button does; the result of that run."""
    clock = time.monotonic()
    assets = upstream_of(base, TARGET_ASSET)
    run_id = launch_assets(base, [*assets, ["sweep_plan"]], RUN_CONFIG)
    status = wait_for_run(base, run_id)
    result = UiCheckResult(run_id=run_id, run_status=status, upstream_assets=[p[-1] for p in assets])
    result.executor = executor_message(base, run_id)
    result.checks = sorted({c["name"] for c in asset_check_selection(base, [*assets, ["sweep_plan"]])})
    info = run_info(base, run_id)
    result.seconds["first_run"] = (info["endTime"] or 0) - (info["startTime"] or 0)
    result.seconds["first_run_wall"] = time.monotonic() - clock
    return result


def follow_a_model_run(base: str, result: UiCheckResult) -> None:
    """Start FOLLOWING_SENSOR afresh, wait for its first tick (it records the state, launching nothing), train
    MODEL_ASSET on MODEL_PARTITION as the partition dialog launches it, then wait for the run the sensor
    launches to follow it with BENCHMARKS; record both runs and the benchmark table."""
    clock = time.monotonic()
    wait_for_tick(base, FOLLOWING_SENSOR, after=start_sensor_fresh(base, FOLLOWING_SENSOR))
    result.seconds["sensor_first_tick"] = time.monotonic() - clock
    clock = time.monotonic()
    run_config = {**RUN_CONFIG, "ops": {MODEL_ASSET: {"config": MODEL_CONFIG}}}
    tags = partition_tags(base, MODEL_ASSET, MODEL_PARTITION)
    result.model_run_id = launch_assets(base, [[MODEL_ASSET]], run_config, tags)
    result.model_run_status = wait_for_run(base, result.model_run_id, timeout_s=900)
    model_run = run_info(base, result.model_run_id)
    result.model_run_tags = model_run["tags"]
    result.model_metadata = latest_materialization(base, MODEL_ASSET, MODEL_PARTITION)["metadata"]
    result.seconds["model_run"] = time.monotonic() - clock
    clock = time.monotonic()
    result.followed_run_id = wait_for_sensor_run(base, FOLLOWING_SENSOR, BENCHMARKS, after=model_run["startTime"])
    result.followed_run_status = wait_for_run(base, result.followed_run_id, timeout_s=900)
    result.followed_run_tags = run_info(base, result.followed_run_id)["tags"]
    latest = latest_materialization(base, BENCHMARKS)
    result.benchmarks_run_id = latest["runId"]
    table = latest["metadata"].get("table")
    result.benchmarks_table_type = latest["types"].get("table", "")
    result.benchmarks_table = table if isinstance(table, dict) else {}
    result.seconds["followed_run"] = time.monotonic() - clock
