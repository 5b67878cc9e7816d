"""The storage resource: where torchcell keeps raw files, processed files and DuckDB."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb


def default_data_dir() -> str:
    return os.environ.get("TORCHCELL_DATA_DIR", "data")


class TorchcellStorage(dg.ConfigurableResource):
    """Files under `data_dir` (default `$TORCHCELL_DATA_DIR` or `./data`); user raw files
    under `raw_dir` (default `$TORCHCELL_RAW_DIR` or `<data_dir>/raw`)."""

    data_dir: str = default_data_dir()
    raw_dir: str = ""

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
        con = duckdb.connect(str(self.duckdb_path), read_only=read_only)
        try:
            yield con
        finally:
            con.close()
