"""The model benchmark table: every trained model's test metrics with 95% CIs, side by side."""

import json

import dagster as dg
import pandas as pd

from torchcell_assets.defs.cell_graphs.assets import source_simulated
from torchcell_assets.defs.datasets.assets import read_card
from torchcell_assets.defs.models.baselines import classical_baselines
from torchcell_assets.defs.models.runs import inputs_table, trained_runs
from torchcell_assets.defs.models.training import MODEL_ASSETS
from torchcell_assets.defs.sources.paths import GENOME_PARQUET, GO_ANNOTATIONS_PARQUET
from torchcell_assets.lib.automation import FOLLOW_TRAINING_RUNS
from torchcell_assets.lib.code_versions import code_version
from torchcell_assets.lib.metadata import image, metadata_table
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_assets.lib.tables import publish_table
from torchcell_core.benchmarks.ceilings import ceiling_rows, read_measurements
from torchcell_core.benchmarks.claims import claim_verdicts
from torchcell_core.benchmarks.inputs import with_simulated_columns
from torchcell_core.benchmarks.model_table import (
    classical_run_rows,
    family_summary,
    neural_run_rows,
    pearson_bars,
    summary_markdown,
)
from torchcell_core.cell.graph_sets import GRAPH_SETS
from torchcell_core.simulate.world import load_world

CODE_VERSION = code_version(__name__)  # the source of this module and the core code it runs

MODEL_BENCHMARKS = "model_benchmarks"
MODEL_BENCHMARKS_CSV = ("benchmarks", "model_benchmarks.csv")
PEARSON_PNG = ("benchmarks", "model_pearson.png")
CONSTANT_BASELINES = ("train_mean", "query_identity")


@dg.asset(
    group_name="benchmarks",
    code_version=CODE_VERSION,
    deps=[*MODEL_ASSETS.values(), classical_baselines],
    kinds={"duckdb", "csv"},
    automation_condition=FOLLOW_TRAINING_RUNS,
)
def model_benchmarks(context: dg.AssetExecutionContext, storage: TorchcellStorage) -> dg.MaterializeResult:
    """One row per model run and target, grouped by comparison (dataset × split): Pearson, Spearman, MSE, R²,
    AUROC/AUPRC with 95% CIs on the test fold, parameters, training time, samples/s, graph set, feature set,
    which inputs were simulated (`simulated`, `simulated_inputs`: screens, networks, annotations), the run directory
    (relative to the data directory) and the dataset's and predictions' sha256 (the lineage of the row); the model
    partitions read, with their data versions (`inputs`); the baselines (family `baseline`) and, on
    simulated screens, the ceilings of each comparison beside them; the reference report's claims per
    comparison."""
    runs = trained_runs(context.instance, storage, classical=True)
    neural = [run for run in runs if run.model != classical_baselines.key.to_user_string()]
    if not neural:
        raise ValueError(f"no neural model has been trained: materialize a partition of {sorted(MODEL_ASSETS)}")
    rows = [row for run in neural for row in neural_run_rows(run.run_dir)]
    rows += [
        row
        for run in runs
        if run not in neural
        for row in classical_run_rows(run.run_dir, storage.dataset_parquet(run.dataset), "", run.split)
    ]
    comparisons = sorted({(row["dataset"], row["split_type"]) for row in rows})
    rows += simulated_ceiling_rows(storage, comparisons)
    table = simulated_columns(storage, pd.DataFrame(rows))
    table["run_dir"] = [storage.relative(p) if isinstance(p, str) and p else p for p in table["run_dir"]]
    published = publish_table(storage, MODEL_BENCHMARKS, MODEL_BENCHMARKS_CSV, table)
    simulated = bool(table["simulated"].any())
    inputs = sorted({key for keys in table["simulated_inputs"] for key in keys.split(", ") if key})
    title = "test Pearson per comparison" + (" [SIMULATED inputs]" if simulated else "")
    chart = pearson_bars(table, storage.path(*PEARSON_PNG), title)
    shown = table[
        [
            "dataset",
            "split_type",
            "family",
            "model",
            "graph_set",
            "target",
            "pearson",
            "pearson_ci_low",
            "pearson_ci_high",
            "mse",
            "auroc",
            "epochs",
            "best_epoch",
            "parameters",
            "samples_per_s",
            "simulated",
            "simulated_inputs",
            "run_dir",
            "dataset_sha256",
            "predictions_sha256",
        ]
    ]
    summary = family_summary(table)
    claims = {f"{d} / {s}": [v.line() for v in claim_verdicts(table, d, s)] for d, s in comparisons}
    return dg.MaterializeResult(
        metadata={
            "table": metadata_table(shown),
            "inputs": inputs_table(runs, storage),
            "pearson_chart": image(chart, "test Pearson per comparison"),
            "fitness_vs_interaction": dg.MetadataValue.md(summary_markdown(summary)),
            "claims": dg.MetadataValue.md(
                "\n\n".join(
                    f"**{name}**\n\n" + "\n".join(f"- {line}" for line in lines) for name, lines in claims.items()
                )
            ),
            "comparisons": dg.MetadataValue.json([list(c) for c in comparisons]),
            "runs": int(table[["model", "dataset", "split_type", "graph_set"]].drop_duplicates().shape[0]),
            "simulated": simulated,
            "simulated_inputs": ", ".join(inputs) or "none",
            **published.metadata,
        },
        data_version=published.data_version,
    )


