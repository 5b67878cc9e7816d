"""The UI path: what one click on Materialize costs under each executor, as a ratio to the in-process one.

Starts `dagster dev` in a throwaway DAGSTER_HOME (as `scripts/ui_check.py` does), then launches through the
webserver's GraphQL `launchRun`, as the UI's Materialize button does, the implicit asset job on an asset and
everything upstream of it together with the asset checks of those assets (the UI sends every check of the
selected assets whose `jobNames` hold the job). One launch per mode and repeat, the modes interleaved so that
they share the machine's load, each into fresh data and graph directories (passed as resource config):

- `in_process`: `execution: {config: {in_process: {}}}`, every step in the run worker;
- `default`: no execution config, the code location's default executor (`torchcell_assets/definitions.py`:
  multiprocess, steps forked from a server that preloaded the code location);
- `spawn`: `execution: {config: {multiprocess: {start_method: {spawn: {}}}}}`, Dagster's stock default
  (a fresh interpreter per step): the "before".

Per launch it reads the run's own times (launch → start → end) and event log: steps run, their summed time,
and each step's start latency (STEP_WORKER_STARTING → STEP_START). It samples /proc meanwhile to count the
processes forked from a multiprocessing fork server vs those started as fresh interpreters (`spawn_main`; the
code server starts each run worker that way too).

    .venv/bin/python bench/ui_path.py [--modes in_process,default,spawn] [--asset digenic_dataset | --quick]
                                      [--repeat N] [--no-checks]
"""

import argparse
import statistics
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.support

from tests.support.ui import REPO, dagster_dev, free_port, stop_running_sensors, upstream_of  # noqa: E402
from tests.support.ui_graphql import (  # noqa: E402
    UiCheckError,
    asset_check_selection,
    graphql,
    launch_assets,
    wait_for_run,
)

QUICK_ASSET = "simulated_release"  # two assets, two checks: a run of a few steps
EXECUTION = {
    "in_process": {"in_process": {}},
    "default": None,  # no execution config: the code location's default executor
    "spawn": {"multiprocess": {"start_method": {"spawn": {}}}},
}
RUN_TIMES_QUERY = """
query Times($runId: ID!) { runOrError(runId: $runId) { __typename
  ... on Run { creationTime startTime endTime stepStats { stepKey status startTime endTime } }
} }
"""
RUN_EVENTS_QUERY = """
query Events($runId: ID!, $cursor: String) { logsForRun(runId: $runId, afterCursor: $cursor, limit: 1000) {
  __typename
  ... on EventConnection { cursor hasMore events { __typename ... on MessageEvent { timestamp stepKey } } }
} }
"""
WORKER_EVENTS = ("StepWorkerStartingEvent", "StepWorkerStartedEvent", "ExecutionStepStartEvent")


@dataclass
class Launch:
    """One measured launch: the run's own times and what its event log and process tree showed."""

    mode: str
    run_id: str
    run_s: float  # RUN_START → end: the executor's work, the run worker's code load excluded
    launch_s: float  # run created → end: what the person who clicked waits
    steps: int
    work_s: float  # the steps' own start → end, summed
    step_start_s: list[tuple[float, float]] = field(default_factory=list)  # per step: process start, load
    forked: int = 0
    spawned: int = 0


def run_config(mode: str, workdir: Path) -> dict:
    """Run config of one launch: the small buffer pool of the UI check, fresh data/graph dirs, the mode's executor."""
    config: dict = {
        "resources": {
            "graph": {"config": {"buffer_pool_gib": 1.0, "path": str(workdir / "graph")}},
            "storage": {"config": {"data_dir": str(workdir / "data")}},
        }
    }
    if EXECUTION[mode] is not None:
        config["execution"] = {"config": EXECUTION[mode]}
    return config


def step_start_latencies(base: str, run_id: str) -> list[tuple[float, float]]:
    """Per step of a multiprocess run, seconds from STEP_WORKER_STARTING to STEP_WORKER_STARTED (the process
    started) and from there to STEP_START (the code location loaded in it, the plan and resources built)."""
    seen: dict[str, dict[str, float]] = {}
    cursor = None
    while True:
        page = graphql(base, RUN_EVENTS_QUERY, {"runId": run_id, "cursor": cursor})["logsForRun"]
        for event in page.get("events", []):
            if event["__typename"] in WORKER_EVENTS and event.get("stepKey"):
                seen.setdefault(event["stepKey"], {})[event["__typename"]] = float(event["timestamp"]) / 1000
        cursor = page.get("cursor")
        if not page.get("hasMore"):
            break
    starting, started, start = WORKER_EVENTS
    return [(t[started] - t[starting], t[start] - t[started]) for t in seen.values() if len(t) == len(WORKER_EVENTS)]


