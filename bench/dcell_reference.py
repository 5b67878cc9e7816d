"""DCell computed term by term (the reference) vs the packed stratum-by-stratum model: equal outputs, speed.

The reference, `DCellReference` (tests/support/dcell_reference.py, shared with the DCell tests), loops over
the terms in topological order in Python, each with its own `nn.Linear`, tanh, BatchNorm and head, with the
packed model's effective weights, so both compute the same function. The benchmark builds DCell over the real
packaged GO DAG filtered with the real S288C annotations (`dcell_filter` defaults), draws random 2–3-gene
genotypes and times one epoch (forward + loss + backward, batch 256) of each model on CPU, then prints
the ratio and the largest difference between the two models' outputs.

    .venv/bin/python bench/dcell_reference.py [--genotypes 20000] [--batch-size 256] [--max-batches N]
                                              [--threads 1] [--output-per-gene 0.3] [--device cuda]
                                              [--go-files TERMS.parquet EDGES.parquet GENES.parquet]

`--output-per-gene 0` makes every term 20 wide: the regime where per-term overhead, not arithmetic, dominates.
`--max-batches N` times the first N batches of the epoch and scales the time up to the whole epoch.
`--threads` defaults to 1: on the shared 2-core development machine, two OpenMP threads per op wait on
each other behind other people's processes (an 8 ms floor per op was seen), which swamps both models.
"""

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from torchcell_core.datasets.loader import PerturbationBatch
from torchcell_core.models.base import ModelContext, masked_loss
from torchcell_core.models.dcell import NUM_TARGETS, OUTPUT_PER_GENE, DCell

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.support
from tests.support.dcell_reference import DCellReference  # noqa: E402


