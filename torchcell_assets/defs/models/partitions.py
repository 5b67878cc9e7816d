"""The partitions of the model assets: curated dataset × split, shared by every model (and the classical
baselines), so one partition is one comparison: every family trained and tested on the same rows. The UI
shows a model × (dataset, split) grid. Graph models take their graph set from the run config; sweeps vary it.
`partition_key` (one comparison's key) is defined beside the dimension names in `lib/stages.py`."""

from dataclasses import dataclass

import dagster as dg

from torchcell_assets.lib.stages import DATASET_DIMENSION, SPLIT_DIMENSION
from torchcell_assets.lib.stages import partition_key as partition_key  # re-exported beside the partitions
from torchcell_core.datasets.splits import SPLIT_COLUMNS

MODEL_DATASETS = ("digenic", "trigenic")
MODEL_PARTITIONS = dg.MultiPartitionsDefinition(
    {
        DATASET_DIMENSION: dg.StaticPartitionsDefinition(list(MODEL_DATASETS)),
        SPLIT_DIMENSION: dg.StaticPartitionsDefinition(list(SPLIT_COLUMNS)),
    }
)
# What `make demo` and the pipeline test train and compare (passed to `materialize_in_stages`): the trigenic
# (Kuzmin) dataset, where the field's question is hardest, on a random split and with whole query pairs held out.
COMPARISON_DATASET = "trigenic"
COMPARISON_SPLITS = ("split_random", "split_query")


def comparison_of(context: dg.AssetExecutionContext) -> tuple[str, str]:
    """(dataset, split) of the partition a model step materializes."""
    keys = context.partition_key.keys_by_dimension  # type: ignore[union-attr]
    return keys[DATASET_DIMENSION], keys[SPLIT_DIMENSION]


@dataclass(frozen=True)
class RunSpec:
    """What one training run trains on."""

    dataset: str
    graph_set: str  # "" for models that use no cell graph

    @property
    def label(self) -> str:
        return f"{self.dataset}-{self.graph_set.replace('+', '_') or 'nograph'}"
