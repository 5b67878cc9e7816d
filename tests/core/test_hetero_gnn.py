"""The heterogeneous GNN: exact k-hop perturbation operator vs a full pass per sample, heads, training, errors."""

import pyarrow as pa
import pytest
import torch
from torch_geometric.data import HeteroData
from torch_geometric.utils import subgraph

from torchcell_core.datasets.loader import PerturbationBatch, PerturbationDataset, make_loader
from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.models.base import ModelContext, build_model, masked_loss
from torchcell_core.models.hetero_gnn import HeteroGNN

NUM_GENES = 24
ISOLATED = (21, 22, 23)  # no edges of any type
ENV_DIM = 2


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def undirected(pairs: list[tuple[int, int]]) -> torch.Tensor:
    edge_index = torch.tensor(pairs, dtype=torch.long).T
    return torch.cat([edge_index, edge_index.flip(0)], dim=1)


def tiny_cell_graph() -> HeteroData:
    """Three edge types over 24 genes: a chain 0–1–…–12, a star around 5, a directed regulatory layer with
    an autoregulation loop; genes 21–23 isolated."""
    data = HeteroData()
    data["gene"].num_nodes = NUM_GENES
    chain = undirected([(i, i + 1) for i in range(12)] + [(13, 14), (14, 15)])
    star = undirected([(5, j) for j in (16, 17, 18, 2)] + [(18, 19), (19, 20)])
    regulates = torch.tensor([[3, 3, 9, 9, 20, 15, 7], [10, 3, 16, 0, 1, 6, 19]])
    for relation, edge_index in (("chain", chain), ("star", star), ("regulates", regulates)):
        data["gene", relation, "gene"].edge_index = edge_index
        weights = torch.linspace(0.2, 1.0, edge_index.shape[1])
        data["gene", relation, "gene"].edge_weight = weights
    return data


# samples of removed genes: an isolated gene, neighbours of each other, a chain of three, a hub with an
# isolated gene, a regulator (directed edges), genes two hops apart, three isolated genes
SAMPLES = [[21], [4, 5], [0, 1, 2], [5, 22], [9], [3, 7, 12], [21, 22, 23], [19], [13, 15]]


def flat_batch(samples: list[list[int]], env_dim: int = ENV_DIM, seed: int = 0) -> PerturbationBatch:
    generator = torch.Generator().manual_seed(seed)
    sizes = torch.tensor([len(s) for s in samples])
    return PerturbationBatch(
        perturbed=torch.tensor([g for s in samples for g in s]),
        batch=torch.repeat_interleave(torch.arange(len(samples)), sizes),
        num_perturbations=sizes,
        labels=torch.randn(len(samples), 2, generator=generator),
        mask=torch.ones(len(samples), 2, dtype=torch.bool),
        environment=torch.rand(len(samples), env_dim, generator=generator),
        row=torch.arange(len(samples)),
    )


def context(**changes) -> ModelContext:
    fields = dict(num_genes=NUM_GENES, env_dim=ENV_DIM, gene_names=[f"G{i:02d}" for i in range(NUM_GENES)])
    return ModelContext(**(fields | {"cell_graph": tiny_cell_graph()} | changes))


def model(seed: int = 0, **hparams) -> HeteroGNN:
    torch.manual_seed(seed)
    return build_model("hetero_gnn", context(**hparams.pop("context", {})), hidden=16, head_hidden=16, **hparams)


def naive_perturbed_sums(net: HeteroGNN, samples: list[list[int]]) -> torch.Tensor:
    """The definition: per sample, the full graph with the removed genes' nodes (and edges) deleted."""
    x = net.node_inputs()
    sums = []
    for removed in samples:
        keep = torch.ones(NUM_GENES, dtype=torch.bool)
        keep[removed] = False
        edges = [subgraph(keep, ei, ew, relabel_nodes=True, num_nodes=NUM_GENES) for ei, ew in net.full_edges()]
        sums.append(net.encode(x[keep], edges)[-1].sum(0))
    return torch.stack(sums)


@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("features", [False, True])
def test_k_hop_operator_equals_a_full_pass_per_sample(num_layers, features):
    extra = {"context": {"gene_features": torch.randn(NUM_GENES, 5)}} if features else {}
    net = model(num_layers=num_layers, **extra).double().eval()
    for conv in net.modules():  # perturb the freshly initialised attention so it is far from uniform
        if hasattr(conv, "att"):
            torch.nn.init.normal_(conv.att, std=1.0)
    batch = flat_batch(SAMPLES)
    with torch.no_grad():
        fast = net.perturbed_cell_sums(batch.perturbed, batch.batch, len(SAMPLES))
        slow = naive_perturbed_sums(net, SAMPLES)
        wild_type = net.wild_type_states()[-1]
    assert fast.shape == (len(SAMPLES), 16)
    assert (fast - slow).abs().max() < 1e-10
    # the recompute matters: dropping only the removed genes' own embeddings is wrong wherever they had edges
    removal_only = torch.stack([wild_type.sum(0) - wild_type[s].sum(0) for s in SAMPLES])
    gap = (removal_only - slow).abs().amax(dim=1)
    has_edges = torch.tensor([not set(s) <= set(ISOLATED) for s in SAMPLES])
    assert (gap[has_edges] > 1e-3).all() and (gap[~has_edges] < 1e-10).all()


