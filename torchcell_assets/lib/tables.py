"""Publishing a result table the way every table asset does: a DuckDB table, a CSV beside it, and the
metadata and content version its MaterializeResult carries."""

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd

from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.duckdb_tables import replace_table
from torchcell_core.hashing import file_sha256


@dataclass(frozen=True)
class PublishedTable:
    csv: Path
    metadata: dict  # csv path and DuckDB table, for MaterializeResult metadata
    data_version: dg.DataVersion  # the CSV's content hash


def publish_table(
    storage: TorchcellStorage, name: str, csv_parts: tuple[str, ...], frame: pd.DataFrame
) -> PublishedTable:
    """Replace DuckDB table `name` with `frame` (one transaction), write it as CSV at `csv_parts`."""
    with storage.duckdb() as con:
        replace_table(con, name, frame)
    csv = storage.path(*csv_parts)
    frame.to_csv(csv, index=False)
    metadata = {
        "csv": dg.MetadataValue.path(storage.relative(csv)),
        "duckdb_table": f"{storage.relative(storage.duckdb_path)}:{name}",
    }
    return PublishedTable(csv, metadata, dg.DataVersion(file_sha256(csv)[:16]))
