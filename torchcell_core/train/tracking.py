"""Experiment tracking: a local JSON-lines log always, and a wandb run (offline unless configured).

wandb runs offline by default, under `<DAGSTER_HOME>/wandb` (or `./dagster_home/wandb`), so training
needs no account or network; `wandb sync <dir>/wandb/offline-run-*` uploads such runs later. It goes
online when asked (`--wandb online`) or, with `--wandb auto`, when `WANDB_MODE=online` or a
`WANDB_API_KEY` is set. `disabled` (tests) keeps only the local log, which is also what remains when
wandb cannot be imported. Only rank 0 tracks; the other ranks get a tracker that does nothing.

wandb, torch, PyG and matplotlib keep caches under ~/.cache, ~/.config and /tmp by default;
`cache_environment(data_dir, environ)` gives the variables that move them under `<data dir>/cache/`, for the
environment of a training process (the asset side's training client adds wandb's to its child's environment).

Nothing here reads the process environment: the variables that steer wandb (`WANDB_MODE`, `WANDB_API_KEY`,
`DAGSTER_HOME`, the `WANDB_*` cache folders) come in as an `environ` mapping, which the training entry point
(`torchcell_core.train.run.main`) takes from its process once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LOCAL_LOG = "tracking.jsonl"
CACHE_DIR = "cache"
# variable → folder under <data dir>/cache; the WANDB_ ones are what wandb itself reads
CACHE_FOLDERS = {
    "WANDB_DIR": "wandb",
    "WANDB_CACHE_DIR": "wandb/cache",
    "WANDB_CONFIG_DIR": "wandb/config",
    "WANDB_DATA_DIR": "wandb/data",
    "WANDB_ARTIFACT_DIR": "wandb/artifacts",
    "TORCH_HOME": "torch",
    "PYG_HOME": "pyg",
    "XDG_CACHE_HOME": "xdg",
    "MPLCONFIGDIR": "matplotlib",
    "TORCHINDUCTOR_CACHE_DIR": "torchinductor",
    "TRITON_CACHE_DIR": "triton",
}
ENV_MODES = {"online": "online", "run": "online", "offline": "offline", "dryrun": "offline", "disabled": "disabled"}


def resolve_wandb_mode(requested: str, environ: Mapping[str, str]) -> str:
    """ "online", "offline" or "disabled": an explicit request wins; "auto" follows `environ`'s WANDB_MODE, then
    its WANDB_API_KEY (online), else offline."""
    if requested in ("online", "offline", "disabled"):
        return requested
    if requested != "auto":
        raise ValueError(f"wandb mode must be auto, online, offline or disabled, got {requested!r}")
    from_env = environ.get("WANDB_MODE", "").strip().lower()
    if from_env:
        if from_env not in ENV_MODES:
            raise ValueError(f"WANDB_MODE={from_env!r} is not one of {sorted(ENV_MODES)}")
        return ENV_MODES[from_env]
    return "online" if environ.get("WANDB_API_KEY") else "offline"


def wandb_directory(configured: str | None = None, dagster_home: str | None = None) -> Path:
    """Where wandb keeps runs: `configured`, else `<dagster_home>/wandb`, else `./dagster_home/wandb`."""
    if configured:
        return Path(configured)
    return Path(dagster_home) / "wandb" if dagster_home else Path("dagster_home") / "wandb"


def cache_environment(data_dir: str | Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The cache variables of wandb, torch, PyG and matplotlib, each a folder under `<data_dir>/cache/`;
    a variable already set in `environ` (the environment the process would inherit) keeps its value."""
    environ = environ or {}
    cache = Path(data_dir).resolve() / CACHE_DIR
    return {name: environ.get(name) or str(cache / folder) for name, folder in CACHE_FOLDERS.items()}


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"val": {"fitness": {"pearson": r}}} → {"val/fitness/pearson": r} (scalars only)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= flatten(value, f"{name}/")
        elif isinstance(value, int | float | bool | str) or value is None:
            flat[name] = value
    return flat


