"""`make demo`: materialize the whole default asset graph in process (every model and baseline on the
comparison dataset, once per comparison split), then print each comparison with its baselines, ceilings
and the reference report's claims.

A failure stops only what depends on it (see `torchcell_assets.lib.stages`): the demo prints what failed and
what was skipped and why, and exits non-zero only when no benchmark table could be built.

Runs against the persistent instance in `$DAGSTER_HOME` (the Makefile sets
`DAGSTER_HOME=dagster_home`), so `make ui` shows these runs afterwards.
"""

import sys
import time

import dagster as dg
import pandas as pd

from torchcell_assets.definitions import defs
from torchcell_assets.defs.benchmarks.models import MODEL_BENCHMARKS_CSV, PEARSON_PNG, model_benchmarks
from torchcell_assets.defs.models.partitions import COMPARISON_DATASET, COMPARISON_SPLITS
from torchcell_assets.lib.stages import materialize_in_stages
from torchcell_core.benchmarks.claims import claim_verdicts
from torchcell_core.benchmarks.model_table import comparison_table, family_summary, summary_markdown


def print_comparisons(table: pd.DataFrame) -> None:
    """Per comparison (dataset × split): every model with its 95% CI beside the baselines and ceilings, then one
    line per claim of the reference report."""
    for (dataset, split), _ in table.groupby(["dataset", "split_type"], sort=True):
        print(f"\n## {dataset}, {split}: test Pearson [95% CI]")
        print(comparison_table(table, dataset, split).to_markdown(index=False))
        print("\nThe reference report's claims on these numbers:")
        for verdict in claim_verdicts(table, dataset, split):
            print(f"- {verdict.line()}")


def simulated_heading(table: pd.DataFrame) -> str:
    """What the numbers were measured on: the simulated inputs of the rows, or real screens and networks."""
    inputs = sorted(
        {
            key
            for keys in table.get("simulated_inputs", pd.Series(dtype=str)).fillna("")
            for key in str(keys).split(", ")
            if key
        }
    )
    if not inputs:
        return "Model benchmarks on real screens and networks"
    return (
        f"Model benchmarks with SIMULATED inputs ({', '.join(inputs)}: torchcell's simulator, in the published formats)"
    )


def main() -> int:
    """Materialize in stages, print what failed or was skipped and the comparisons; 1 only if no table was built."""
    started = time.perf_counter()
    definitions = defs()
    storage = definitions.resources["storage"]
    with dg.DagsterInstance.get() as instance:
        runs = materialize_in_stages(
            definitions,
            instance,
            definitions.resources,
            raise_on_error=False,
            log=lambda line: print(f"demo: {line}", flush=True),
            comparison_dataset=COMPARISON_DATASET,
            comparison_splits=COMPARISON_SPLITS,
        )
    failed_checks = [
        f"{e.asset_key.to_user_string()}:{e.check_name}"
        for result in runs
        for e in result.get_asset_check_evaluations()
        if not e.passed
    ]
    print(f"\n{runs.summary()}")
    if model_benchmarks.key not in runs.materialized:
        print(
            "demo: nothing useful was built: no model benchmark table (what failed and was skipped is listed "
            "above; the run logs are in the UI: make ui)",
            file=sys.stderr,
        )
        return 1
    table = pd.read_csv(storage.path(*MODEL_BENCHMARKS_CSV))
    print(
        f"\n{simulated_heading(table)}: every family on the same dataset and split, beside the baselines and, on "
        "simulated screens, the simulator's ceilings."
    )
    print_comparisons(table)
    print("\nBest of each family per comparison:")
    print(summary_markdown(family_summary(table)))
    print(
        f"\ntable: {storage.path(*MODEL_BENCHMARKS_CSV)} (DuckDB {storage.duckdb_path}, table model_benchmarks); "
        f"chart: {storage.path(*PEARSON_PNG)}"
    )
    print(f"asset checks failed: {', '.join(failed_checks) if failed_checks else 'none'}")
    if runs.failed or runs.skipped:
        print(f"demo: built what it could; {len(runs.failed)} failed and {len(runs.skipped)} skipped (listed above)")
    print(f"finished in {time.perf_counter() - started:.0f} s")
    print("open the UI: make ui  (dagster dev on http://127.0.0.1:3000)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
