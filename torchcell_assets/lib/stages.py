"""Materialize the default graph in in-process runs: everything up to the models, one run per comparison
partition (the comparison dataset × each comparison split) holding every model and the baselines (a run
holds one partition), then everything downstream of the models. Sweeps are left out: they are planned and
backfilled deliberately.

A failure stops only what depends on it: a stage runs what does not depend on an asset that failed, was not
run, or has a failed blocking check; a model partition depends only on its own partition's dataset (the
models declare the datasets they can train on, a partition reads one). When the comparison dataset is empty or
failed, the models train on the next dataset that has rows, and the result says so.

Used by `make demo` and the pipeline test, so both exercise what a user does in the UI: materialize the
unpartitioned assets, launch one partition of the models, let the benchmarks follow."""

import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import dagster as dg

from torchcell_assets.lib.metadata import latest_metadata
from torchcell_core.progress import LogTarget, Progress, emitter, progress

DATASET_DIMENSION = "dataset"  # the model partitions' dimensions (defs/models/partitions.py builds them from these)
SPLIT_DIMENSION = "split"
NOT_RUN = "not run: a step it waits for failed in the same run"


def partition_key(dataset: str, split: str) -> dg.MultiPartitionKey:
    """The model partition of one comparison: `dataset` × `split`."""
    return dg.MultiPartitionKey({DATASET_DIMENSION: dataset, SPLIT_DIMENSION: split})


def dataset_key(name: str) -> dg.AssetKey:
    """The curated dataset asset a model partition on dataset `name` reads."""
    return dg.AssetKey(f"{name}_dataset")


def _ops(op_config: Mapping[str, Any], keys: set[dg.AssetKey]) -> dict[str, Any]:
    names = {key.to_user_string() for key in keys}
    return {name: value for name, value in op_config.items() if name in names}


def split_graph(graph: Any) -> tuple[set[dg.AssetKey], set[dg.AssetKey], set[dg.AssetKey]]:
    """(upstream, models, downstream): the partitioned `models` group, what feeds it and what it feeds (no sweeps)."""
    keys = set(graph.materializable_asset_keys)
    models = {
        key for key in keys if graph.get(key).partitions_def is not None and graph.get(key).group_name == "models"
    }
    sweeps = {key for key in keys if graph.get(key).group_name == "sweeps"}  # deliberate
    downstream = {key for key in keys if models & graph.get_ancestor_asset_keys(key)} - models - sweeps
    return keys - models - downstream - sweeps, models, downstream


def model_datasets(graph: Any, models: Iterable[dg.AssetKey]) -> list[str]:
    """The dataset names of the models' `dataset` partition dimension, in their declared order."""
    for key in models:
        partitions = graph.get(key).partitions_def
        if isinstance(partitions, dg.MultiPartitionsDefinition):
            dimension = next(d for d in partitions.partitions_defs if d.name == DATASET_DIMENSION)
            return list(dimension.partitions_def.get_partition_keys())
    return []


def blocked(
    graph: Any,
    keys: Iterable[dg.AssetKey],
    bad: Mapping[dg.AssetKey, str],
    dataset: str | None = None,
    datasets: Iterable[str] = (),
    stop: Iterable[dg.AssetKey] = (),
) -> dict[dg.AssetKey, dg.AssetKey]:
    """Each of `keys` with an ancestor in `bad`, mapped to the nearest such ancestor. With `dataset` (a model
    partition on it) a key's direct dependencies on the other `datasets` are not followed: it reads only its own.
    The ancestors of a `stop` key are not followed (its own state stands for them)."""
    others = {dataset_key(name) for name in datasets if name != dataset} if dataset else set()
    stop = set(stop)
    found = {}
    for key in keys:
        queue, seen = deque(sorted(set(graph.get(key).parent_keys) - others, key=str)), set()
        while queue:
            parent = queue.popleft()
            if parent in seen or not graph.has(parent):
                continue
            seen.add(parent)
            if parent in bad:
                found[key] = parent
                break
            if parent not in stop:
                queue.extend(sorted(graph.get(parent).parent_keys, key=str))
    return found


