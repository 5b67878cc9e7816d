"""Benchmark assets: test metrics as a DuckDB table, a CSV and a scatter plot."""

import json
from pathlib import Path

import dagster as dg
import pandas as pd

from torchcell_assets.defs.models.assets import (
    MODEL_CARD,
    PREDICTIONS,
    RF_DIR,
    random_forest_digenic,
)
from torchcell_assets.defs.sources.paths import read_provenance
from torchcell_assets.defs.sources.releases import costanzo2016
from torchcell_assets.lib.automation import FOLLOW_UPSTREAM
from torchcell_assets.lib.metadata import image
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.benchmarks.table import BENCHMARK_TABLE, benchmark_rows, store_benchmark
from torchcell_core.evaluation.plots import scatter_predicted_vs_measured
from torchcell_core.hashing import file_sha256
from torchcell_core.simulate.costanzo2016 import TRUTH_PAIRS

BENCHMARK_CSV = ("benchmarks", "benchmark_results.csv")
SCATTER_PNG = ("benchmarks", "random_forest_digenic_test_scatter.png")


@dg.asset(
    group_name="benchmarks",
    automation_condition=FOLLOW_UPSTREAM,
    code_version="1",
    deps=[random_forest_digenic, costanzo2016],
    kinds={"duckdb", "csv"},
)
def benchmark_table(context: dg.AssetExecutionContext, storage: TorchcellStorage) -> dg.MaterializeResult:
    """Test-split Pearson, Spearman and MSE of each model, the mean baseline and the noise ceiling."""
    model_dir = storage.root().joinpath(*RF_DIR)
    predictions = pd.read_parquet(model_dir / PREDICTIONS)
    card = json.loads((model_dir / MODEL_CARD).read_text())
    provenance = read_provenance(storage, "costanzo2016")
    truth_path = Path(provenance["directory"]) / TRUTH_PAIRS
    truth = pd.read_parquet(truth_path) if provenance["simulated"] and truth_path.is_file() else None
    rows = benchmark_rows(predictions, card, truth)
    rows["model_predictions_sha256"] = file_sha256(model_dir / PREDICTIONS)
    with storage.duckdb() as con:
        store_benchmark(con, rows)
    csv_path = storage.path(*BENCHMARK_CSV)
    rows.to_csv(csv_path, index=False)
    test = predictions[predictions["split"] == "test"]
    model_row = rows.iloc[0]
    scatter = scatter_predicted_vs_measured(
        test["measured"].to_numpy(),
        test["predicted"].to_numpy(),
        storage.path(*SCATTER_PNG),
        title=f"random forest, one-hot, test split (n={len(test)})\n"
        f"Pearson {model_row['pearson']:.3f}" + ("  [SIMULATED screen]" if card.get("simulated") else ""),
    )
    context.log.info(f"benchmark: {rows[['model', 'pearson', 'mse']].to_dict('records')}")
    shown = rows[["model", "features", "eval_split", "pearson", "spearman", "mse", "n", "simulated"]]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "table": dg.MetadataValue.md(shown.to_markdown(index=False, floatfmt=".4f")),
            "random_forest_test_pearson": float(model_row["pearson"]),
            "scatter": image(scatter, "predicted vs measured ε"),
            "csv": dg.MetadataValue.path(str(csv_path)),
            "duckdb_table": f"{storage.duckdb_path}:{BENCHMARK_TABLE}",
            "simulated": bool(card.get("simulated")),
        },
        data_version=dg.DataVersion(file_sha256(csv_path)[:16]),
    )
