"""Sweeps: `sweep_plan` expands a grid into numbered runs (dynamic partitions of `sweep_model`), a backfill of
`sweep_model` over them trains each run through Dagster Pipes (resumable: a re-run continues from its last
checkpoint), and `sweep_table` ranks the configurations on validation and reports the chosen one on test,
with the graph-set bar chart the reference report used to decide which networks help interaction prediction."""

from typing import Any

import dagster as dg
import pandas as pd

from torchcell_assets.defs.datasets.assets import DATASET_ASSETS
from torchcell_assets.defs.models.training import (
    GPU_POOL,
    K8S_GPU_TAGS,
    NEURAL_MODELS,
    PIPES_MODULE,
    TrainingConfig,
    run_spec,
    train_config,
    train_through_pipes,
    training_deps,
)
from torchcell_assets.lib.automation import FOLLOW_TRAINING_RUNS
from torchcell_assets.lib.code_versions import code_version
from torchcell_assets.lib.config_model import config_class, config_values
from torchcell_assets.lib.metadata import image, metadata_table
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_assets.lib.tables import publish_table
from torchcell_core.benchmarks.claims import string_versions
from torchcell_core.benchmarks.model_table import neural_run_rows
from torchcell_core.benchmarks.sweep_plots import graph_set_bars
from torchcell_core.hashing import file_sha256
from torchcell_core.train.config import TrainSettings
from torchcell_core.train.prediction_check import PREDICTIONS_COMPLETE
from torchcell_core.train.run_dir import RunDir
from torchcell_core.train.sweep import (
    FULL,
    SweepRun,
    expand_grid,
    rank_sweep,
    read_manifest,
    run_rows,
    write_manifest,
)

CODE_VERSION = code_version(__name__, PIPES_MODULE)  # this module, the training child and the core code they run

SWEEP_PARTITIONS = dg.DynamicPartitionsDefinition(name="sweep_runs")
SWEEP_TABLE = "sweep_results"
SWEEP_CSV = ("sweeps", "sweep_results.csv")
GRAPH_SWEEP_PNG = ("sweeps", "graph_set_sweep.png")


class SweepConfig(config_class(TrainSettings, "SweepSettingsConfig")):
    """The grid, and the settings every run of it trains with: the core's `TrainSettings` (the names, defaults
    and meaning of `<model>_model`'s config, e.g. `epochs: 0` = each model's default) plus `split` and `nproc`.
    The default grid is the reference report's graph sweep: Dango and the HeteroGNN on the trigenic dataset with
    whole query pairs held out, with each graph set, plus one ablation; each run trains to early stopping on
    validation (at most `epochs`)."""

    sweep_id: str = "graph_sets"
    models: list[str] = ["dango", "hetero_gnn"]
    datasets: list[str] = ["trigenic"]
    graph_sets: list[str] = ["string9.1", "string12", "physical+regulatory"]  # tried by the graph models only
    gene_features: list[str] = [""]  # "" = learned embedding
    hparam_grid: dict[str, list[str]] = {}  # e.g. {"embedding_dim": ["32", "64"]}
    # name → key=value items; "<model>.<name>" applies to that model only
    ablations: dict[str, list[str]] = {"dango.no_reconstruction": ["reconstruction_weight=0"]}
    split: str = "split_query"
    nproc: int = 1  # ranks per run; > 1 launches torchrun (DDP)


def run_training_config(settings: dict[str, Any], run: SweepRun) -> TrainingConfig:
    """A sweep run's `TrainingConfig`: the manifest's shared settings (a setting an older manifest lacks takes
    its default) and the run's gene feature, graph set and hyperparameters."""
    shared = {name: value for name, value in settings.items() if name != "split"}
    return TrainingConfig(**shared, gene_feature=run.gene_feature, graph_set=run.graph_set, hparams=run.hparams)


@dg.asset(group_name="sweeps", code_version=CODE_VERSION, kinds={"json"})
def sweep_plan(
    context: dg.AssetExecutionContext, config: SweepConfig, storage: TorchcellStorage
) -> dg.MaterializeResult:
    """The sweep's runs as a manifest and as partitions of `sweep_model` (launch a backfill over them)."""
    unknown = sorted(set(config.models) - set(NEURAL_MODELS))
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; known: {sorted(NEURAL_MODELS)}")
    graph_sets = {m: list(config.graph_sets) for m in config.models if NEURAL_MODELS[m].graph_set}
    ablations = {name: items for name, items in config.ablations.items()}
    runs = expand_grid(
        config.sweep_id,
        list(config.models),
        list(config.datasets),
        graph_sets,
        list(config.gene_features),
        dict(config.hparam_grid),
        ablations,
    )
    settings = {"split": config.split, "nproc": config.nproc, **config_values(config, TrainSettings)}
    path = write_manifest(storage.sweep_manifest(config.sweep_id), runs, settings)
    keys = [run.key for run in runs]
    context.instance.add_dynamic_partitions(SWEEP_PARTITIONS.name, keys)
    context.log.info(f"sweep {config.sweep_id}: {len(runs)} runs; launch a backfill of sweep_model over {keys[0]}…")
    shown = pd.DataFrame([{"partition": r.key, "configuration": r.label} for r in runs])
    return dg.MaterializeResult(
        metadata={
            "runs": len(runs),
            "sweep_id": config.sweep_id,
            "partitions": metadata_table(shown),
            "manifest": dg.MetadataValue.path(storage.relative(path)),
        },
        data_version=dg.DataVersion(file_sha256(path)[:16]),
    )


