"""Curated datasets in DuckDB: deduplicated, aggregated, split."""
