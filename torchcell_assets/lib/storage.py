"""The storage resource: where torchcell keeps raw files, processed files and DuckDB.

Every path it hands out stays inside its folder: a part that would leave it (`..`, an absolute path, a link
to elsewhere) raises `ValueError`, so a config value that becomes a file name cannot write outside the data.

DuckDB lets one process write a file at a time, and a reader's connection blocks writers while it is open.
Pipeline steps wait for the lock (`TorchcellStorage.duckdb`, logged every ~10 s with the holder's PID).
Readers outside the pipeline should not hold the file open: read the published Parquet files
(`<data dir>/datasets/*.parquet`, the DuckDB tables' CSVs), or use `TorchcellStorage.read_snapshot()`, a
private copy taken under a lock held only for the copy.

The data layout (where each asset's files and each training run's directory lie) is spelled once, in the
storage's layout methods (`dataset_parquet`, `model_run_dir`, `sweep_manifest`, ...); downstream assets find runs
through them. The resource reads no environment: `defs/resources.py` passes `$TORCHCELL_DATA_DIR` and
`$TORCHCELL_RAW_DIR` in.
"""

import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath

import dagster as dg
import duckdb
from duckdb import DuckDBPyConnection

from torchcell_core.datasets.card import card_path

LOG = logging.getLogger("torchcell_assets.storage")
LOCK_LOG_SECONDS = 10.0  # how often a wait for the DuckDB lock is reported
_HOLDER = re.compile(r"held in (?P<program>.*?) \(PID (?P<pid>\d+)\)")


def lock_holder(message: str) -> str:
    """Who holds the lock, from DuckDB's error ("PID 1234 (/usr/bin/python)"), or "another process"."""
    match = _HOLDER.search(message)
    return f"PID {match['pid']} ({match['program']})" if match else "another process"


def _report(message: str, log: Callable[[str], None] | None) -> None:
    LOG.info(message)
    if log is not None:
        log(message)


def connect_waiting(
    path: Path,
    read_only: bool,
    seconds: float,
    log: Callable[[str], None] | None = None,
    every: float = LOCK_LOG_SECONDS,
) -> DuckDBPyConnection:
    """`duckdb.connect`, retried while another process holds the file's lock (for up to `seconds`).

    A wait is reported (logger `torchcell_assets.storage`, and `log`, e.g. `context.log.info`) when it starts,
    every `every` seconds, and when it ends, naming the process that holds the lock.
    """
    started = time.monotonic()
    reported = None
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                raise
            waited, holder = time.monotonic() - started, lock_holder(str(error))
            if waited > seconds:
                _report(f"gave up waiting for the DuckDB lock on {path} after {waited:.1f} s; held by {holder}", log)
                raise
            if reported is None or time.monotonic() - reported >= every:
                state = "is locked" if reported is None else f"is still locked after {waited:.0f} s"
                _report(f"{path} {state} by {holder}; waiting up to {seconds:.0f} s", log)
                reported = time.monotonic()
            time.sleep(0.5)
            continue
        if reported is not None:
            _report(f"got the DuckDB lock on {path} after {time.monotonic() - started:.1f} s", log)
        return con


def inside(base: Path, parts: tuple[str, ...], what: str = "data directory", links: bool = True) -> Path:
    """`base` joined with `parts`, refused (`ValueError`) when a part would lead outside `base`.

    A part may hold several names ("sources/costanzo2016") but no `..` and no absolute path. With `links`,
    links are followed and must end inside `base` (as `torchcell_core.publish`'s links to a sibling version do).
    """
    base = base.resolve() if links else base
    for part in parts:
        pure = PurePath(str(part))
        if pure.is_absolute() or ".." in pure.parts or "\0" in str(part):
            raise ValueError(f"{str(part)!r} is not a path inside the {what} {base}")
    target = base
    for part in map(str, parts):
        target = target / part
        if links and not target.resolve().is_relative_to(base):  # a link to elsewhere
            raise ValueError(f"{part!r} leads outside the {what} {base} (to {target.resolve()})")
    return target


DEFAULT_DATA_DIR = "data"  # relative to the working directory, as `make` runs everything from the repository


