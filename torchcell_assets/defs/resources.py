"""Resource instances for every domain, chosen in this one place."""

import dagster as dg

from torchcell_assets.defs.graph.resources import GraphDatabase
from torchcell_assets.lib.storage import TorchcellStorage


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "storage": TorchcellStorage(),
            "graph": GraphDatabase(),
            # Model assets launch torchrun through it; on Kubernetes swap in dagster-k8s's PipesK8sClient.
            "pipes_subprocess_client": dg.PipesSubprocessClient(),
        }
    )
