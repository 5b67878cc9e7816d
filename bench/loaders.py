"""Genome loading: parsing the packaged GenBank files vs reading the Parquet cache (goal: under 1 s).

The Costanzo 2016 parse is measured at full scale by `bench/costanzo_full.py`.
"""

import tempfile
import time
from pathlib import Path

from torchcell_core.genome.reference import load_reference_gene_table


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        (table, _), parse_s = timed(lambda: load_reference_gene_table(cache))
        _, cached_s = timed(lambda: load_reference_gene_table(cache))
        print(
            f"genome ({table.num_rows:,} genes): parse {parse_s:.2f} s, cached {cached_s:.3f} s, "
            f"ratio {parse_s / cached_s:.0f}x"
        )


if __name__ == "__main__":
    main()
