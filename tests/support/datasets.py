"""A curated dataset without rows, as the dataset asset builds it for a release that has none: shared by the
tests of what an empty dataset does downstream (its checks, the baselines)."""

from pathlib import Path

import duckdb
import pyarrow as pa

from torchcell_core.datasets.card import dataset_card
from torchcell_core.datasets.curate import SPECS, curate, empty_reason
from torchcell_core.datasets.splits import assign_splits

ENVIRONMENTS = pa.table({"id": ["YPD_30C"], "media": ["YPD"], "temperature": [30]})
SOURCES = [{"id": "kuzmin2018", "version": "2018", "simulated": True}]


def empty_dataset(directory: Path) -> tuple[pa.Table, dict]:
    """The trigenic dataset of a release without triples, as the dataset asset builds it: table and card."""
    spec = SPECS["trigenic"]
    table, counts = curate(
        duckdb.connect(), spec, pa.table({"experiment": pa.array([], pa.string())}), ENVIRONMENTS, {"kuzmin2018": True}
    )
    splits, seeds = assign_splits(
        table.column("genotype").to_pylist(),
        table.column("genes").to_pylist(),
        table.column("queries").to_pylist(),
        seed=0,
    )
    for column, labels in splits.items():
        table = table.append_column(column, pa.array(labels.tolist(), pa.string()))
    card = dataset_card(table, spec.n_genes, SOURCES, directory / "labels.png", spec.description)
    return table, card | {"empty_reason": empty_reason(spec, counts), "split_seeds": seeds}