def downstream_blocked(
    graph: Any,
    downstream: set[dg.AssetKey],
    models: set[dg.AssetKey],
    trained: set[dg.AssetKey],
    bad: Mapping[dg.AssetKey, str],
) -> tuple[dict[dg.AssetKey, dg.AssetKey], dict[dg.AssetKey, str]]:
    """(blocked → cause, causes' reasons) for the assets after the models. They read whichever model runs exist,
    so a model that trained nothing blocks only an asset none of whose models trained; failures before the
    models block as usual (not through the models: a model partition stands for what it read)."""
    reasons = dict(bad) | {key: "no partition of it materialized" for key in models - trained}
    found: dict[dg.AssetKey, dg.AssetKey] = {}
    changed = True
    while changed:  # an asset after a blocked one is blocked too
        changed = False
        for key in sorted(downstream - set(found), key=str):
            cause = blocked(graph, [key], {k: v for k, v in reasons.items() if k not in models}, stop=models).get(key)
            parents = set(graph.get(key).parent_keys) & models
            if cause is None and parents and not parents & trained:
                cause = min(parents, key=str)
            if cause is not None:
                found[key] = cause
                reasons[key] = f"skipped: depends on {cause.to_user_string()}"
                changed = True
    return found, reasons


def _nodes(definitions: dg.Definitions) -> tuple[dict[str, set[dg.AssetKey]], dict[str, list[dg.AssetCheckKey]]]:
    """Op name → the asset keys it materializes, and op name → the blocking checks it evaluates."""
    assets: dict[str, set[dg.AssetKey]] = {}
    checks: dict[str, list[dg.AssetCheckKey]] = {}
    for definition in [*definitions.assets, *definitions.asset_checks]:
        if not isinstance(definition, dg.AssetsDefinition) or not definition.is_executable:
            continue
        name = definition.node_def.name
        assets.setdefault(name, set()).update(definition.keys)
        checks.setdefault(name, []).extend(spec.key for spec in definition.check_specs if spec.blocking)
    return assets, checks


