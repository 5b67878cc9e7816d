"""Declarative automation shared by the domains: which assets follow their inputs by themselves."""

import dagster as dg

# Rebuilt as soon as an input's data version changes (and not while an input is missing or running):
# the graph follows the sources, datasets/features/cell graphs follow the graph and genome, benchmarks
# follow the models. Models are not automated: training is the expensive, deliberate step (job `train_all`).
FOLLOW_UPSTREAM = dg.AutomationCondition.eager()

FOLLOWING_GROUPS = ("graph", "datasets", "features", "cell_graphs", "benchmarks")