def simulated_columns(storage: TorchcellStorage, table: pd.DataFrame) -> pd.DataFrame:
    """`table` with `simulated` and `simulated_inputs` per row: the dataset card's simulated screens, the graph set's
    simulated networks (as the cell_graphs manifest recorded them) and, for DCell, the GO annotations."""
    cards = {name: read_card(storage, name) for name in table["dataset"].unique()}
    manifest = storage.cell_graphs_manifest()
    graph_sets = json.loads(manifest.read_text())["graph_sets"] if manifest.is_file() else {}
    recorded = {
        GRAPH_SETS[name].slug: entry["sources"]
        for name, entry in graph_sets.items()
        if name in GRAPH_SETS and "sources" in entry
    }
    return with_simulated_columns(table, cards, lambda key: source_simulated(storage, key), recorded)


def simulated_ceiling_rows(storage: TorchcellStorage, comparisons: list[tuple[str, str]]) -> list[dict]:
    """Noise-ceiling rows for each comparison on a simulated dataset (none for real screens): see
    torchcell_core.benchmarks.ceilings."""
    world_json = storage.root() / "simulated" / "world.json"
    datasets = sorted({dataset for dataset, _ in comparisons})
    cards = {name: read_card(storage, name) for name in datasets}
    simulated = [name for name in datasets if cards[name].get("simulated")]
    if not simulated or not world_json.is_file():
        return []
    world = load_world(storage.path(*GENOME_PARQUET), storage.path(*GO_ANNOTATIONS_PARQUET), world_json)
    measurements = read_measurements(storage.root() / "simulated" / "kuzmin")
    return [
        row
        for name in simulated
        for row in ceiling_rows(
            world,
            pd.read_parquet(storage.dataset_parquet(name)),
            name,
            [s for d, s in comparisons if d == name],
            measurements,
        )
    ]


@dg.asset_check(asset=model_benchmarks, name="cis_bracket_estimates")
def cis_bracket_estimates(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Every model's test Pearson is finite and lies inside its bootstrap 95% CI (a constant prediction has no
    Pearson: the train mean always, query identity where every test query is unseen); every run has both targets."""
    table = pd.read_csv(storage.path(*MODEL_BENCHMARKS_CSV))
    table = table[table["family"] != "ceiling"]
    finite = table["pearson"].notna() | table["model"].isin(CONSTANT_BASELINES)
    inside = (
        (table["pearson_ci_low"] <= table["pearson"] + 1e-12) & (table["pearson"] <= table["pearson_ci_high"] + 1e-12)
    ) | table["pearson"].isna()
    targets = table.groupby(["model", "dataset", "split_type", "graph_set"], dropna=False)["target"].nunique()
    return dg.AssetCheckResult(
        passed=bool(finite.all() and inside[finite].all() and (targets == 2).all()),
        metadata={
            "rows": len(table),
            "non_finite": int((~finite).sum()),
            "outside_ci": int((~inside[finite]).sum()),
            "runs_missing_a_target": int((targets != 2).sum()),
        },
    )


@dg.asset_check(asset=model_benchmarks, name="no_model_above_the_oracle")
def no_model_above_the_oracle(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """No model's interaction Pearson has a 95% CI wholly above its comparison's oracle ceiling (simulated screens):
    no predictor can beat the score without its own noise, so one that does has seen the test labels."""
    table = pd.read_csv(storage.path(*MODEL_BENCHMARKS_CSV))
    oracle = table[table["model"] == "oracle_ceiling"][["dataset", "split_type", "pearson"]]
    models = table[(table["family"] != "ceiling") & (table["target"] == "interaction")]
    merged = models.merge(oracle.rename(columns={"pearson": "oracle"}), on=["dataset", "split_type"])
    above = merged[merged["pearson_ci_low"] > merged["oracle"]]
    return dg.AssetCheckResult(
        passed=above.empty,
        metadata={
            "compared": len(merged),
            "above_the_oracle": len(above),
            "examples": ", ".join(
                f"{r.model} {r.dataset}/{r.split_type} CI low {r.pearson_ci_low:.3f} > oracle {r.oracle:.3f}"
                for r in above.head(5).itertuples()
            ),
        },
    )
