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


# What a click in the UI runs: steps in parallel processes, forked from a server that imported this code
# location (torch, PyG and dagster included) once per run, instead of a fresh interpreter per step that
# imports them again (about 10 s each on an idle 2-core machine, 30 s loaded). `bench/ui_path.py` measures it.
def with_fork_server(config: dict) -> dict:
    """The executor's run config with the fork server as the multiprocess start method unless one is chosen;
    `in_process` (and an explicit `spawn`) stay selectable from the launchpad and in benchmarks."""
    if "in_process" in config:
        return config
    multiprocess = dict(config.get("multiprocess") or {})
    if not multiprocess.get("start_method"):
        multiprocess["start_method"] = {"forkserver": {"preload_modules": DEFS_MODULES}}
    return {"multiprocess": multiprocess}


DEFAULT_EXECUTOR = dg.multi_or_in_process_executor.configured(
    with_fork_server,
    name="multi_or_in_process_forkserver",
    config_schema=dg.multi_or_in_process_executor.config_schema,
)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=DEFAULT_EXECUTOR),
    )
