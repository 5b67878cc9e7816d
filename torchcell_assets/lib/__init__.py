"""Small helpers shared by the asset domains."""
