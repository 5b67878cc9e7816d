"""The graph-set sweep of the reference report, run in process against the demo instance (after `make demo`):
`sweep_plan` with the default grid (Dango and the HeteroGNN × STRING 9.1 / STRING 12 / physical+regulatory on
the trigenic dataset with query pairs held out, Dango also without reconstruction), every `sweep_model` partition
trained to early stopping, then `sweep_table`. The runs show up in `make ui` like a backfill launched there.

    DAGSTER_HOME=dagster_home .venv/bin/python scripts/graph_sweep.py [--epochs N] [--device cpu] [--models ...]

`--epochs 0` (the default) trains each model up to its registered default.
"""

from __future__ import annotations

import argparse
import time

import dagster as dg
import pandas as pd

from torchcell_assets.definitions import defs
from torchcell_assets.defs.sweeps.assets import (
    SWEEP_CSV,
    SWEEP_PARTITIONS,
    SweepConfig,
    sweep_model,
    sweep_plan,
    sweep_table,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep-id", default=SweepConfig().sweep_id)
    parser.add_argument("--models", nargs="+", default=SweepConfig().models)
    parser.add_argument("--epochs", type=int, default=SweepConfig().epochs)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    definitions = defs()
    resources = definitions.resources
    grid = {"sweep_id": args.sweep_id, "models": args.models, "epochs": args.epochs, "device": args.device}
    with dg.DagsterInstance.get() as instance:
        planned = dg.materialize(
            [sweep_plan],
            instance=instance,
            resources=resources,
            run_config=dg.RunConfig(ops={"sweep_plan": {"config": grid}}),
        )
        if not planned.success:
            return 1
        keys = [k for k in instance.get_dynamic_partitions(SWEEP_PARTITIONS.name) if k.startswith(f"{args.sweep_id}-")]
        for key in keys:
            run_started = time.perf_counter()
            result = dg.materialize(
                [sweep_model], instance=instance, resources=resources, partition_key=key, raise_on_error=False
            )
            print(
                f"{key}: {'ok' if result.success else 'FAILED'} in {time.perf_counter() - run_started:.0f} s",
                flush=True,
            )
        table = dg.materialize([sweep_table], instance=instance, resources=resources)
        if not table.success:
            return 1
    storage = resources["storage"]
    frame = pd.read_csv(storage.path(*SWEEP_CSV))
    print(frame[frame["sweep_id"] == args.sweep_id].to_markdown(index=False, floatfmt=".3f"))
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
