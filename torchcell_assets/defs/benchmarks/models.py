"""The model benchmark table: every trained model's test metrics with 95% CIs, side by side."""

import json

import dagster as dg
import pandas as pd

from torchcell_assets.defs.datasets.assets import dataset_parquet
from torchcell_assets.defs.models.baselines import classical_baselines
from torchcell_assets.defs.models.runs import trained_runs
from torchcell_assets.defs.models.training import MODEL_ASSETS
from torchcell_assets.defs.sources.paths import GENOME_PARQUET, GO_ANNOTATIONS_PARQUET
from torchcell_assets.lib.automation import FOLLOW_UPSTREAM
from torchcell_assets.lib.metadata import image, latest_metadata
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_assets.lib.tables import publish_table
from torchcell_core.benchmarks.ceilings import ceiling_rows, read_measurements
from torchcell_core.benchmarks.model_table import (
    classical_run_rows,
    family_summary,
    neural_run_rows,
    pearson_bars,
    summary_markdown,
)
from torchcell_core.simulate.world import load_world

MODEL_BENCHMARKS = "model_benchmarks"
MODEL_BENCHMARKS_CSV = ("benchmarks", "model_benchmarks.csv")
PEARSON_PNG = ("benchmarks", "model_pearson.png")


def _latest(context: dg.AssetExecutionContext, asset: dg.AssetsDefinition) -> dict:
    metadata = latest_metadata(context.instance, asset.key)
    if metadata is None:
        raise ValueError(f"{asset.key.to_user_string()} has not been materialized")
    return metadata


@dg.asset(
    group_name="benchmarks",
    code_version="1",
    deps=[*MODEL_ASSETS.values(), classical_baselines],
    kinds={"duckdb", "csv"},
    automation_condition=FOLLOW_UPSTREAM,
)
def model_benchmarks(context: dg.AssetExecutionContext, storage: TorchcellStorage) -> dg.MaterializeResult:
    """One row per model run and target: Pearson, Spearman, MSE, R², AUROC/AUPRC with 95% CIs on the
    test fold, parameters, training time, samples/s, graph set, feature set and the dataset's and
    predictions' sha256 (the lineage of the row)."""
    runs = trained_runs(context.instance)
    if not runs:
        raise ValueError(f"no neural model has been trained: materialize a partition of {sorted(MODEL_ASSETS)}")
    rows = [row for run in runs for row in neural_run_rows(run.run_dir)]
    classical = _latest(context, classical_baselines)
    rows += classical_run_rows(classical["run_dir"], dataset_parquet(storage, classical["dataset"]),
                               classical["gene_feature"], classical["split"])  # fmt: skip
    rows += simulated_ceiling_rows(storage, {row["dataset"] for row in rows})
    table = pd.DataFrame(rows)
    published = publish_table(storage, MODEL_BENCHMARKS, MODEL_BENCHMARKS_CSV, table)
    simulated = bool(json.loads(dataset_parquet(storage, "digenic").with_suffix(".card.json").read_text())["simulated"])
    title = "test Pearson, fitness vs interaction" + (" [SIMULATED screens]" if simulated else "")
    chart = pearson_bars(table, storage.path(*PEARSON_PNG), title)
    shown = table[["model", "family", "dataset", "graph_set", "target", "pearson", "pearson_ci_low", "pearson_ci_high",
                   "mse", "auroc", "parameters", "samples_per_s"]]  # fmt: skip
    summary = family_summary(table)
    return dg.MaterializeResult(
        metadata={
            "table": dg.MetadataValue.md(shown.to_markdown(index=False, floatfmt=".3f")),
            "pearson_chart": image(chart, "test Pearson per model"),
            "fitness_vs_interaction": dg.MetadataValue.md(summary_markdown(summary)),
            "runs": int(table[["model", "dataset", "graph_set"]].drop_duplicates().shape[0]),
            "simulated": simulated,
            **published.metadata,
        },
        data_version=published.data_version,
    )


def simulated_ceiling_rows(storage: TorchcellStorage, datasets: set[str]) -> list[dict]:
    """Noise-ceiling rows for each simulated dataset (none for real screens): see torchcell_core.benchmarks.ceilings."""
    world_json = storage.root() / "simulated" / "world.json"
    cards = {
        name: json.loads(dataset_parquet(storage, name).with_suffix(".card.json").read_text()) for name in datasets
    }
    simulated = sorted(name for name, card in cards.items() if card.get("simulated"))
    if not simulated or not world_json.is_file():
        return []
    world = load_world(storage.path(*GENOME_PARQUET), storage.path(*GO_ANNOTATIONS_PARQUET), world_json)
    measurements = read_measurements(storage.root() / "simulated" / "kuzmin")
    return [row for name in simulated
            for row in ceiling_rows(world, pd.read_parquet(dataset_parquet(storage, name)), name,
                                    measurements=measurements)]  # fmt: skip


@dg.asset_check(asset=model_benchmarks, name="cis_bracket_estimates")
def cis_bracket_estimates(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Every model's test Pearson is finite and lies inside its bootstrap 95% CI; every run has both targets."""
    table = pd.read_csv(storage.path(*MODEL_BENCHMARKS_CSV))
    table = table[table["family"] != "ceiling"]
    finite = table["pearson"].notna()
    inside = (table["pearson_ci_low"] <= table["pearson"] + 1e-12) & (
        table["pearson"] <= table["pearson_ci_high"] + 1e-12
    )
    targets = table.groupby(["model", "dataset"])["target"].nunique()
    return dg.AssetCheckResult(
        passed=bool(finite.all() and inside[finite].all() and (targets == 2).all()),
        metadata={"rows": len(table), "non_finite": int((~finite).sum()), "outside_ci": int((~inside[finite]).sum()),
                  "runs_missing_a_target": int((targets != 2).sum())},
    )  # fmt: skip
