"""`make demo`: materialize the whole default asset graph in process (every model and baseline on the
comparison dataset, once per comparison split), then print each comparison with its baselines, ceilings
and the reference report's claims.

Runs against the persistent instance in `$DAGSTER_HOME` (the Makefile sets
`DAGSTER_HOME=dagster_home`), so `make ui` shows these runs afterwards.
"""

import sys
import time

import dagster as dg
import pandas as pd

from torchcell_assets.definitions import defs
from torchcell_assets.defs.benchmarks.models import MODEL_BENCHMARKS_CSV, PEARSON_PNG
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
    table = pd.read_csv(storage.path(*MODEL_BENCHMARKS_CSV))
    print("\nModel benchmarks on the SIMULATED screens (torchcell's simulator, in the published formats): "
          "every family on the same dataset and split, beside the baselines and the simulator's ceilings.")
    print_comparisons(table)
    print("\nBest of each family per comparison:")
    print(summary_markdown(family_summary(table)))
    print(f"\ntable: {storage.path(*MODEL_BENCHMARKS_CSV)} (DuckDB {storage.duckdb_path}, table model_benchmarks); "
          f"chart: {storage.path(*PEARSON_PNG)}")
    print(f"asset checks failed: {', '.join(failed_checks) if failed_checks else 'none'}")
    print(f"finished in {time.perf_counter() - started:.0f} s")
    print("open the UI: make ui  (dagster dev on http://127.0.0.1:3000)")
    return 1 if failed_checks else 0


if __name__ == "__main__":
    raise SystemExit(main())
