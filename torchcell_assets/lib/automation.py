"""Declarative automation shared by the domains: which assets follow their inputs by themselves."""

import dagster as dg

# Rebuilt as soon as an input's data version changes (and not while an input is missing or running):
# the graph follows the sources, datasets/features/cell graphs follow the graph and genome, benchmarks and the
# strain design follow the models. Models are not automated: training is the expensive, deliberate step
# (job `train_all`).
FOLLOW_UPSTREAM = dg.AutomationCondition.eager()

FOLLOWING_GROUPS = ("graph", "datasets", "features", "cell_graphs", "benchmarks", "design")

# What a changed raw file refreshes by itself: everything from the sources to the training inputs. Training
# (groups models, sweeps) stays deliberate; what follows a model is kept current by FOLLOW_UPSTREAM.
TRAINING_INPUTS = dg.AssetSelection.groups("sources", "graph", "datasets", "features", "cell_graphs")
