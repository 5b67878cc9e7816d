"""Loader speed: GenBank parse vs Parquet cache, and SGA_*.txt parse throughput."""

import tempfile
import time
from pathlib import Path

from torchcell_core.genome.gene_table import go_annotations_frame
from torchcell_core.genome.reference import load_reference_gene_table
from torchcell_core.simulate.costanzo2016 import Costanzo2016SimConfig, simulate_costanzo2016
from torchcell_core.sources.costanzo2016 import read_sga_file

RELEASED_ROWS = 20_705_612  # all four Costanzo 2016 SGA files


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (table, _), parse_s = timed(lambda: load_reference_gene_table(tmp / "cache"))
        _, cached_s = timed(lambda: load_reference_gene_table(tmp / "cache"))
        print(f"genome: parse {parse_s:.2f} s, cached {cached_s:.3f} s, ratio {parse_s / cached_s:.0f}x")

        genes = table.drop_columns(["go_annotations"]).to_pandas()
        simulate_costanzo2016(genes, go_annotations_frame(table), tmp / "sim", Costanzo2016SimConfig())
        base = (tmp / "sim" / "SGA_NxN.txt").read_text(encoding="utf-8").splitlines(keepends=True)
        big = tmp / "SGA_big.txt"
        with open(big, "w", encoding="utf-8") as handle:  # ~1M rows: the header, then rows repeated
            handle.write(base[0])
            for _ in range(1_000_000 // (len(base) - 1) + 1):
                handle.writelines(base[1:])
        rows, seconds = timed(lambda: sum(len(c) for c in read_sga_file(big)))
        rate = rows / seconds
        print(f"SGA parse: {rows:,} rows in {seconds:.2f} s = {rate:,.0f} rows/s")
        print(f"projected for the {RELEASED_ROWS:,} released rows: {RELEASED_ROWS / rate / 60:.1f} min")


if __name__ == "__main__":
    main()
