"""Weekly re-verification of every source (digests, parse, checks)."""

import dagster as dg

refresh_sources = dg.define_asset_job(
    "refresh_sources",
    selection=dg.AssetSelection.groups("sources"),
    description="Re-verify and re-parse every raw source (real files in the raw directory, or the simulator).",
)

weekly_source_refresh = dg.ScheduleDefinition(
    name="weekly_source_refresh",  # the name the README and the UI use (the default would be the job's + "_schedule")
    job=refresh_sources,
    cron_schedule="0 4 * * 1",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Mondays 04:00: re-verify the raw directory; downstream assets follow changed data versions.",
)
