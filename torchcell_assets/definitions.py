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
DEFAULT_EXECUTOR = dg.multiprocess_executor.configured(
    {"start_method": {"forkserver": {"preload_modules": DEFS_MODULES}}},
    name="forkserver_multiprocess",
)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=DEFAULT_EXECUTOR),
    )
