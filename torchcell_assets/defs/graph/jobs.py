"""Rebuild the knowledge graph from the parsed sources."""

import dagster as dg

rebuild_graph = dg.define_asset_job(
    "rebuild_graph",
    selection=dg.AssetSelection.groups("graph"),
    description="Map the parsed sources onto the graph schema and bulk-load the graph database (atomic swap).",
)