class TorchcellStorage(dg.ConfigurableResource):
    """Files under `data_dir` (`defs/resources.py`: `$TORCHCELL_DATA_DIR`, default `./data`); user raw files
    under `raw_dir` (`$TORCHCELL_RAW_DIR`; empty: `<data_dir>/raw`)."""

    data_dir: str = DEFAULT_DATA_DIR
    raw_dir: str = ""
    duckdb_lock_seconds: float = 600.0

    def root(self) -> Path:
        return Path(self.data_dir).resolve()

    def raw(self, *parts: str) -> Path:
        """A path under the raw-files directory (not created); links to raw files kept elsewhere are fine."""
        base = self.raw_dir or str(self.root() / "raw")
        return inside(Path(base), parts, "raw directory", links=False)

    def at(self, *parts: str) -> Path:
        """A path under the data directory, nothing created (for looking things up)."""
        return inside(self.root(), parts)

    def path(self, *parts: str) -> Path:
        """A path under the data directory, with its parent folder created."""
        target = inside(self.root(), parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def directory(self, *parts: str) -> Path:
        """A directory under the data directory, created if missing."""
        target = inside(self.root(), parts)
        target.mkdir(parents=True, exist_ok=True)
        return target

    def relative(self, path: str | Path) -> str:
        """`path` as metadata records it: relative to the data directory, so a copied or moved data directory
        still finds its files (`resolve` reads it back); a path outside the data directory stays absolute. Links
        inside the data directory are kept as named (`simulated`, not the version folder it points to)."""
        absolute = Path(os.path.abspath(path))
        named = Path(os.path.abspath(self.data_dir))  # the data directory as configured, perhaps through a link
        for candidate, base in ((absolute, self.root()), (absolute, named), (absolute.resolve(), self.root())):
            if candidate.is_relative_to(base):
                return candidate.relative_to(base).as_posix()
        return str(absolute)

    def resolve(self, stored: str | Path) -> Path:
        """A path recorded by `relative`, under this data directory; an absolute one (recorded before paths were
        relative, or outside the data directory) is kept as it is."""
        path = Path(str(stored))
        return path if path.is_absolute() else self.root() / path

    # -- the data layout: each asset's files and each run's directory, named only here ----------------------------

    def dataset_parquet(self, name: str) -> Path:
        """A curated dataset's table, `datasets/<name>.parquet` (parent created)."""
        return self.path("datasets", f"{name}.parquet")

    def dataset_card(self, name: str) -> Path:
        """A curated dataset's card, beside its Parquet (`torchcell_core.datasets.card.card_path`)."""
        return card_path(self.dataset_parquet(name))

    def dataset_labels_png(self, name: str) -> Path:
        """The label histogram of a dataset's card, `datasets/<name>_labels.png`."""
        return self.path("datasets", f"{name}_labels.png")

    def feature_file(self, name: str) -> Path:
        """Gene feature `name`'s tensor file, `features/<name>.pt` (parent created)."""
        return self.path("features", f"{name}.pt")

    def features_manifest(self) -> Path:
        """What the last `gene_features` run built: per feature its file, digest, config and summary."""
        return self.path("features", "manifest.json")

    def cell_graphs_dir(self) -> Path:
        """The folder of the cell graph files, `cell_graphs/` (created)."""
        return self.directory("cell_graphs")

    def cell_graphs_manifest(self) -> Path:
        """The graph sets of the latest `cell_graphs` run and their files, `cell_graphs/manifest.json`."""
        return self.path("cell_graphs", "manifest.json")

    def model_run_dir(self, model: str, label: str, split: str) -> Path:
        """A neural model's run directory, `models/<model>/<label>-<split>` (`RunSpec.label`: dataset and graph
        set); not created (the trainer stages it and swaps it in)."""
        return self.at("models", model, f"{label}-{split}")

    def model_run_dirs(self, model: str, dataset: str, split: str) -> list[Path]:
        """The run directories of `model` on `dataset` and `split`, one per graph set trained, sorted."""
        return sorted(path for path in self.at("models", model).glob(f"{dataset}-*-{split}") if path.is_dir())

    def classical_run_dir(self, dataset: str, split: str) -> Path:
        """The `classical_baselines` directory of one comparison, `models/classical/<dataset>-<split>`."""
        return self.at("models", "classical", f"{dataset}-{split}")

    def sweep_manifest(self, sweep_id: str) -> Path:
        """A sweep's plan, `sweeps/<sweep id>.json` (parent created)."""
        return self.path("sweeps", f"{sweep_id}.json")

    def sweep_manifests(self) -> list[Path]:
        """Every stored sweep plan, sorted."""
        return sorted(self.directory("sweeps").glob("*.json"))

    def sweep_run_dir(self, sweep_id: str, key: str) -> Path:
        """One sweep run's directory, `sweeps/<sweep id>/<partition key>`; not created."""
        return self.at("sweeps", sweep_id, key)

    @property
    def duckdb_path(self) -> Path:
        return self.path("torchcell.duckdb")

    @contextmanager
    def duckdb(self, read_only: bool = False, log: Callable[[str], None] | None = None) -> Iterator[DuckDBPyConnection]:
        """A connection to the project's DuckDB file. DuckDB lets one process write at a time; steps that
        run in parallel (Dagster's multiprocess executor, concurrent runs) wait for the lock, up to
        `duckdb_lock_seconds`, instead of failing; the wait is logged (pass `log=context.log.info` too)."""
        con = connect_waiting(self.duckdb_path, read_only, self.duckdb_lock_seconds, log)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def read_snapshot(self, log: Callable[[str], None] | None = None) -> Iterator[DuckDBPyConnection]:
        """A read-only connection to a private copy of the DuckDB file, for readers outside the pipeline.

        The copy is taken under a read-only connection (which waits for a writer to finish and keeps writers
        out only while the file is copied); the copy is then read without any lock on the original, and deleted
        on exit. Its content is the file's as of the copy.
        """
        source = self.duckdb_path
        with tempfile.TemporaryDirectory(prefix="snapshot-", dir=self.directory("tmp")) as folder:
            copy = Path(folder) / source.name
            with self.duckdb(read_only=True, log=log):
                shutil.copyfile(source, copy)
                wal = source.with_name(f"{source.name}.wal")  # present only after a writer crashed
                if wal.is_file():
                    shutil.copyfile(wal, copy.with_name(f"{copy.name}.wal"))
            con = duckdb.connect(str(copy), read_only=True)
            try:
                yield con
            finally:
                con.close()