class ProcessSampler(threading.Thread):
    """Samples /proc every `interval_s` for the processes multiprocessing starts in `dagster dev`'s session:
    children of a fork server (forked, sharing its imports) and `spawn_main` interpreters (each importing
    everything again)."""

    def __init__(self, session: int, interval_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.session = session
        self.interval_s = interval_s
        self.stop = threading.Event()
        self.forked: set[int] = set()
        self.spawned: set[int] = set()

    def run(self) -> None:
        while not self.stop.is_set():
            table = {pid: (ppid, cmd) for pid, ppid, sid, cmd in processes() if sid == self.session}
            forkserver = [pid for pid, (_, cmd) in table.items() if b"multiprocessing.forkserver" in cmd]
            servers = {pid for pid in forkserver if table[pid][0] not in forkserver}  # its children share its argv
            for pid, (ppid, cmd) in table.items():
                if ppid in servers:
                    self.forked.add(pid)
                elif b"spawn_main" in cmd:
                    self.spawned.add(pid)
            self.stop.wait(self.interval_s)


def processes() -> list[tuple[int, int, int, bytes]]:
    """(pid, parent pid, session id, argv joined by spaces) of every process /proc shows (Linux)."""
    rows = []
    for proc_dir in Path("/proc").glob("[0-9]*"):
        try:
            fields = (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError):
            continue
        rows.append((int(proc_dir.name), int(fields[1]), int(fields[3]), argv))
    return rows


def server_session(base: str) -> int:
    """Session id of the `dagster dev` serving `base` (started in its own session by `dagster_dev`)."""
    port = base.rsplit(":", 1)[1].encode()
    for _pid, _ppid, sid, argv in processes():
        if b"dagster dev" in argv and b" -p " + port + b" " in argv + b" ":
            return sid
    raise UiCheckError(f"no `dagster dev` process serves {base}")


def measure(
    base: str, mode: str, assets: list[list[str]], checks: list[dict], timeout_s: float, session: int
) -> Launch:
    """Launch the selection under `mode` into fresh directories, wait for it, and read back its figures."""
    with tempfile.TemporaryDirectory(prefix=f"torchcell_ui_path_{mode}_") as tmp:
        sampler = ProcessSampler(session)
        sampler.start()
        try:
            run_id = launch_assets(base, assets, run_config(mode, Path(tmp)), checks=checks)
            wait_for_run(base, run_id, timeout_s)
        finally:
            sampler.stop.set()
            sampler.join()
    run = graphql(base, RUN_TIMES_QUERY, {"runId": run_id})["runOrError"]
    steps, end = run["stepStats"], run["endTime"]
    return Launch(
        mode=mode,
        run_id=run_id,
        run_s=end - run["startTime"],
        launch_s=end - run["creationTime"],
        steps=len(steps),
        work_s=sum((s["endTime"] or 0) - (s["startTime"] or 0) for s in steps),
        step_start_s=step_start_latencies(base, run_id),
        forked=len(sampler.forked),
        spawned=len(sampler.spawned),
    )


def table(launches: list[Launch]) -> str:
    """One row per mode (means over repeats), with ratios to the in-process mode's mean when it ran."""
    by_mode: dict[str, list[Launch]] = {}
    for item in launches:
        by_mode.setdefault(item.mode, []).append(item)
    base = by_mode.get("in_process")
    base_run = statistics.mean(x.run_s for x in base) if base else None
    base_launch = statistics.mean(x.launch_s for x in base) if base else None
    lines = [
        "| mode | runs | run s (start→end) | ratio | launch→end s | ratio | steps | work in steps s "
        "| step start s: median (process + load) / max | processes forked / spawned (run worker included) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, items in by_mode.items():
        run_s = statistics.mean(x.run_s for x in items)
        launch_s = statistics.mean(x.launch_s for x in items)
        starts = [s for x in items for s in x.step_start_s]
        start = "–"
        if starts:
            process, load = (statistics.median(part) for part in zip(*starts, strict=True))
            start = f"{process + load:.2f} ({process:.2f} + {load:.2f}) / {max(a + b for a, b in starts):.2f}"
        lines.append(
            f"| {mode} | {len(items)} | {run_s:.1f} | {_ratio(run_s, base_run)} | {launch_s:.1f} "
            f"| {_ratio(launch_s, base_launch)} | {items[0].steps} | {statistics.mean(x.work_s for x in items):.1f} "
            f"| {start} | {items[0].forked} / {items[0].spawned} |"
        )
    return "\n".join(lines)


def _ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}×" if base else "–"


def main(argv: list[str] | None = None) -> int:
    """CLI entry: start `dagster dev`, launch every mode `--repeat` times interleaved, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="in_process,default,spawn", help="comma-separated: " + ", ".join(EXECUTION))
    parser.add_argument("--asset", default="digenic_dataset", help="materialize this asset and all upstream of it")
    parser.add_argument("--quick", action="store_true", help=f"small selection: --asset {QUICK_ASSET}")
    parser.add_argument("--repeat", type=int, default=1, help="launches per mode (interleaved)")
    parser.add_argument("--no-checks", action="store_true", help="leave the asset checks out (the UI includes them)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds one run may take")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(EXECUTION))
    if unknown:
        parser.error(f"unknown modes {unknown}; choose from {sorted(EXECUTION)}")
    asset = QUICK_ASSET if args.quick else args.asset
    launches = []
    with tempfile.TemporaryDirectory(prefix="torchcell_ui_path_") as tmp:
        with dagster_dev(free_port(), Path(tmp) / "dagster_dev.log") as base:
            stop_running_sensors(base)
            session = server_session(base)
            assets = upstream_of(base, asset)
            checks = [] if args.no_checks else asset_check_selection(base, assets)  # what the UI sends
            print(f"{asset}: {len(assets)} assets, {len(checks)} checks; modes {modes} x {args.repeat} ({REPO.name})")
            for repeat in range(args.repeat):
                for mode in modes:
                    item = measure(base, mode, assets, checks, args.timeout, session)
                    launches.append(item)
                    print(
                        f"  [{repeat + 1}] {mode}: run {item.run_s:.1f} s, launch→end {item.launch_s:.1f} s, "
                        f"{item.steps} steps, run {item.run_id}",
                        flush=True,
                    )
    print(table(launches))
    return 0


if __name__ == "__main__":
    sys.exit(main())
