"""Metadata helpers: previews, embedded images and content versions for MaterializeResult."""

import base64
from pathlib import Path

import dagster as dg
import pandas as pd


def preview(frame: pd.DataFrame, rows: int = 5) -> dg.MetadataValue:
    """A Markdown preview of the first rows of a table."""
    return dg.MetadataValue.md(frame.head(rows).to_markdown(index=False, floatfmt=".4g"))


def image(path: str | Path, alt: str) -> dg.MetadataValue:
    """A PNG embedded in Markdown, so the Dagster UI shows it inline."""
    encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")


def latest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict | None:
    """The plain values of an asset's latest materialization metadata, or None if it was never materialized."""
    event = instance.get_latest_materialization_event(key)
    if event is None:
        return None
    return {name: value.value for name, value in event.asset_materialization.metadata.items()}
