"""The heterogeneous GNN's exact k-hop perturbation operator vs the naive full-graph pass per sample.

Issue (heterogeneous GNN): the operator head needs the whole-cell embedding of each perturbed cell (the
perturbed genes' nodes removed). The naive form runs the whole k-layer network once per sample; the model
(`torchcell_core/models/hetero_gnn.py`) runs the wild type once per batch and recomputes only the nodes
within k hops downstream of the removed genes, for the whole batch as one disjoint graph. Both share the
same weights here. On a random cell graph (default 6,400 genes, 3 edge types of 100,000 directed edges:
two undirected types stored both ways, one directed) this script
1. proves equality of the perturbed whole-cell sums in float64 (max |diff|) on the first samples, and
2. times a batch (default 64 samples of 1–3 genes) both ways in float32 without gradients, for k = 1 and
   k = 2 layers, and prints the ratio, the float32 max |diff| and how much of the graph the k-hop balls cover.

    .venv/bin/python bench/hetero_gnn_naive.py [--genes N] [--edges E] [--samples B] [--layers 1 2] [--threads T]
"""

import argparse
import resource
import time

import torch
from torch_geometric.data import HeteroData
from torch_geometric.utils import k_hop_subgraph, subgraph

from torchcell_core.models.hetero_gnn import HeteroGNN, cell_graph_edges


def random_cell_graph(num_genes: int, edges_per_type: int, num_types: int, seed: int = 0) -> HeteroData:
    """A `HeteroData` like a built cell graph: `num_types - 1` undirected types (each pair stored both ways)
    and one directed type, each about `edges_per_type` directed edges [2, E] with weights [E] in (0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    data = HeteroData()
    data["gene"].num_nodes = num_genes
    for t in range(num_types):
        directed = t == num_types - 1
        draws = edges_per_type if directed else edges_per_type // 2
        pairs = torch.randint(0, num_genes, (2, draws), generator=generator)
        pairs = pairs[:, pairs[0] != pairs[1]]
        if not directed:
            pairs = torch.cat([pairs.sort(dim=0).values, pairs.sort(dim=0).values.flip(0)], dim=1)
        pairs = torch.unique(pairs, dim=1)
        relation = "regulates" if directed else f"network_{t}"
        data["gene", relation, "gene"].edge_index = pairs
        data["gene", relation, "gene"].edge_weight = torch.rand(pairs.shape[1], generator=generator).clamp(min=1e-3)
    return data


def random_perturbations(num_genes: int, num_samples: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`perturbed` [P] distinct genes per sample (1–3 each) and `batch` [P] the sample of each."""
    generator = torch.Generator().manual_seed(seed)
    sizes = torch.randint(1, 4, (num_samples,), generator=generator)
    genes = torch.stack([torch.randperm(num_genes, generator=generator)[:3] for _ in range(num_samples)])
    used = torch.arange(3) < sizes[:, None]
    return genes[used], torch.arange(num_samples).repeat_interleave(sizes)


def naive_perturbed_cell_sums(model: HeteroGNN, perturbed: torch.Tensor, batch: torch.Tensor, num_samples: int):
    """[B, hidden]: per sample, the full network on the graph with that sample's genes' nodes removed."""
    x = model.node_inputs()
    sums = []
    for sample in range(num_samples):
        keep = torch.ones(model.num_genes, dtype=torch.bool)
        keep[perturbed[batch == sample]] = False
        edges = [subgraph(keep, ei, ew, relabel_nodes=True, num_nodes=model.num_genes) for ei, ew in model.full_edges()]
        sums.append(model.encode(x[keep], edges)[-1].sum(0))
    return torch.stack(sums)


def ball_fraction(model: HeteroGNN, perturbed: torch.Tensor, batch: torch.Tensor, num_samples: int) -> float:
    """Mean share of the genes within k hops downstream of a sample's removed genes (what gets recomputed)."""
    union = torch.cat([edge_index for edge_index, _ in model.full_edges()], dim=1)
    sizes = [
        k_hop_subgraph(
            perturbed[batch == s], model.num_layers, union, num_nodes=model.num_genes, flow="target_to_source"
        )[0].numel()
        for s in range(num_samples)
    ]
    return sum(sizes) / (num_samples * model.num_genes)


def seconds(function, repeats: int) -> tuple[float, torch.Tensor]:
    """Best wall time of `repeats` calls and the last result."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--genes", type=int, default=6_400)
    parser.add_argument("--edges", type=int, default=100_000, help="directed edges per edge type")
    parser.add_argument("--types", type=int, default=3)
    parser.add_argument("--samples", type=int, default=64, help="batch size")
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 2], help="k values to compare")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--chunk", type=int, default=16, help="samples per recompute pass (bounds memory)")
    parser.add_argument("--check-samples", type=int, default=6, help="samples compared in float64")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of the batched path (best kept)")
    parser.add_argument("--threads", type=int, help="torch threads (default torch's; 1 is steadier on a busy machine)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    graph = random_cell_graph(args.genes, args.edges, args.types)
    relations, edges = cell_graph_edges(graph, args.genes)
    sizes = ", ".join(f"{r} {e.shape[1]:,}" for r, (e, _) in zip(relations, edges, strict=True))
    print(f"random cell graph: {args.genes:,} genes; edges {sizes}; torch threads {torch.get_num_threads()}")
    perturbed, batch = random_perturbations(args.genes, args.samples)
    print(f"batch: {args.samples} samples, {perturbed.numel()} perturbed genes; hidden {args.hidden}")

    for num_layers in args.layers:
        torch.manual_seed(0)
        model = HeteroGNN(
            args.genes, 2, relations, edges, hidden=args.hidden, num_layers=num_layers, operator_chunk=args.chunk
        ).eval()
        with torch.no_grad():
            few = batch < args.check_samples
            exact = model.double()
            fast = exact.perturbed_cell_sums(perturbed[few], batch[few], args.check_samples)
            slow = naive_perturbed_cell_sums(exact, perturbed[few], batch[few], args.check_samples)
            error64 = (fast - slow).abs().max().item()
            model = exact.float()
            batched_s, fast = seconds(
                lambda m=model: m.perturbed_cell_sums(perturbed, batch, args.samples), args.repeats
            )
            started = time.perf_counter()
            slow = naive_perturbed_cell_sums(model, perturbed, batch, args.samples)
            naive_s = time.perf_counter() - started
        error32 = (fast - slow).abs().max().item()
        scale = slow.abs().max().item()
        covered = ball_fraction(model, perturbed, batch, args.samples)
        print(f"k={num_layers}: k-hop balls cover {covered:.1%} of the genes per sample on average")
        print(
            f"  float64 max |diff| over {args.check_samples} samples: {error64:.2e}; float32 over the batch: "
            f"{error32:.2e} (sums up to {scale:,.0f}: relative {error32 / scale:.1e})"
        )
        print(f"  naive per-sample full pass: {naive_s:.2f} s = {naive_s / args.samples * 1e3:.1f} ms/sample")
        print(f"  batched k-hop (wild type once + disjoint recompute, chunk {args.chunk}): {batched_s:.3f} s")
        print(f"  ratio (naive / batched): {naive_s / batched_s:.1f}x")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
