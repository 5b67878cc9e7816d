"""Convergence projections: how many epochs, and how many hours, each trained model needs to reach a target
validation Pearson, extrapolated from its validation curve (what longer GPU runs are planned from)."""

import dagster as dg
import pandas as pd

from torchcell_assets.defs.models.runs import inputs_table, trained_runs
from torchcell_assets.defs.models.training import MODEL_ASSETS
from torchcell_assets.lib.automation import FOLLOW_TRAINING_RUNS
from torchcell_assets.lib.code_versions import code_version
from torchcell_assets.lib.metadata import image, metadata_table
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_assets.lib.tables import publish_table
from torchcell_core.benchmarks.convergence import convergence_plot, fit_runs, load_metrics, projection_rows
from torchcell_core.train.run_dir import RunDir

CODE_VERSION = code_version(__name__)  # the source of this module and the core code it runs

CONVERGENCE_PROJECTIONS = "convergence_projections"
CONVERGENCE_CSV = ("benchmarks", "convergence_projections.csv")
CONVERGENCE_PNG = ("benchmarks", "convergence_projections.png")
SHOWN = [
    "model",
    "dataset",
    "label",
    "epochs_observed",
    "best_val_pearson",
    "r_inf",
    "r_inf_low",
    "r_inf_high",
    "target",
    "epochs_to_target",
    "hours_to_target",
    "seconds_per_epoch",
    "status",
]


class ConvergenceConfig(dg.Config):
    """The validation Pearson targets to project to, per label, and how far to extrapolate."""

    target_pearson: float = 0.5  # interaction (ε / τ) target
    fitness_target: float = 0.9
    horizon_factor: float = 10.0  # curves drawn to this × the observed epochs; projections past it: "beyond horizon"


@dg.asset(
    group_name="benchmarks",
    code_version=CODE_VERSION,
    deps=[*MODEL_ASSETS.values()],
    kinds={"csv", "duckdb"},
    automation_condition=FOLLOW_TRAINING_RUNS,
)
def convergence_projections(
    context: dg.AssetExecutionContext, config: ConvergenceConfig, storage: TorchcellStorage
) -> dg.MaterializeResult:
    """One row per trained run and label: a saturating power law r(e) = r_inf - a·e^(-b) fitted to the
    validation Pearson per epoch, its asymptote with a 95% interval, and the epochs and wall hours
    (median seconds per epoch) to reach the target; a plot of observed vs projected curves; the model partitions
    read, with their data versions (`inputs`)."""
    runs = trained_runs(context.instance, storage)
    if not runs:
        names = ", ".join(asset.key.to_user_string() for asset in MODEL_ASSETS.values())
        raise ValueError(f"no trained model run to project: materialize at least one of {names} (job train_all)")
    loaded, read = [], []
    for run in runs:
        metrics_path = RunDir(run.run_dir).metrics
        if not metrics_path.is_file():
            context.log.warning(f"{run.model}: no metrics.json in {run.run_dir}; skipped")
            continue
        loaded.append((run.model, run.dataset, run.partition, load_metrics(run.run_dir)))
        read.append(run)
    if not loaded:
        raise ValueError("no trained run has a metrics.json: rematerialize the model assets")
    targets = {"fitness": config.fitness_target, "interaction": config.target_pearson}
    fits = fit_runs(loaded, labels=tuple(targets))
    table = pd.DataFrame(projection_rows(fits, targets, config.horizon_factor))
    published = publish_table(storage, CONVERGENCE_PROJECTIONS, CONVERGENCE_CSV, table)
    title = f"validation Pearson: observed (points), fitted and projected to {config.horizon_factor:g}× (dashed)"
    plot = convergence_plot(fits, targets, storage.path(*CONVERGENCE_PNG), config.horizon_factor, title)
    return dg.MaterializeResult(
        metadata={
            "table": metadata_table(table[SHOWN]),
            "inputs": inputs_table(read, storage),
            "projection_plot": image(plot, "observed vs projected validation Pearson"),
            "runs": len(loaded),
            "targets": dg.MetadataValue.json(targets),
            **published.metadata,
        },
        data_version=published.data_version,
    )


@dg.asset_check(asset=convergence_projections, name="projections_consistent")
def projections_consistent(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Every fitted asymptote lies inside its interval and at or above the best observed value (less 0.02), and
    every projected epoch lies past the observed epochs: a projection that contradicts its own data fails."""
    table = pd.read_csv(storage.path(*CONVERGENCE_CSV))
    fitted = table[table["r_inf"].notna() & table["r_inf_low"].notna()]
    bracketed = (fitted["r_inf_low"] <= fitted["r_inf"] + 1e-9) & (fitted["r_inf"] <= fitted["r_inf_high"] + 1e-9)
    above = table["r_inf"].isna() | (table["r_inf"] >= table["best_val_pearson"] - 0.02 - 1e-9)
    projected = table[table["status"].str.startswith("projected")]
    ahead = projected["epochs_to_target"] > projected["epochs_observed"]
    return dg.AssetCheckResult(
        passed=bool(bracketed.all() and above.all() and ahead.all()),
        metadata={
            "rows": len(table),
            "outside_interval": int((~bracketed).sum()),
            "asymptote_below_observed": int((~above).sum()),
            "projected_not_ahead": int((~ahead).sum()),
        },
    )