def _error_line(error: Any, limit: int = 200) -> str:
    """`ValueError: what went wrong` from a step's error: its innermost cause, first line, no module path."""
    if error is None:
        return "no error recorded"
    while error.cause is not None:
        error = error.cause
    line = next((part for part in error.message.strip().splitlines() if part.strip()), error.cls_name or "")
    line = re.sub(r"^[\w.]+\.(\w+:)", r"\1", line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def run_outcome(
    result: dg.ExecuteInProcessResult, planned: set[dg.AssetKey], definitions: dg.Definitions
) -> tuple[set[dg.AssetKey], dict[dg.AssetKey, str]]:
    """(materialized, bad) of one run: bad maps each planned asset that failed, has a failed blocking check, or
    was not run (a step it waits for failed: the reason starts with `not run`) to the reason."""
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assets, checks = _nodes(definitions)
    bad: dict[dg.AssetKey, str] = {}
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed and evaluation.blocking and evaluation.severity == dg.AssetCheckSeverity.ERROR:
            bad.setdefault(evaluation.asset_key, f"blocking check {evaluation.check_name} failed")
    for event in result.get_step_failure_events():
        message = _error_line(event.step_failure_data.error)
        for key in assets.get(event.step_key, set()) & planned - materialized:
            bad.setdefault(key, f"failed: {message}")
        for check in checks.get(event.step_key, []):
            bad.setdefault(check.asset_key, f"blocking check {check.name} raised: {message}")
    for key in planned - materialized - set(bad):
        bad[key] = NOT_RUN
    return materialized, bad


class StagedRuns(list):
    """The stages' `ExecuteInProcessResult`s (a list), plus what the stages left out and why: `failed` (asset,
    with its partition, → reason), `skipped` (never launched: it depends on something that failed), `notes`
    (the comparison dataset chosen) and `materialized` (asset keys materialized in any stage)."""

    def __init__(self) -> None:
        super().__init__()
        self.failed: dict[str, str] = {}
        self.skipped: dict[str, str] = {}
        self.notes: list[str] = []
        self.materialized: set[dg.AssetKey] = set()
        self.comparison: str | None = None

    def summary(self) -> str:
        """What ran, what failed and what was skipped, one line each."""
        lines = [f"stages: {len(self)} run(s); comparison dataset: {self.comparison or 'none'}"]
        lines += [f"note: {note}" for note in self.notes]
        for title, entries in (("failed", self.failed), ("skipped", self.skipped)):
            lines += [f"{title} ({len(entries)}):"] if entries else []
            lines += [f"  {name}: {reason}" for name, reason in sorted(entries.items())]
        return "\n".join(lines)


def _rows(instance: dg.DagsterInstance, key: dg.AssetKey) -> tuple[int | None, str]:
    """(row count, empty reason) from a dataset's latest materialization; (None, "") when it has none."""
    metadata = latest_metadata(instance, key)
    if metadata is None:
        return None, ""
    rows = metadata.get("dagster/row_count")
    if metadata.get("empty"):
        rows = 0
    return (None if rows is None else int(rows)), str(metadata.get("empty_reason", "no rows"))


def choose_comparison(
    instance: dg.DagsterInstance, bad: Mapping[dg.AssetKey, str], datasets: list[str], preferred: str
) -> tuple[str | None, list[str]]:
    """The dataset the comparison trains on: `preferred`, else the first of `datasets` that did not fail and has
    rows; with a line per dataset passed over."""
    notes = []
    for name in [preferred, *(d for d in datasets if d != preferred)]:
        key = dataset_key(name)
        if key in bad:
            notes.append(f"{name} dataset unusable: {bad[key]}")
            continue
        rows, reason = _rows(instance, key)
        if rows == 0:
            notes.append(f"{name} dataset is empty: {reason}")
            continue
        if name != preferred:
            notes.append(f"the comparison trains on {name} instead of {preferred}")
        return name, notes
    return None, [*notes, "no model dataset has rows: every model partition is skipped"]


def _launch(
    runs: StagedRuns,
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    resources: Mapping[str, Any],
    op_config: Mapping[str, Any],
    keys: set[dg.AssetKey],
    partition: Any,
    raise_on_error: bool,
    stages: Progress | None = None,
    log: LogTarget = None,
) -> dict[dg.AssetKey, str]:
    """Run `keys` (in `partition`) in one in-process run; record it and return its bad assets. With `stages`,
    the stage is announced on `log` before and counted after (the progress line: stages done, elapsed, ETA)."""
    if stages is not None and (emit := emitter(log)) is not None:
        emit(
            f"stage {int(stages.count) + 1}/{int(stages.total or 0)}: {len(keys)} asset(s)"
            + (f" [{partition}]" if partition is not None else "")
        )
    result = dg.materialize(
        [*definitions.assets, *definitions.asset_checks],
        instance=instance,
        resources=resources,
        selection=sorted(keys, key=str),
        partition_key=partition,
        run_config=dg.RunConfig(ops=_ops(op_config, keys)),
        raise_on_error=raise_on_error,
    )
    runs.append(result)
    materialized, bad = run_outcome(result, keys, definitions)
    runs.materialized |= materialized
    where = f" [{partition}]" if partition is not None else ""
    for key, reason in bad.items():
        (runs.skipped if reason == NOT_RUN else runs.failed)[f"{key.to_user_string()}{where}"] = reason
    if stages is not None:
        stages.update(1)
    return bad


def _skip(
    runs: StagedRuns, found: Mapping[dg.AssetKey, dg.AssetKey], bad: Mapping[dg.AssetKey, str], where: str
) -> None:
    """Record `found` (never launched) with the reason of what it depends on."""
    for key, cause in found.items():
        runs.skipped[f"{key.to_user_string()}{where}"] = f"depends on {cause.to_user_string()} ({bad[cause]})"


def materialize_in_stages(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    resources: Mapping[str, Any],
    op_config: Mapping[str, Any] | None = None,
    raise_on_error: bool = True,
    log: LogTarget = None,
    *,
    comparison_dataset: str,
    comparison_splits: Sequence[str],
) -> StagedRuns:
    """Run the stages; `op_config` maps asset names to their `{"config": ...}`. The models train on
    `comparison_dataset` (or the next usable dataset), one run per split of `comparison_splits`. With
    `raise_on_error` the first failure raises; without, every stage runs what does not depend on a failure (see
    the module docstring). With `log`, a line as each stage starts and one with the stages done, the elapsed
    time and an ETA after it."""
    op_config = op_config or {}
    graph = definitions.resolve_asset_graph()
    upstream, models, downstream = split_graph(graph)
    runs = StagedRuns()
    stages = progress(2 + (len(comparison_splits) if models else 0), "materialize", "stages", log, every_s=0.0)
    bad = _launch(runs, definitions, instance, resources, op_config, upstream, None, raise_on_error, stages, log)
    datasets = model_datasets(graph, models)
    comparison, notes = choose_comparison(instance, bad, datasets, comparison_dataset) if models else (None, [])
    runs.comparison, runs.notes = comparison, notes
    stages.set_total(2 + (len(comparison_splits) if comparison else 0))
    trained: set[dg.AssetKey] = set()
    for split in comparison_splits if comparison else ():
        partition = partition_key(comparison, split)
        found = blocked(graph, models, bad, comparison, datasets)
        _skip(runs, found, bad, f" [{partition}]")
        if keys := models - set(found):
            failed = _launch(
                runs, definitions, instance, resources, op_config, keys, partition, raise_on_error, stages, log
            )
            trained |= keys - set(failed)
    found, reasons = downstream_blocked(graph, downstream, models, trained, bad)
    _skip(runs, found, reasons, "")
    if keys := downstream - set(found):
        _launch(runs, definitions, instance, resources, op_config, keys, None, raise_on_error, stages, log)
    stages.close()
    return runs