@dg.asset(
    group_name="sweeps",
    code_version=CODE_VERSION,
    kinds={"pytorch"},
    partitions_def=SWEEP_PARTITIONS,
    pool=GPU_POOL,
    op_tags=K8S_GPU_TAGS,
    deps=[sweep_plan, *training_deps(NEURAL_MODELS, DATASET_ASSETS)],
    check_specs=[
        dg.AssetCheckSpec(
            PREDICTIONS_COMPLETE,
            asset="sweep_model",
            description="one finite, non-constant prediction per fold row and target",
        )
    ],
)
def sweep_model(
    context: dg.AssetExecutionContext, storage: TorchcellStorage, pipes_subprocess_client: dg.PipesSubprocessClient
) -> dg.MaterializeResult:
    """One sweep run (the partition `<sweep id>-<n>`), trained through Pipes; logged to wandb in the sweep's group."""
    key = context.partition_key
    sweep_id = key.rsplit("-", 1)[0]
    settings, runs = read_manifest(storage.sweep_manifest(sweep_id))
    run = runs[key]
    config = run_training_config(settings, run)
    spec = run_spec(run.model, run.dataset, config)
    train = train_config(run.model, spec, settings["split"], config, storage)
    train.wandb_group, train.run_name = sweep_id, key
    target = storage.sweep_run_dir(sweep_id, key)
    context.log.info(f"sweep run {key}: {run.label}")
    shown = {
        "sweep_id": sweep_id,
        "configuration": run.label,
        "model": run.model,
        "dataset": run.dataset,
        "graph_set": run.graph_set,
        "ablation": run.ablation,
    }
    return train_through_pipes(
        context, pipes_subprocess_client, train, target, config.nproc, shown, recorded_dir=storage.relative(target)
    )


@dg.asset(
    group_name="sweeps",
    code_version=CODE_VERSION,
    kinds={"duckdb", "csv"},
    deps=[sweep_model],
    automation_condition=FOLLOW_TRAINING_RUNS,
)
def sweep_table(context: dg.AssetExecutionContext, storage: TorchcellStorage) -> dg.MaterializeResult:
    """Every finished sweep run ranked within its sweep on validation interaction Pearson; the chosen (rank 1)
    configuration's test Pearson with CIs; a bar chart of test interaction Pearson per graph set."""
    rows, manifests = [], {}
    for key in sorted(context.instance.get_materialized_partitions(sweep_model.key)):
        sweep_id = key.rsplit("-", 1)[0]
        path = storage.sweep_manifest(sweep_id)
        if not path.is_file():
            continue
        manifests.setdefault(sweep_id, read_manifest(path)[1])
        run = manifests[sweep_id].get(key)
        metrics_path = RunDir(storage.sweep_run_dir(sweep_id, key)).metrics
        if run is None or not metrics_path.is_file():
            continue
        rows.append(run_rows(run, pd.read_json(metrics_path, typ="series").to_dict()))
    if not rows:
        raise ValueError("no sweep run has finished: materialize sweep_plan, then backfill sweep_model")
    table = rank_sweep(pd.DataFrame(rows))
    published = publish_table(storage, SWEEP_TABLE, SWEEP_CSV, table)
    claims = [
        f"{sweep_id}: "
        + string_versions(
            pd.DataFrame(
                [
                    r
                    for key in part.loc[part["ablation"] == FULL, "key"]  # the full models, not their ablations
                    for r in neural_run_rows(storage.sweep_run_dir(sweep_id, key))
                ]
            )
        ).line()
        for sweep_id, part in table.groupby("sweep_id")
    ]
    chart = graph_set_bars(table, storage.path(*GRAPH_SWEEP_PNG))
    chosen = table[table["chosen"]]
    shown = [
        "sweep_id",
        "rank",
        "key",
        "model",
        "dataset",
        "graph_set",
        "ablation",
        "hparams",
        "val_pearson",
        "test_interaction_pearson",
        "test_interaction_ci_low",
        "test_interaction_ci_high",
        "test_fitness_pearson",
    ]
    shown = [c for c in shown if c in table.columns]
    return dg.MaterializeResult(
        metadata={
            "ranked": metadata_table(table[shown]),
            "chosen": metadata_table(chosen[shown]),
            "graph_set_chart": image(chart, "test interaction Pearson per graph set"),
            "claim_string_versions": dg.MetadataValue.md("\n".join(f"- {line}" for line in claims)),
            "runs": len(table),
            **published.metadata,
        },
        data_version=published.data_version,
    )


@dg.asset_check(asset=sweep_table, name="chosen_is_best_on_validation")
def chosen_is_best_on_validation(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """In every sweep exactly one configuration is chosen, and no other has a higher validation Pearson."""
    table = pd.read_csv(storage.path(*SWEEP_CSV))
    bad = []
    for sweep_id, part in table.groupby("sweep_id"):
        chosen = part[part["chosen"]]
        if len(chosen) != 1 or part["val_pearson"].max() > chosen["val_pearson"].iloc[0] + 1e-12:
            bad.append(sweep_id)
    return dg.AssetCheckResult(passed=not bad, metadata={"sweeps": int(table["sweep_id"].nunique()), "wrong": str(bad)})


@dg.asset_check(asset=sweep_plan, name="every_run_is_a_partition")
def every_run_is_a_partition(context: dg.AssetCheckExecutionContext, storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Each run of every stored sweep manifest is a partition of sweep_model, so a backfill reaches all of them."""
    partitions = set(context.instance.get_dynamic_partitions(SWEEP_PARTITIONS.name))
    manifests = storage.sweep_manifests()
    missing = [key for path in manifests for key in read_manifest(path)[1] if key not in partitions]
    figures = {"manifests": len(manifests), "missing_partitions": str(missing[:10])}
    return dg.AssetCheckResult(passed=bool(manifests) and not missing, metadata=figures)
