"""Benchmark tables built from model predictions."""
