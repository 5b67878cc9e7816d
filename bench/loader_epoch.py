"""One training epoch through the perturbation loader (no model): samples/s and peak RSS.

Goal (issue: loaders for training): an epoch over 500,000 genotypes in under 10 s on the 2-core
machine. Builds a synthetic trigenic table in the curated-dataset contract (500,000 genotypes over
6,399 gene names `Y00000`.., mostly 3-gene with some 2- and 1-gene rows, 2 env columns), writes it to
a temporary Parquet file, then in a fresh process (so the peak RSS is the loader's own) times the
Parquet → dataset build and one shuffled epoch through `make_loader` at batch sizes 256 and 1024
(and at 256 through an index sampler, the DDP path), beside the naive path (`__getitem__` per sample
+ a per-sample Python collate) on a slice, extrapolated to the full epoch, as a ratio.

    .venv/bin/python bench/loader_epoch.py [--genotypes N] [--table PATH [--gene-table GENOME.parquet]]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from torchcell_core.progress import progress

NUM_GENES = 6_399
PERTURBATION_MIX = {1: 0.02, 2: 0.18, 3: 0.80}  # share of genotypes by number of perturbed genes
BATCH_SIZES = (256, 1024)


def synthetic_gene_names(num_genes: int = NUM_GENES) -> list[str]:
    return [f"Y{i:05d}" for i in range(num_genes)]


def distinct_triples(rng: np.random.Generator, rows: int, num_genes: int) -> np.ndarray:
    """[rows, 3] gene numbers, three different ones per row (rows with a repeat are redrawn)."""
    triples = rng.integers(0, num_genes, size=(rows, 3))
    while True:
        a, b, c = triples.T
        repeat = (a == b) | (b == c) | (a == c)
        if not repeat.any():
            return triples
        triples[repeat] = rng.integers(0, num_genes, size=(int(repeat.sum()), 3))


def synthetic_trigenic_table(num_genotypes: int, num_genes: int = NUM_GENES, seed: int = 0) -> pa.Table:
    """A curated-contract table of distinct genotypes (1–3 distinct sorted genes each), built vectorised."""
    rng = np.random.default_rng(seed)
    draw = int(num_genotypes * 1.02) + 16  # a few spare rows replace duplicate genotypes
    counts = rng.choice(list(PERTURBATION_MIX), size=draw, p=list(PERTURBATION_MIX.values()))
    triples = distinct_triples(rng, draw, num_genes)
    used = np.arange(3) < counts[:, None]
    triples = np.sort(np.where(used, triples, num_genes), axis=1)  # unused slots sort last
    keys = (triples[:, 0] * (num_genes + 1) + triples[:, 1]) * (num_genes + 1) + triples[:, 2]
    _, first = np.unique(keys, return_index=True)
    keep = np.sort(first)[:num_genotypes]
    if keep.size < num_genotypes:
        raise ValueError(f"only {keep.size} distinct genotypes drawn; ask for fewer than {num_genotypes}")
    counts, triples, used = counts[keep], triples[keep], used[keep]
    n = keep.size

    names = pa.array(synthetic_gene_names(num_genes))
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    genes = pa.ListArray.from_arrays(pa.array(offsets), names.take(pa.array(triples[used])))
    fitness = rng.normal(0.8, 0.15, n)
    fitness[rng.random(n) < 0.01] = np.nan
    interaction = np.where(counts > 1, rng.normal(0.0, 0.08, n), np.nan)
    temperature = rng.choice([26.0, 30.0, 37.0], size=n, p=[0.1, 0.8, 0.1])
    folds = np.array(["train", "val", "test", "excluded"])
    return pa.table(
        {
            "dataset": pa.array(["synthetic_trigenic"] * n),
            "genotype": pc.binary_join(genes, "+"),
            "genes": genes,
            "n_genes": pa.array(counts.astype(np.int8)),
            "environment": pa.array(np.char.add("YPD_", np.char.add(temperature.astype(int).astype(str), "C"))),
            "env_temperature": pa.array((temperature / 30.0).astype(np.float32)),
            "env_media_YPD": pa.array(np.ones(n, dtype=np.float32)),
            "fitness": fitness,
            "fitness_std": np.abs(rng.normal(0.0, 0.02, n)),
            "fitness_n": pa.array(np.ones(n, dtype=np.int32)),
            "interaction": interaction,
            "interaction_std": np.where(counts > 1, 0.02, np.nan),
            "interaction_n": pa.array(np.ones(n, dtype=np.int32)),
            "interaction_p_value": np.where(counts > 1, rng.random(n), np.nan),
            "split_random": pa.array(folds[rng.choice(3, size=n, p=[0.8, 0.1, 0.1])]),
            "split_gene_some": pa.array(folds[rng.choice(3, size=n, p=[0.8, 0.1, 0.1])]),
            "split_gene_all": pa.array(folds[rng.choice(4, size=n, p=[0.6, 0.1, 0.1, 0.2])]),
            "simulated": pa.array(np.ones(n, dtype=bool)),
        }
    )


def measure(table_path: str, gene_table: str | None, synthetic_genes: bool, naive_samples: int) -> dict:
    """Runs in the child process: build time, one epoch per batch size, the naive slice, peak RSS."""
    import resource

    import torch
    from torch.utils.data import DataLoader, Dataset, RandomSampler

    from torchcell_core.datasets.loader import PerturbationDataset, collate_samples, make_loader
    from torchcell_core.genome.gene_index import GeneIndex

    def peak_gib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    result = {"torch_threads": torch.get_num_threads(), "rss_after_imports_gib": peak_gib()}
    if gene_table:
        genes = GeneIndex.from_gene_table(gene_table)
    elif synthetic_genes:
        genes = GeneIndex(synthetic_gene_names())
    else:
        flat = pc.list_flatten(pq.read_table(table_path, columns=["genes"]).column("genes"))
        genes = GeneIndex(pc.unique(flat).to_pylist())

    started = time.perf_counter()
    dataset = PerturbationDataset(table_path, genes, split=None, fold=None)
    result |= {"build_s": time.perf_counter() - started, "samples": len(dataset)}
    result |= {"perturbations": int(dataset.gene_index.shape[0]), "rss_after_build_gib": peak_gib()}

    def epoch_seconds(loader) -> float:
        started, seen = time.perf_counter(), 0
        for batch in progress(loader, "epoch", "batches"):  # a bar on a terminal only (the parent passes stderr on)
            seen += len(batch)
        assert seen == len(dataset), (seen, len(dataset))
        return time.perf_counter() - started

    for batch_size in BATCH_SIZES:
        result[f"epoch_s_{batch_size}"] = epoch_seconds(make_loader(dataset, batch_size=batch_size, seed=0))
    shuffled = RandomSampler(dataset, generator=torch.Generator().manual_seed(0))  # the DDP path's BatchSampler
    result["sampler_epoch_s"] = epoch_seconds(make_loader(dataset, batch_size=BATCH_SIZES[0], sampler=shuffled))

    class PerSample(Dataset):
        """The naive path: no `__getitems__`, so the DataLoader calls `__getitem__` once per sample."""

        def __len__(self) -> int:
            return min(naive_samples, len(dataset))

        def __getitem__(self, index: int):
            return dataset[index]

    naive = DataLoader(
        PerSample(),
        batch_size=BATCH_SIZES[0],
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
        collate_fn=collate_samples,
    )
    started = time.perf_counter()
    for _ in progress(naive, "naive per-sample path", "batches"):
        pass
    result |= {"naive_s": time.perf_counter() - started, "naive_samples": len(naive.dataset)}
    result["peak_rss_gib"] = peak_gib()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--genotypes", type=int, default=500_000, help="rows of the synthetic table")
    parser.add_argument("--table", type=Path, help="an existing curated dataset Parquet file instead")
    parser.add_argument("--gene-table", type=Path, help="genome gene table Parquet for --table (default: its genes)")
    parser.add_argument("--naive-samples", type=int, default=50_000, help="slice for the per-sample path")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: the child process
    parser.add_argument("--synthetic-genes", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        gene_table = str(args.gene_table) if args.gene_table else None
        print(json.dumps(measure(args.measure, gene_table, args.synthetic_genes, args.naive_samples)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = args.table
        if path is None:
            started = time.perf_counter()
            table = synthetic_trigenic_table(args.genotypes)
            path = Path(tmp) / "synthetic.parquet"
            pq.write_table(table, path)
            print(
                f"synthetic table: {table.num_rows:,} genotypes, {path.stat().st_size / 2**20:.0f} MiB Parquet, "
                f"built and written in {time.perf_counter() - started:.1f} s"
            )
            del table
        command = [sys.executable, __file__, "--measure", str(path), "--naive-samples", str(args.naive_samples)]
        if args.gene_table:
            command += ["--gene-table", str(args.gene_table)]
        if args.table is None:
            command += ["--synthetic-genes"]
        done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)  # stderr: the child's bars
        r = json.loads(done.stdout.splitlines()[-1])

    n = r["samples"]
    print(
        f"dataset build (Parquet → tensors): {r['build_s']:.2f} s for {n:,} samples, "
        f"{r['perturbations']:,} perturbations; torch threads {r['torch_threads']}"
    )
    for batch_size in BATCH_SIZES:
        seconds = r[f"epoch_s_{batch_size}"]
        print(f"epoch, batch {batch_size:>4} (__getitems__): {seconds:.2f} s = {n / seconds:,.0f} samples/s")
    seconds = r["sampler_epoch_s"]
    print(
        f"epoch, batch {BATCH_SIZES[0]:>4} via sampler= (torch BatchSampler, as with DistributedSampler): "
        f"{seconds:.2f} s = {n / seconds:,.0f} samples/s"
    )
    naive_epoch = r["naive_s"] * n / r["naive_samples"]
    print(
        f"naive per-sample path, batch {BATCH_SIZES[0]}: {r['naive_samples']:,} samples in {r['naive_s']:.2f} s "
        f"= {r['naive_samples'] / r['naive_s']:,.0f} samples/s; epoch extrapolated {naive_epoch:.1f} s"
    )
    print(f"ratio (naive / batched, batch {BATCH_SIZES[0]}): {naive_epoch / r[f'epoch_s_{BATCH_SIZES[0]}']:.1f}x")
    print(
        f"peak RSS {r['peak_rss_gib']:.2f} GiB (after imports {r['rss_after_imports_gib']:.2f} GiB, "
        f"after build {r['rss_after_build_gib']:.2f} GiB)"
    )


if __name__ == "__main__":
    main()
