"""Materialize the default graph in in-process runs: everything up to the models, one run per comparison
partition (the comparison dataset × each comparison split) holding every model and the baselines (a run
holds one partition), then everything downstream of the models. Sweeps are left out: they are planned and
backfilled deliberately.

Used by `make demo` and the pipeline test, so both exercise what a user does in the UI: materialize the
unpartitioned assets, launch one partition of the models, let the benchmarks follow."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from torchcell_assets.defs.models.partitions import COMPARISON_DATASET, COMPARISON_SPLITS, partition_key


def _ops(op_config: Mapping[str, Any], keys: set[dg.AssetKey]) -> dict[str, Any]:
    names = {key.to_user_string() for key in keys}
    return {name: value for name, value in op_config.items() if name in names}


def materialize_in_stages(
    definitions: dg.Definitions, instance: dg.DagsterInstance, resources: Mapping[str, Any],
    op_config: Mapping[str, Any] | None = None, raise_on_error: bool = True,
) -> list[dg.ExecuteInProcessResult]:  # fmt: skip
    """Run the three stages; `op_config` maps asset names to their `{"config": ...}`. Stops at a failed stage."""
    op_config = op_config or {}
    everything = [*definitions.assets, *definitions.asset_checks]
    graph = definitions.resolve_asset_graph()
    models = {key for key in graph.materializable_asset_keys
              if graph.get(key).partitions_def is not None and graph.get(key).group_name == "models"}  # fmt: skip
    downstream = {
        key for key in graph.materializable_asset_keys if models & graph.get_ancestor_asset_keys(key)
    } - models
    sweeps = {key for key in graph.materializable_asset_keys if graph.get(key).group_name == "sweeps"}  # deliberate
    downstream -= sweeps
    upstream = set(graph.materializable_asset_keys) - models - downstream - sweeps
    stages: list[tuple[set[dg.AssetKey], Any]] = [(upstream, None)]
    stages += [(models, partition_key(COMPARISON_DATASET, split)) for split in COMPARISON_SPLITS]
    stages += [(downstream, None)] if downstream else []
    results = []
    for keys, partition in stages:
        result = dg.materialize(
            everything, instance=instance, resources=resources, selection=list(keys), partition_key=partition,
            run_config=dg.RunConfig(ops=_ops(op_config, keys)), raise_on_error=raise_on_error,
        )  # fmt: skip
        results.append(result)
        if not result.success:
            break
    return results
