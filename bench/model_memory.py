"""Peak memory of each neural model: training and evaluation on a synthetic set sized like the issue.

Issue (HeteroGNN out of memory at evaluation): with a STRING-density graph and 30,000 triples, evaluation at the
old fixed `eval_batch_size` 4096 reached 23.4 GB while training took 2–5 GB. Evaluation batches are now sized
automatically (`eval_batch_size` 0: the largest batch whose estimated memory, `HeteroGNN.eval_memory`, fits
`eval_memory_gib`). This script trains each model (`torchcell_core.train.run`, the models' default
hyperparameters as the Dagster assets use them) for `--epochs` on CPU and runs its final report, which
predicts every fold, each model in a fresh child process (the script re-invoked with `--one`), and prints
the child's peak RSS (`ru_maxrss`) after its training passes and at the end (evaluation included) against the
goal of 6 GiB.

Synthetic set: `--genes` genes (default 6,000); a cell graph of 3 edge types of `--edges` directed edges each
(default 100,000: two undirected types stored both ways and one directed, as `bench/hetero_gnn_naive.py`,
about the density of STRING); `--scale` × 30,000 trigenic genotypes (70/15/15 train/val/test); a random GO
DAG of `--terms` terms (default 2,000, propagated gene sets, as the real filtered DAG's 1,985) for DCell.

    .venv/bin/python bench/model_memory.py [--scale 1.0] [--models mlp dcell dango hetero_gnn] [--epochs 1]
        [--eval-batch-size 0] [--eval-memory-gib 1.5] [--genes 6000] [--edges 100000] [--terms 2000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch_geometric.data import HeteroData

from torchcell_core.cell.cache import save_cell_graph
from torchcell_core.models.base import model_specs
from torchcell_core.progress import progress

GOAL_GIB = 6.0
GIB = 1024**3
TRIPLES = 30_000
# What each model reads and its pipeline hyperparameters: the registered specs (torchcell_core.models).
MODELS = model_specs()


def gene_names(num_genes: int) -> list[str]:
    return [f"G{i:05d}" for i in range(num_genes)]


def write_dataset(path: Path, genes: list[str], num_triples: int, seed: int = 0) -> None:
    """A curated-format table of `num_triples` trigenic genotypes with random labels and a random split."""
    rng = np.random.default_rng(seed)
    chosen = np.sort(np.stack([rng.choice(len(genes), 3, replace=False) for _ in range(num_triples)]), axis=1)
    names = [[genes[g] for g in row] for row in chosen.tolist()]
    temperature = rng.choice([1.0, 37 / 30], size=num_triples).astype(np.float32)
    table = pa.table(
        {
            "dataset": ["synthetic"] * num_triples,
            "genotype": ["+".join(n) for n in names],
            "genes": pa.array(names, pa.list_(pa.string())),
            "n_genes": pa.array(np.full(num_triples, 3), pa.int8()),
            "environment": np.where(temperature == 1.0, "YPD_30C", "YPD_37C"),
            "env_temperature": pa.array(temperature, pa.float32()),
            "env_media_YPD": pa.array(np.ones(num_triples), pa.float32()),
            "fitness": rng.normal(0.8, 0.1, num_triples),
            "fitness_std": np.full(num_triples, 0.01),
            "interaction": rng.normal(0.0, 0.05, num_triples),
            "interaction_p_value": rng.uniform(size=num_triples),
            "split_random": rng.choice(["train", "val", "test"], size=num_triples, p=[0.7, 0.15, 0.15]),
            "simulated": [True] * num_triples,
        }
    )
    pq.write_table(table, path)


def write_cell_graph(path: Path, genes: list[str], edges_per_type: int, seed: int = 0) -> None:
    """A cached cell graph like `bench/hetero_gnn_naive.py`'s: two undirected edge types (pairs stored both ways)
    and one directed, each about `edges_per_type` directed edges with weights in (0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    data = HeteroData()
    data.graph_set = "synthetic"
    data["gene"].node_ids, data["gene"].num_nodes = genes, len(genes)
    for relation in ("network_0", "network_1", "regulates"):
        directed = relation == "regulates"
        pairs = torch.randint(
            0, len(genes), (2, edges_per_type if directed else edges_per_type // 2), generator=generator
        )
        pairs = pairs[:, pairs[0] != pairs[1]]
        if not directed:
            pairs = torch.cat([pairs, pairs.flip(0)], dim=1)
        store = data["gene", relation, "gene"]
        store.edge_index = torch.unique(pairs, dim=1)
        store.edge_weight = torch.rand(store.edge_index.shape[1], generator=generator).clamp(min=1e-3)
        store.network, store.version = relation, "0"
    save_cell_graph(path, data, {})


def write_go(terms_path: Path, edges_path: Path, genes: list[str], num_terms: int, seed: int = 0) -> None:
    """A random GO DAG: each term below the root has one or two parents among earlier terms; leaves are
    annotated with 5–40 genes and every term's gene set holds its descendants' genes (propagated)."""
    rng = np.random.default_rng(seed)
    ids = [f"GO:{i:07d}" for i in range(num_terms)]
    parents = {t: sorted(set(rng.integers(0, t, size=rng.integers(1, 3)).tolist())) for t in range(1, num_terms)}
    children = {t: [] for t in range(num_terms)}
    for child, ups in parents.items():
        for parent in ups:
            children[parent].append(child)
    sets: list[set[int]] = [set() for _ in range(num_terms)]
    for t in reversed(range(num_terms)):  # children come after their parents
        if not children[t]:
            sets[t] = set(rng.choice(len(genes), rng.integers(5, 41), replace=False).tolist())
        for child in children[t]:
            sets[t] |= sets[child]
    pq.write_table(
        pa.table(
            {
                "go_id": ids,
                "name": ids,
                "namespace": ["biological_process"] * num_terms,
                "genes": [[genes[g] for g in sorted(s)] for s in sets],
                "n_genes": [len(s) for s in sets],
            }
        ),
        terms_path,
    )
    rows = [(ids[child], ids[parent]) for child, ups in parents.items() for parent in ups]
    pq.write_table(
        pa.table({"child": [c for c, _ in rows], "parent": [p for _, p in rows], "relation": ["is_a"] * len(rows)}),
        edges_path,
    )


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB


def run_one(args: argparse.Namespace) -> dict:
    """Train and report `args.one` in this process; its peak RSS after the training passes and at the end."""
    from torchcell_core.train import loop
    from torchcell_core.train.run import main as train_main

    settings, data = MODELS[args.one], Path(args.data)
    after_training: list[float] = []
    train_one_epoch = loop.train_one_epoch

    def measured(*arguments, **options):
        result = train_one_epoch(*arguments, **options)
        after_training.append(peak_gib())
        return result

    loop.train_one_epoch = measured
    sizes: list[int] = []
    choose = loop.eval_batch_size

    def chosen(*arguments, **options) -> int:
        sizes.append(choose(*arguments, **options))
        return sizes[-1]

    loop.eval_batch_size = chosen
    argv = [
        "--model",
        args.one,
        "--dataset",
        str(data / "dataset.parquet"),
        "--gene-table",
        str(data / "genes.txt"),
        "--out",
        str(data / f"run-{args.one}"),
        "--epochs",
        str(args.epochs),
        "--device",
        "cpu",
        "--wandb",
        "disabled",
        "--bootstrap",
        "100",
        "--eval-batch-size",
        str(args.eval_batch_size),
        "--eval-memory-gib",
        str(args.eval_memory_gib),
        "--no-resume",
    ]
    argv += [item for key, value in settings.hparams.items() for item in ("--hparam", f"{key}={value}")]
    if settings.graph_set:
        argv += ["--cell-graph", str(data / "cell_graph.pt")]
    if settings.go:
        argv += [
            "--go-terms",
            str(data / "go_terms.parquet"),
            "--go-edges",
            str(data / "go_edges.parquet"),
            "--go-dataset-genes",
        ]
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    document = train_main(argv)
    return {
        "model": args.one,
        "parameters": int(document["num_parameters"]),
        "train_gib": max(after_training),
        "peak_gib": peak_gib(),
        "eval_batch": max(sizes),
        "seconds": time.perf_counter() - started,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="share of the 30,000 triples")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--eval-batch-size", type=int, default=0, help="0: automatic (the fix); 4096: before it")
    parser.add_argument("--eval-memory-gib", type=float, default=1.5)
    parser.add_argument("--genes", type=int, default=6000)
    parser.add_argument("--edges", type=int, default=100_000, help="directed edges per edge type (3 types)")
    parser.add_argument("--terms", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", choices=list(MODELS), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args)))
        return
    with tempfile.TemporaryDirectory(prefix="model_memory-") as folder:
        data, genes = Path(folder), gene_names(args.genes)
        (data / "genes.txt").write_text("\n".join(genes) + "\n")
        write_dataset(data / "dataset.parquet", genes, max(100, round(args.scale * TRIPLES)))
        write_cell_graph(data / "cell_graph.pt", genes, args.edges)
        write_go(data / "go_terms.parquet", data / "go_edges.parquet", genes, args.terms)
        print(
            f"{args.genes} genes, 3 x {args.edges} edges, {max(100, round(args.scale * TRIPLES))} triples, "
            f"{args.terms} GO terms; {args.epochs} epoch(s), eval_batch_size {args.eval_batch_size} "
            f"(0 = automatic), eval_memory_gib {args.eval_memory_gib}",
            flush=True,
        )
        print(
            "| model | parameters | peak after training GiB | peak with evaluation GiB | eval batch | s | "
            f"within {GOAL_GIB:g} GiB |\n|---|---|---|---|---|---|---|",
            flush=True,
        )
        models = progress(args.models, "model_memory", "models")  # a bar on a terminal; the table goes to stdout
        for model in models:
            command = [
                sys.executable,
                __file__,
                *(argv if argv is not None else sys.argv[1:]),
                "--one",
                model,
                "--data",
                folder,
            ]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                models.write(f"| {model} | failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]} |")
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            models.write(
                f"| {model} | {row['parameters']:,} | {row['train_gib']:.2f} | {row['peak_gib']:.2f} | "
                f"{row['eval_batch']} | {row['seconds']:.0f} | "
                f"{'yes' if row['peak_gib'] <= GOAL_GIB else 'NO'} |"
            )


if __name__ == "__main__":
    main()
