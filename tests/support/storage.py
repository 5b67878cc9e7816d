"""Data directories for the Dagster tests that train without the whole graph."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.support.training import GENES, synthetic_table
from torchcell_assets.defs.sources.paths import GENOME_PARQUET
from torchcell_assets.lib.storage import TorchcellStorage


def small_storage(root: Path) -> TorchcellStorage:
    """A data directory holding the synthetic table as the digenic dataset and the genes as the genome table."""
    storage = TorchcellStorage(data_dir=str(root))
    pq.write_table(synthetic_table()[0], storage.dataset_parquet("digenic"))
    pq.write_table(pa.table({"systematic_name": GENES}), storage.path(*GENOME_PARQUET))
    return storage
