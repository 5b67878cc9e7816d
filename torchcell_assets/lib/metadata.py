"""Metadata helpers: tables, previews, embedded images and content versions for MaterializeResult."""

import base64
import math
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

TABLE_ROWS = 200  # the most rows a metadata table carries (the full table is in the asset's CSV/DuckDB)
SIGNIFICANT = 4  # significant digits kept of a float cell


def _column_type(dtype: np.dtype) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    return "string"


def _rounded(number: float) -> float:
    """`number` to 4 significant digits, never dropping digits before the decimal point (211490.7 → 211491.0)."""
    if number == 0:
        return 0.0
    return round(number, max(0, SIGNIFICANT - 1 - math.floor(math.log10(abs(number)))))


def _cell(value: object, kind: str) -> str | int | float | bool | None:
    """One cell as the UI shows it: missing (None, NaN, NA) blank, ints as ints, floats to 4 significant digits."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind in ("bool", "int", "float") or isinstance(value, float):
        number = {"bool": bool, "int": int}.get(kind, float)(value)
        if isinstance(number, float) and not math.isfinite(number):
            return str(number)  # ±inf: JSON has no literal for it
        if isinstance(number, float):
            return int(number) if kind == "string" and number.is_integer() else _rounded(number)
        return number
    return value if isinstance(value, str | int | bool) else str(value)


def metadata_table(frame: pd.DataFrame, rows: int = TABLE_ROWS) -> dg.TableMetadataValue:
    """A Dagster table (`MetadataValue.table`, with a typed schema) of the first `rows` rows of `frame`, as the UI
    shows it: ints stay ints, missing cells are blank, floats keep 4 significant digits (and their whole part)."""
    frame = frame.head(rows)
    kinds = {str(name): _float_ints(frame[name]) or _column_type(frame[name].dtype) for name in frame.columns}
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in kinds.items()])
    records = [
        dg.TableRecord({name: _cell(value, kinds[name]) for name, value in zip(kinds, row, strict=True)})
        for row in frame.itertuples(index=False, name=None)
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


def _float_ints(column: pd.Series) -> str | None:
    """`int` for a float column that holds whole numbers and blanks only (pandas turns an int column with a
    missing cell into floats: a parameter count of 211490 would show as 211490.0)."""
    if not pd.api.types.is_float_dtype(column.dtype):
        return None
    present = column.dropna()
    whole = bool(len(present)) and bool(np.isfinite(present).all()) and bool((present == present.round()).all())
    return "int" if whole and column.isna().any() else None


def preview(frame: pd.DataFrame, rows: int = 5) -> dg.TableMetadataValue:
    """A table of the first rows of `frame` (a dataset's or feature table's preview)."""
    return metadata_table(frame, rows)


def image(path: str | Path, alt: str) -> dg.MetadataValue:
    """A PNG embedded in Markdown, so the Dagster UI shows it inline."""
    encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")


DATA_VERSION_TAG = "dagster/data_version"  # the tag under which Dagster records a materialization's data version


@dataclass(frozen=True)
class LatestMaterialization:
    """The latest materialization of an asset or of one of its partitions: plain metadata values, data version."""

    metadata: dict
    data_version: str


def latest_materialization(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None
) -> LatestMaterialization | None:
    """The latest materialization of `key` (of its `partition` when given); None if there is none."""
    partitions = [partition] if partition is not None else None
    records = instance.fetch_materializations(dg.AssetRecordsFilter(key, asset_partitions=partitions), limit=1)
    if not records.records:
        return None
    materialization = records.records[0].asset_materialization
    metadata = {name: value.value for name, value in materialization.metadata.items()}
    return LatestMaterialization(metadata, str((materialization.tags or {}).get(DATA_VERSION_TAG, "")))


def latest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None) -> dict | None:
    """The plain metadata values of the latest materialization of `key` (of `partition`), or None."""
    latest = latest_materialization(instance, key, partition)
    return None if latest is None else latest.metadata
