"""Recompute the benchmark tables from the trained models."""

import dagster as dg

benchmark = dg.define_asset_job(
    "benchmark",
    selection=dg.AssetSelection.groups("benchmarks"),
    description="Rebuild the benchmark table and plots from the latest model outputs.",
)
