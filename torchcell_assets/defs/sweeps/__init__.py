"""Sweeps and ablations: a grid of training runs as partitions of one asset, launched as a backfill."""
