"""Curated datasets in DuckDB, deduplicated and split."""
