"""`make demo`: materialize the whole default asset graph in process (one partition per model), then say
where things are.

Runs against the persistent instance in `$DAGSTER_HOME` (the Makefile sets
`DAGSTER_HOME=dagster_home`), so `make ui` shows these runs afterwards.
"""

import json
import sys
import time
from pathlib import Path

import dagster as dg
import pandas as pd

from torchcell_assets.definitions import defs
from torchcell_assets.defs.benchmarks.assets import BENCHMARK_CSV, SCATTER_PNG
from torchcell_assets.defs.benchmarks.models import MODEL_BENCHMARKS_CSV
from torchcell_assets.lib.stages import materialize_in_stages
from torchcell_core.benchmarks.model_table import family_summary, summary_markdown


def model_summary(models_dir: Path) -> pd.DataFrame:
    """Test Pearson per model and target from every run's metrics.json (neural runs and classical baselines)."""
    rows = []
    for path in sorted(models_dir.glob("*/*/metrics.json")):  # <model>/<dataset>-<graph set>-<split>/
        metrics = json.loads(path.read_text())
        runs = {metrics["model"]: metrics} if "splits" in metrics else metrics
        for model, run in runs.items():
            test = run["splits"]["test"]
            rows.append({"model": model, "dataset": path.parent.name, "epochs": run.get("epochs_completed", ""),
                         **{f"{label} r": values["pearson"] for label, values in test.items()}})  # fmt: skip
    return pd.DataFrame(rows)


def main() -> int:
    started = time.perf_counter()
    definitions = defs()
    storage = definitions.resources["storage"]
    with dg.DagsterInstance.get() as instance:
        results = materialize_in_stages(definitions, instance, definitions.resources, raise_on_error=False)
    failed_checks = [f"{e.asset_key.to_user_string()}:{e.check_name}"
                     for result in results for e in result.get_asset_check_evaluations() if not e.passed]  # fmt: skip
    if not all(result.success for result in results):
        print("demo: the run failed; see the log above", file=sys.stderr)
        return 1
    table = pd.read_csv(storage.path(*BENCHMARK_CSV))
    columns = ["model", "features", "eval_split", "pearson", "spearman", "mse", "n", "simulated"]
    print("\nBenchmark (test split; screen SIMULATED in the Costanzo 2016 format):")
    print(table[columns].to_markdown(index=False, floatfmt=".4f"))
    print(
        f"\nbenchmark table: {storage.path(*BENCHMARK_CSV)} (and DuckDB {storage.duckdb_path}, table benchmark_results)"
    )
    print(f"scatter plot:    {storage.path(*SCATTER_PNG)}")
    print("\nModels (test Pearson; short CPU runs on SIMULATED data: they show the path works, not model quality):")
    print(model_summary(storage.root() / "models").to_markdown(index=False, floatfmt=".3f"))
    print("\nFitness vs interaction: best of each family with its 95% CI, beside the simulator's noise ceilings")
    print(summary_markdown(family_summary(pd.read_csv(storage.path(*MODEL_BENCHMARKS_CSV)))))
    print(f"asset checks failed: {', '.join(failed_checks) if failed_checks else 'none'}")
    print(f"finished in {time.perf_counter() - started:.0f} s")
    print("open the UI: make ui  (dagster dev on http://127.0.0.1:3000)")
    return 1 if failed_checks else 0


if __name__ == "__main__":
    raise SystemExit(main())