def random_batches(
    num_genotypes: int, num_genes: int, batch_size: int, env_dim: int = 2, seed: int = 0
) -> list[PerturbationBatch]:
    """Random genotypes of 2 or 3 distinct genes with random labels (interaction always measured)."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for start in range(0, num_genotypes, batch_size):
        b = min(batch_size, num_genotypes - start)
        counts = torch.randint(2, 4, (b,), generator=generator)
        genes = torch.rand(b, num_genes, generator=generator).topk(3, dim=1).indices  # 3 distinct genes per row
        keep = torch.arange(3).expand(b, 3) < counts[:, None]
        batches.append(
            PerturbationBatch(
                perturbed=genes[keep],
                batch=torch.arange(b).repeat_interleave(counts),
                num_perturbations=counts,
                labels=torch.randn(b, NUM_TARGETS, generator=generator) * 0.1 + torch.tensor([0.8, 0.0]),
                mask=torch.ones(b, NUM_TARGETS, dtype=torch.bool),
                environment=torch.rand(b, env_dim, generator=generator),
                row=torch.arange(start, start + b),
            )
        )
    return batches


def real_go_context(env_dim: int = 2) -> tuple[ModelContext, dict]:
    """A `ModelContext` over the packaged GO DAG filtered with the real S288C annotations, and its counts."""
    from torchcell_core.genome.gene_index import GeneIndex
    from torchcell_core.genome.gene_table import go_annotations_frame
    from torchcell_core.genome.reference import load_reference_gene_table
    from torchcell_core.ontology.dag import load_packaged_go_dag
    from torchcell_core.ontology.filters import dcell_filter

    with tempfile.TemporaryDirectory() as cache:
        table, _ = load_reference_gene_table(cache)
    genes = GeneIndex(table.column("systematic_name").to_pylist())
    ontology = dcell_filter(go_annotations_frame(table), load_packaged_go_dag())
    gene_sets = {t: genes.positions(names).tolist() for t, names in ontology.term_genes.items() if names}
    context = ModelContext(num_genes=len(genes), env_dim=env_dim, go_dag=ontology.dag, go_gene_sets=gene_sets)
    return context, {"terms": len(ontology.dag), "edges": len(ontology.dag.edges), "genes": len(genes)}


def files_go_context(terms: str, edges: str, gene_table: str, env_dim: int = 2) -> tuple[ModelContext, dict]:
    """A `ModelContext` over the go_dag asset's Parquet files (the DAG training uses), for machines without
    the packaged genome (e.g. a GPU machine that has only torch)."""
    from torchcell_core.train.data import load_go, read_gene_index

    genes = read_gene_index(gene_table)
    dag, gene_sets = load_go(terms, edges, genes)
    context = ModelContext(num_genes=len(genes), env_dim=env_dim, go_dag=dag, go_gene_sets=gene_sets)
    return context, {"terms": len(dag), "edges": len(dag.edges), "genes": len(genes)}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def epoch_seconds(model: nn.Module, batches: list[PerturbationBatch], max_batches: int | None) -> float:
    """Forward + root MSE + auxiliary loss + backward over `batches`, scaled up from the first `max_batches`
    (after one untimed warm-up batch, which on a GPU also pays for kernel loading)."""
    model.train()
    device = batches[0].labels.device
    timed = batches[:max_batches] if max_batches else batches

    def step(batch: PerturbationBatch) -> None:
        model.zero_grad(set_to_none=True)
        output = model(batch)
        (masked_loss(output.prediction, batch.labels, batch.mask) + output.auxiliary_loss).backward()

    step(timed[0])
    synchronize(device)
    started = time.perf_counter()
    for batch in timed:
        step(batch)
    synchronize(device)
    return (time.perf_counter() - started) * len(batches) / len(timed)


def max_difference(model: DCell, batch: PerturbationBatch, dtype: torch.dtype) -> float:
    """Largest |packed - reference| over predictions and auxiliary losses, train mode then eval mode, computed
    on copies of `model` and of its reference in `dtype` (the timed models are left as they are)."""
    packed = copy.deepcopy(model).to(dtype)
    reference = DCellReference(packed)
    floats = {name: getattr(batch, name).to(dtype) for name in ("labels", "environment")}
    batch = PerturbationBatch(**{**batch.__dict__, **floats})
    worst = 0.0
    for train in (True, False):
        packed.train(train)
        reference.train(train)
        with torch.no_grad():
            a, b = packed(batch), reference(batch)
        worst = max(worst, float((a.prediction - b.prediction).abs().max()))
        worst = max(worst, float((a.auxiliary_loss - b.auxiliary_loss).abs()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--genotypes", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--max-batches", type=int, help="time only the first N batches and scale up")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: see module docstring)")
    parser.add_argument("--output-per-gene", type=float, default=OUTPUT_PER_GENE, help="0: every term 20 wide")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--go-files",
        nargs=3,
        metavar=("TERMS", "EDGES", "GENES"),
        help="build DCell from go_dag Parquet files and a gene table instead of the packaged genome",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    started = time.perf_counter()
    context, counts = files_go_context(*args.go_files) if args.go_files else real_go_context()
    torch.manual_seed(0)
    model = DCell(context, output_per_gene=args.output_per_gene).to(device)
    reference = DCellReference(model)
    print(
        f"GO DAG (DCell filter): {counts['terms']:,} terms, {counts['edges']:,} edges, {counts['genes']:,} genes; "
        f"{len(model.groups)} packed groups in {1 + max(s.height for s in model.terms)} strata; "
        f"{model.num_parameters():,} parameters (reference {reference.num_parameters():,}); "
        f"built in {time.perf_counter() - started:.1f} s; device {device}, "
        f"torch threads {torch.get_num_threads()}"
    )

    batches = [b.to(device) for b in random_batches(args.genotypes, context.num_genes, args.batch_size)]
    print(
        f"max |packed - reference| over predictions and aux loss, train then eval mode, one batch: "
        f"float64 {max_difference(model, batches[0], torch.float64):.1e}, "
        f"float32 {max_difference(model, batches[0], torch.float32):.1e} (train-mode BatchNorm of a term "
        f"whose genes no sample perturbs divides rounding noise by sqrt(eps))"
    )
    steps = args.max_batches or len(batches)
    scaled = f" (first {steps} of {len(batches)} batches, scaled up)" if steps < len(batches) else ""
    packed = epoch_seconds(model, batches, args.max_batches)
    looped = epoch_seconds(reference, batches, args.max_batches)
    n = args.genotypes
    print(f"epoch of {n:,} genotypes, batch {args.batch_size}, forward+backward{scaled}:")
    print(f"  packed (stratum by stratum): {packed:.1f} s = {n / packed:,.0f} genotypes/s")
    print(f"  reference (loop over terms): {looped:.1f} s = {n / looped:,.0f} genotypes/s")
    print(f"ratio (reference / packed) on {device}: {looped / packed:.2f}x (goal >= 10x)")
    weights = sum(s.in_dim * s.out_dim for s in model.terms)
    wide = [s for s in model.terms if s.out_dim > 100]
    flops = 6 * n * weights  # multiply-adds of the subsystem Linears, forward (2) and backward (4)
    print(
        f"subsystem matmul work: {flops / 1e12:.2f} TFLOP per epoch; packed {flops / packed / 1e9:.0f} GFLOP/s, "
        f"reference {flops / looped / 1e9:.0f} GFLOP/s; the {len(wide)} terms wider than 100 hold "
        f"{sum(s.in_dim * s.out_dim for s in wide) / weights:.0%} of the weights"
    )


if __name__ == "__main__":
    main()
