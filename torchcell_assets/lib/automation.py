"""Declarative automation shared by the domains: which assets follow their inputs by themselves."""

import dagster as dg

# Rebuilt as soon as an input is materialized again (and not while an input is missing or running): the
# graph follows the sources, datasets/features/cell graphs follow the graph and genome. For assets whose
# inputs are all unpartitioned.
FOLLOW_UPSTREAM = dg.AutomationCondition.eager()

# The partitioned training assets: one partition per training run (a model × dataset × split, a sweep
# run). Never automated: training is the expensive, deliberate step (job `train_all`, a sweep backfill).
TRAINING_RUNS = dg.AssetSelection.groups("models") | dg.AssetSelection.assets("sweep_model")
# The trained networks among them (the classical baselines are not): what the benchmarks, the convergence
# projections, the strain design and the sweep table read; without one of them they fail.
TRAINED_NETWORKS = TRAINING_RUNS & dg.AssetSelection.kind("pytorch")

# eager() for an unpartitioned asset that reads training runs. eager() waits until no input is missing, and a
# partitioned input counts as missing while any of its partitions is (there always is one: nobody trains
# every model on every dataset and split), so it never fired. Here a training input is needed only in part:
# a newly materialized partition of any of them requests the asset, once some trained network exists and
# every other input exists; never while an input or the asset itself is in progress.
FOLLOW_TRAINING_RUNS = (
    dg.AutomationCondition.eager()
    .without(~dg.AutomationCondition.any_deps_missing())
    .with_label("eager_without_any_deps_missing")
    & ~dg.AutomationCondition.any_deps_missing().ignore(TRAINING_RUNS).with_label("any_other_deps_missing")
    & dg.AutomationCondition.any_deps_match(~dg.AutomationCondition.missing())
    .allow(TRAINED_NETWORKS)
    .with_label("any_trained_network_exists")
).with_label("eager_on_any_training_run")

# The groups `follow_upstream` evaluates besides the sweep table; the training runs are never in its target.
FOLLOWING_GROUPS = ("graph", "datasets", "features", "cell_graphs", "benchmarks", "design")
FOLLOWED = (dg.AssetSelection.groups(*FOLLOWING_GROUPS) | dg.AssetSelection.assets("sweep_table")) - TRAINING_RUNS

# What a changed raw file refreshes by itself: everything from the sources to the training inputs. Training
# (groups models, sweeps) stays deliberate; what follows a model is kept current by FOLLOW_TRAINING_RUNS.
TRAINING_INPUTS = dg.AssetSelection.groups("sources", "graph", "datasets", "features", "cell_graphs")
