"""Gene features: one vector per gene over a fixed gene index."""
