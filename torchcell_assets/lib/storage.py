"""The storage resource: where torchcell keeps raw files, processed files and DuckDB."""

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb


def connect_waiting(path: Path, read_only: bool, seconds: float) -> duckdb.DuckDBPyConnection:
    """`duckdb.connect`, retried while another process holds the file's lock (for up to `seconds`)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def default_data_dir() -> str:
    return os.environ.get("TORCHCELL_DATA_DIR", "data")


class TorchcellStorage(dg.ConfigurableResource):
    """Files under `data_dir` (default `$TORCHCELL_DATA_DIR` or `./data`); user raw files
    under `raw_dir` (default `$TORCHCELL_RAW_DIR` or `<data_dir>/raw`)."""

    data_dir: str = default_data_dir()
    raw_dir: str = ""
    duckdb_lock_seconds: float = 600.0

    def root(self) -> Path:
        return Path(self.data_dir).resolve()

    def raw(self, *parts: str) -> Path:
        base = self.raw_dir or os.environ.get("TORCHCELL_RAW_DIR", "") or str(self.root() / "raw")
        return Path(base, *parts)

    def path(self, *parts: str) -> Path:
        """A path under the data directory, with its parent folder created."""
        target = self.root().joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def directory(self, *parts: str) -> Path:
        """A directory under the data directory, created if missing."""
        target = self.root().joinpath(*parts)
        target.mkdir(parents=True, exist_ok=True)
        return target

    @property
    def duckdb_path(self) -> Path:
        return self.path("torchcell.duckdb")

    @contextmanager
    def duckdb(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the project's DuckDB file. DuckDB lets one process write at a time; steps that
        run in parallel (Dagster's multiprocess executor, concurrent runs) wait for the lock, up to
        `duckdb_lock_seconds`, instead of failing."""
        con = connect_waiting(self.duckdb_path, read_only, self.duckdb_lock_seconds)
        try:
            yield con
        finally:
            con.close()
