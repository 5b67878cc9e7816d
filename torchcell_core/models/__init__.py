"""Models: one module each (classical baselines, DCell, Dango, heterogeneous GNN)."""
