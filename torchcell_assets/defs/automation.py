"""The sensor that evaluates the FOLLOW_UPSTREAM conditions; it starts running by default."""

import dagster as dg

from torchcell_assets.lib.automation import FOLLOWING_GROUPS

follow_upstream = dg.AutomationConditionSensorDefinition(
    "follow_upstream",
    target=dg.AssetSelection.groups(*FOLLOWING_GROUPS),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-materializes graph, datasets, features, cell graphs and benchmarks when their inputs change.",
)
