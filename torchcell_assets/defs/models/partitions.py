"""The partitions of the neural model assets: one per curated dataset, shared by every model, so a run of
`train_all` for one partition trains every model on that dataset and the UI shows a model × dataset grid.
Graph models take their graph set from the run config (default per model); sweeps vary it."""

from dataclasses import dataclass

import dagster as dg

MODEL_DATASETS = ("digenic", "trigenic")
MODEL_PARTITIONS = dg.StaticPartitionsDefinition(list(MODEL_DATASETS))


@dataclass(frozen=True)
class RunSpec:
    """What one training run trains on."""

    dataset: str
    graph_set: str  # "" for models that use no cell graph

    @property
    def label(self) -> str:
        return f"{self.dataset}-{self.graph_set.replace('+', '_') or 'nograph'}"