class Tracker:
    """Rank 0's log: every call appends one JSON line to `<run dir>/tracking.jsonl` and, when a wandb run
    is open, goes to wandb too."""

    def __init__(self, run_dir: str | Path, wandb_run: Any | None = None, mode: str = "disabled") -> None:
        self.path = Path(run_dir) / LOCAL_LOG
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.wandb_run = wandb_run
        self.mode = mode

    @property
    def wandb_dir(self) -> Path | None:
        """The wandb run's own folder (e.g. `.../wandb/offline-run-<time>-<id>`), or None."""
        return None if self.wandb_run is None else Path(self.wandb_run.dir).parent

    def _write(self, kind: str, payload: dict[str, Any]) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps({"kind": kind, "time": time.time(), **payload}, default=str) + "\n")

    def log_config(self, config: dict[str, Any]) -> None:
        self._write("config", {"config": config, "wandb_mode": self.mode})
        if self.wandb_run is not None:
            self.wandb_run.config.update(config, allow_val_change=True)

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        flat = flatten(metrics)
        self._write("metrics", {"step": step, "metrics": flat})
        if self.wandb_run is not None:
            self.wandb_run.log(flat, step=step)

    def log_image(self, key: str, path: str | Path, step: int | None = None) -> None:
        self._write("image", {"key": key, "path": str(path), "step": step})
        if self.wandb_run is not None:
            import wandb

            self.wandb_run.log({key: wandb.Image(str(path))}, step=step)

    def summary(self, values: Mapping[str, Any]) -> None:
        flat = flatten(values)
        self._write("summary", {"summary": flat})
        if self.wandb_run is not None:
            self.wandb_run.summary.update(flat)

    def finish(self) -> None:
        if self.wandb_run is not None:
            self.wandb_run.finish()
            self.wandb_run = None


class NullTracker(Tracker):
    """What ranks other than 0 get: every call does nothing."""

    def __init__(self) -> None:
        self.wandb_run = None
        self.mode = "disabled"

    def _write(self, kind: str, payload: dict[str, Any]) -> None:
        return None

    def log_config(self, config: dict[str, Any]) -> None:
        return None

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        return None

    def log_image(self, key: str, path: str | Path, step: int | None = None) -> None:
        return None

    def summary(self, values: Mapping[str, Any]) -> None:
        return None


def make_tracker(
    run_dir: str | Path,
    is_main: bool,
    mode: str = "auto",
    directory: str | None = None,
    project: str = "torchcell",
    name: str | None = None,
    group: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Tracker:
    """Rank 0: a `Tracker` with a wandb run in the resolved mode (none when disabled or wandb is absent);
    other ranks: a `NullTracker`. `environ` (none: empty) gives WANDB_MODE/WANDB_API_KEY for `auto`,
    DAGSTER_HOME for the default folder, and the `WANDB_*` cache folders, which are created (wandb reads them)."""
    if not is_main:
        return NullTracker()
    environ = environ or {}
    resolved = resolve_wandb_mode(mode, environ)
    if resolved == "disabled":
        return Tracker(run_dir, None, "disabled")
    try:
        import wandb
    except ImportError:
        tracker = Tracker(run_dir, None, "unavailable")
        tracker._write("warning", {"message": "wandb is not importable; tracking to the local JSON-lines log only"})
        return tracker
    folder = wandb_directory(directory, environ.get("DAGSTER_HOME"))
    folder.mkdir(parents=True, exist_ok=True)
    for variable in CACHE_FOLDERS:
        if variable.startswith("WANDB_") and environ.get(variable):
            Path(environ[variable]).mkdir(parents=True, exist_ok=True)
    run = wandb.init(
        project=project,
        name=name,
        group=group,
        dir=str(folder),
        mode=resolved,
        settings=wandb.Settings(console="off", silent=True),
    )
    return Tracker(run_dir, run, resolved)
