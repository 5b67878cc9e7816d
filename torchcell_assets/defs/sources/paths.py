"""Where the sources domain writes its outputs (read by downstream domains)."""

import json
from pathlib import Path

from torchcell_assets.lib.storage import TorchcellStorage

GENOME_PARQUET = ("sources", "s288c_genes.parquet")
GO_ANNOTATIONS_PARQUET = ("sources", "s288c_go_annotations.parquet")
GO_TERMS = ("sources", "go", "terms.parquet")
GO_EDGES = ("sources", "go", "edges.parquet")
COSTANZO_RECORDS = ("sources", "costanzo2016", "records.parquet")
PROVENANCE = "provenance.json"


def source_output_dir(storage: TorchcellStorage, key: str) -> Path:
    """A source's published outputs: a link to its current version folder (see `torchcell_core.publish`).

    Only the parent folder is created: the source asset publishes the directory itself."""
    return storage.path("sources", key)


def simulated_dir(storage: TorchcellStorage, simulator: str) -> Path:
    """Where `simulated_release` keeps one simulator's files (e.g. `costanzo2016`, `networks`)."""
    return storage.root() / "simulated" / simulator


def read_provenance(storage: TorchcellStorage, key: str) -> dict:
    """What a source asset recorded: directory, simulated flag, file digests, URL, citation."""
    return json.loads((storage.root() / "sources" / key / PROVENANCE).read_text())
