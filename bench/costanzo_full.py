"""Parse and check the full-scale simulated Costanzo 2016 release (about 20.7M rows).

Goal (issue: raw sources): every row typed and checked in under 60 s at peak RSS under
2 GiB on a 2-core machine. Printed beside DuckDB's bare CSV → Parquet copy of the same
files (no checks), so the ratio shows what the checks cost.

    .venv/bin/python bench/costanzo_full.py [--dir DIR]   # DIR: reuse an existing full simulation
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from torchcell_core.progress import progress

CHILD_PARSE = """
import json, resource, sys, time
from torchcell_core.genome.reference import load_reference_gene_table
from torchcell_core.sources.costanzo2016_sga import sga_files_to_parquet
genes = set(load_reference_gene_table(sys.argv[3])[0].column("systematic_name").to_pylist())
started = time.perf_counter()
stats = sga_files_to_parquet(json.loads(sys.argv[1]), sys.argv[2], genes, simulated=True)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "rows": stats["rows"], "peak_rss_kb": peak}))
"""

CHILD_BARE = """
import json, resource, sys, time, duckdb
from torchcell_core.sources.costanzo2016_sga import _COLUMN_TYPES
con = duckdb.connect(config={"memory_limit": "1GB", "preserve_insertion_order": False})
started = time.perf_counter()
reader = ("read_csv($paths, delim = '\\t', columns = $columns, header = true, auto_detect = false, "
          "quote = '', escape = '')")
con.sql(f"SELECT * FROM {reader}", params={"paths": json.loads(sys.argv[1]), "columns": _COLUMN_TYPES}).write_parquet(
    sys.argv[2]
)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run_child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(re.findall(r"\{[^{}]*\}", out)[-1])  # DuckDB's progress bar shares stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, help="an existing full-size simulated Costanzo directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        directory = args.dir
        if directory is None:
            from torchcell_core.genome.gene_table import go_annotations_frame
            from torchcell_core.genome.reference import load_reference_gene_table
            from torchcell_core.simulate.costanzo2016 import simulate_costanzo2016
            from torchcell_core.simulate.world import build_world

            table, _ = load_reference_gene_table(tmp / "cache")
            world = build_world(table.drop_columns(["go_annotations"]).to_pandas(), go_annotations_frame(table))
            started = time.perf_counter()
            manifest = simulate_costanzo2016(world, tmp / "full", "full")
            print(f"simulate full: {sum(manifest['rows'].values()):,} rows in {time.perf_counter() - started:.0f} s")
            directory = tmp / "full"
        files = json.dumps(sorted(str(p) for p in Path(directory).glob("SGA_*.txt")))
        with progress(2, "parse + checks, then the bare copy", "runs") as runs:  # a bar on a terminal
            parsed = run_child(CHILD_PARSE, files, str(tmp / "records.parquet"), str(tmp / "cache"))
            runs.update(1)
            bare = run_child(CHILD_BARE, files, str(tmp / "bare.parquet"))
            runs.update(1)
        rate = parsed["rows"] / parsed["seconds"]
        print(
            f"parse + all checks: {parsed['rows']:,} rows in {parsed['seconds']:.1f} s = {rate:,.0f} rows/s, "
            f"peak RSS {parsed['peak_rss_kb'] / 2**20:.2f} GiB"
        )
        print(f"DuckDB CSV → Parquet alone: {bare['seconds']:.1f} s, peak RSS {bare['peak_rss_kb'] / 2**20:.2f} GiB")
        print(f"ratio (checked / bare): {parsed['seconds'] / bare['seconds']:.2f}x time")


if __name__ == "__main__":
    main()
