"""Train every model (neural models through torchcell_core.train, classical baselines)."""

import dagster as dg

train_all = dg.define_asset_job(
    "train_all",
    selection=dg.AssetSelection.groups("models"),
    description="Train every model on its configured dataset; benchmarks follow by declarative automation.",
)
