"""Gene feature embeddings: one tensor per feature over the shared gene index."""