def test_operator_chunks_and_unsorted_batch_give_the_same_sums():
    net = model().double().eval()
    batch = flat_batch(SAMPLES)
    order = torch.randperm(batch.perturbed.numel(), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole = net.perturbed_cell_sums(batch.perturbed, batch.batch, len(SAMPLES))
        net.operator_chunk = 2
        chunked = net.perturbed_cell_sums(batch.perturbed[order], batch.batch[order], len(SAMPLES))
    assert (whole - chunked).abs().max() < 1e-10


def test_float32_operator_matches_within_float_tolerance():
    net = model(num_layers=2).eval()
    batch = flat_batch(SAMPLES)
    with torch.no_grad():
        fast = net.perturbed_cell_sums(batch.perturbed, batch.batch, len(SAMPLES))
        slow = naive_perturbed_sums(net, SAMPLES)
    assert (fast - slow).abs().max() < 1e-4


def test_prediction_shape_on_a_loader_batch_with_one_to_three_genes():
    names = [f"G{i:02d}" for i in range(NUM_GENES)]
    table = pa.table(
        {
            "genes": pa.array([[names[g] for g in s] for s in SAMPLES], pa.list_(pa.string())),
            "env_temperature": pa.array([1.0] * len(SAMPLES), pa.float32()),
            "env_media_YPD": pa.array([0.0, 1.0] * 4 + [1.0], pa.float32()),
            "fitness": [0.9, 0.5, 0.3, 0.7, 0.8, 0.4, 1.0, 0.6, 0.7],
            "interaction": [None, 0.1, -0.2, 0.0, None, 0.05, -0.1, None, 0.02],
        }
    )
    dataset = PerturbationDataset(table, GeneIndex(names), split=None, fold=None)
    batch = next(iter(make_loader(dataset, batch_size=len(SAMPLES), shuffle=False)))
    assert sorted(set(batch.num_perturbations.tolist())) == [1, 2, 3]
    output = model()(batch)
    assert output.prediction.shape == (len(SAMPLES), 2)
    assert output.prediction.dtype == torch.float32 and torch.isfinite(output.prediction).all()
    assert output.auxiliary_loss is None


def test_environment_changes_the_prediction():
    net = model().eval()
    batch = flat_batch(SAMPLES)
    other = PerturbationBatch(**{**batch.__dict__, "environment": batch.environment + 1.0})
    with torch.no_grad():
        assert not torch.allclose(net(batch).prediction, net(other).prediction)


def test_gradients_reach_every_parameter_and_training_reduces_the_loss():
    net = model(seed=3)
    generator = torch.Generator().manual_seed(0)
    gene_effect = torch.randn(NUM_GENES, 2, generator=generator)
    samples = [s for s in SAMPLES for _ in range(2)]
    batch = flat_batch(samples, seed=4)
    targets = torch.stack([gene_effect[s].sum(0) for s in samples])  # a learnable function of the genotype
    batch = PerturbationBatch(**{**batch.__dict__, "labels": targets})
    loss = masked_loss(net(batch).prediction, batch.labels, batch.mask, net.loss)
    loss.backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reaches {missing}"
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = loss.item()
    for _ in range(40):
        optimizer.zero_grad()
        loss = masked_loss(net(batch).prediction, batch.labels, batch.mask, net.loss)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.3 * first


def test_same_seed_same_model_and_output_other_seed_differs():
    batch = flat_batch(SAMPLES)
    first, second, other = model(seed=7).eval(), model(seed=7).eval(), model(seed=8).eval()
    with torch.no_grad():
        assert torch.equal(first(batch).prediction, second(batch).prediction)
        assert not torch.allclose(first(batch).prediction, other(batch).prediction)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_missing_cell_graph_is_named():
    with pytest.raises(ValueError, match="hetero_gnn.*cell_graph"):
        build_model("hetero_gnn", context(cell_graph=None))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"num_genes": NUM_GENES + 1}, "24 'gene' nodes, the context 25 genes"),
        ({"gene_features": torch.randn(NUM_GENES - 1, 3)}, r"gene_features must be \[24, d\]"),
    ],
)
def test_context_mismatches_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        build_model("hetero_gnn", context(**changes))


def test_bad_graphs_and_hyperparameters_are_named():
    graph = tiny_cell_graph()
    graph["gene", "chain", "gene"].edge_index[0, 0] = NUM_GENES
    with pytest.raises(ValueError, match="'chain': edge_index has node ids outside"):
        build_model("hetero_gnn", context(cell_graph=graph))
    empty = HeteroData()
    empty["gene"].num_nodes = NUM_GENES
    with pytest.raises(ValueError, match="no edge types"):
        build_model("hetero_gnn", context(cell_graph=empty))
    with pytest.raises(ValueError, match="num_layers must be at least 1"):
        build_model("hetero_gnn", context(), num_layers=0)
    with pytest.raises(ValueError, match="divisible by heads"):
        build_model("hetero_gnn", context(), hidden=15, heads=2)


def test_bad_batches_are_named():
    net = model()
    with pytest.raises(ValueError, match=r"perturbed gene indices must lie in \[0, 24\); got \[24\]"):
        net(flat_batch([[3], [NUM_GENES]]))
    with pytest.raises(ValueError, match=r"environment must be \[2, 2\]"):
        net(flat_batch([[3], [4]], env_dim=3))
    with pytest.raises(ValueError, match="same perturbed gene more than once"):
        net(flat_batch([[3, 3], [4]]))
    wrong_counts = PerturbationBatch(
        **{**flat_batch([[3], [4, 5]]).__dict__, "num_perturbations": torch.tensor([2, 1])}
    )
    with pytest.raises(ValueError, match="num_perturbations does not match"):
        net(wrong_counts)
