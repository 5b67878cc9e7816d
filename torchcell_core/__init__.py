"""torchcell_core: the plain library behind torchcell (genome, sources, datasets, models).

It never imports Dagster, so every piece runs and tests on its own.
"""

__version__ = "0.1.0"
