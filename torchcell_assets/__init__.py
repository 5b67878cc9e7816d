"""torchcell_assets: the Dagster wiring (assets, checks, resources, schedules) over torchcell_core."""
