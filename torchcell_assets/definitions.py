"""Assembles the torchcell code location from the `defs/` folder and its default executor; nothing else lives
here."""

import pkgutil
from pathlib import Path

import dagster as dg

import torchcell_assets.defs

# Every module of the defs folder (found without importing them), so the fork server holds them all.
DEFS_MODULES = sorted(
    info.name for info in pkgutil.walk_packages(torchcell_assets.defs.__path__, "torchcell_assets.defs.")
)
# What the fork server imports before it forks a step: the defs modules; the libraries that steps use but the
# defs import only inside functions (scipy.stats: simulation, curation; torch and PyG: cell graphs, training),
# so no step imports them again; then `fork_server`, which builds the definitions and opens the instance once.
FORK_SERVER_PRELOAD = [*DEFS_MODULES, "scipy.stats", "torch", "torch_geometric", "torchcell_assets.fork_server"]


# What a click in the UI runs: steps in parallel processes, forked from a server that imported this code
# location (torch, PyG and dagster included) and built its definitions once per run, instead of a fresh
# interpreter per step that imports them again (about 10 s each on an idle 2-core machine, 30 s loaded) and
# rebuilds the definitions (about 1.5 s). `bench/ui_path.py` measures it.
def with_fork_server(config: dict) -> dict:
    """The executor's run config with the fork server as the multiprocess start method unless one is chosen;
    `in_process` (and an explicit `spawn`) stay selectable from the launchpad and in benchmarks."""
    if "in_process" in config:
        return config
    multiprocess = dict(config.get("multiprocess") or {})
    if not multiprocess.get("start_method"):
        multiprocess["start_method"] = {"forkserver": {"preload_modules": FORK_SERVER_PRELOAD}}
    return {"multiprocess": multiprocess}


DEFAULT_EXECUTOR = dg.multi_or_in_process_executor.configured(
    with_fork_server,
    name="multi_or_in_process_forkserver",
    config_schema=dg.multi_or_in_process_executor.config_schema,
)

_built: list[dg.Definitions] = []  # set once by `build_for_forking` in the fork server, empty elsewhere


def assemble() -> dg.Definitions:
    """The code location as loaded from the defs folder, with its default executor."""
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=DEFAULT_EXECUTOR),
    )


def build_for_forking() -> dg.Definitions:
    """Build the definitions and their repository once in this process and have `defs()` return them from
    now on, so every step process forked from here finds them built."""
    if not _built:
        built = assemble()
        built.get_repository_def()  # cached on the object
        _built.append(built)
    return _built[0]


@dg.definitions
def defs() -> dg.Definitions:
    """The torchcell code location: the one built by `build_for_forking` in a fork server, else a new one."""
    return _built[0] if _built else assemble()
