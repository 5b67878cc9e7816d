"""Benchmark tables and plots, with lineage back to every input."""
