"""Imported last by the multiprocess executor's fork server (see `definitions.FORK_SERVER_PRELOAD`): readies there,
once per run, what every step process forked from it would otherwise redo, so a step starts in a fraction of a
second: the code location's definitions, built, and the storage code of the run's Dagster instance."""

import os
import warnings

import dagster as dg

from torchcell_assets.definitions import build_for_forking


def open_instance_once() -> None:
    """Open and close the Dagster instance of `$DAGSTER_HOME` (the run's), so that the code a step needs to open
    it (SQLAlchemy, Alembic and Dagster's storage: about 460 modules, 1–3 s) is loaded before the fork."""
    if not os.environ.get("DAGSTER_HOME"):
        return
    try:
        with dg.DagsterInstance.get():
            pass
    except Exception as error:  # only a head start: each step opens the instance itself and reports failures
        warnings.warn(f"fork server: could not open the Dagster instance at $DAGSTER_HOME ahead: {error}", stacklevel=1)


build_for_forking()
open_instance_once()
