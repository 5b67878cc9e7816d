"""Train every model (neural models through torchcell_core.train, classical baselines)."""

import dagster as dg

train_all = dg.define_asset_job(
    "train_all",
    selection=dg.AssetSelection.groups("models"),
    description="Train every model: the neural models on the chosen dataset partition (a backfill over both "
    "partitions trains them on each), the classical baselines on theirs; benchmarks follow by declarative automation.",
)
