"""Where the sources domain writes its outputs (read by downstream domains)."""

from pathlib import Path

from torchcell_assets.lib.storage import TorchcellStorage

GENOME_PARQUET = ("sources", "s288c_genes.parquet")
GO_ANNOTATIONS_PARQUET = ("sources", "s288c_go_annotations.parquet")
COSTANZO_RECORDS = ("sources", "costanzo2016", "records.parquet")
COSTANZO_SMF = ("sources", "costanzo2016", "single_mutant_fitness.parquet")
COSTANZO_SIMULATED_DIR = ("simulated", "costanzo2016")
# Written by costanzo2016_raw_files: which directory holds the current release, and its digests.
COSTANZO_CURRENT = ("sources", "costanzo2016", "current_source.json")


def costanzo_raw_dir(storage: TorchcellStorage, simulated: bool) -> Path:
    """Simulated files live under the data dir; a user's real release under the raw dir."""
    return storage.root().joinpath(*COSTANZO_SIMULATED_DIR) if simulated else storage.raw("costanzo2016")
