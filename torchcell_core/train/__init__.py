"""Training without Dagster: DDP through torchrun, atomic checkpoints and resume, metrics with CIs, wandb."""
