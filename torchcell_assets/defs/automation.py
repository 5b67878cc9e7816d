"""The sensor that evaluates the declarative automation (FOLLOW_UPSTREAM, FOLLOW_TRAINING_RUNS); it starts
running by default. Its target leaves out the training runs, so automation never trains a model."""

import dagster as dg

from torchcell_assets.lib.automation import FOLLOWED

follow_upstream = dg.AutomationConditionSensorDefinition(
    "follow_upstream",
    target=FOLLOWED,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-materializes graph, datasets, features and cell graphs when their inputs are materialized "
    "again, and the benchmarks, strain design and sweep table after each new model or sweep run; never trains.",
)
