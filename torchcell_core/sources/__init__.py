"""Parsers for raw sources, each for the file exactly as published."""
