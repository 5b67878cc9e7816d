"""Dango on a tiny cell graph: shapes, padding, set permutation invariance, reconstruction, training, errors."""

import pytest
import torch
from torch_geometric.data import HeteroData
from torch_geometric.utils import to_dense_adj

from torchcell_core.datasets.loader import PerturbationBatch
from torchcell_core.models.base import ModelContext, build_model, masked_loss
from torchcell_core.models.dango import Dango, adjacency_rows, attention_mask, pretrain

NUM_GENES = 20
ENV_DIM = 2
SMALL = {"embedding_dim": 16, "num_heads": 2}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def symmetric_edges(probability: float, generator: torch.Generator, counts: bool = False):
    """Random undirected graph stored in both directions: edge_index [2, E], edge_weight [E]."""
    upper = torch.triu(torch.rand(NUM_GENES, NUM_GENES, generator=generator) < probability, diagonal=1)
    source, target = upper.nonzero(as_tuple=True)
    if counts:
        weight = torch.randint(1, 6, (source.numel(),), generator=generator).float()
    else:
        weight = torch.rand(source.numel(), generator=generator) * 0.8 + 0.2
    return torch.stack([torch.cat([source, target]), torch.cat([target, source])]), torch.cat([weight, weight])


def tiny_graph(relations=("coexpression", "physical", "regulation"), probabilities=(0.6, 0.15, 0.05)) -> HeteroData:
    generator = torch.Generator().manual_seed(7)
    data = HeteroData()
    data["gene"].num_nodes = NUM_GENES
    for relation, probability in zip(relations, probabilities, strict=True):
        edge_index, edge_weight = symmetric_edges(probability, generator, counts=relation == "physical")
        data["gene", relation, "gene"].edge_index = edge_index
        data["gene", relation, "gene"].edge_weight = edge_weight
    return data


def context(graph=None, env_dim: int = ENV_DIM) -> ModelContext:
    graph = tiny_graph() if graph is None else graph
    return ModelContext(
        num_genes=NUM_GENES, env_dim=env_dim, gene_names=[f"G{i}" for i in range(NUM_GENES)], cell_graph=graph
    )


def make_batch(gene_sets, environment=None, labels=None) -> PerturbationBatch:
    """A PyG-style batch of the given gene sets."""
    size = len(gene_sets)
    counts = torch.tensor([len(genes) for genes in gene_sets], dtype=torch.int64)
    environment = torch.ones(size, ENV_DIM) if environment is None else environment
    labels = torch.zeros(size, 2) if labels is None else labels
    return PerturbationBatch(
        perturbed=torch.tensor([g for genes in gene_sets for g in genes], dtype=torch.int64),
        batch=torch.repeat_interleave(torch.arange(size), counts),
        num_perturbations=counts,
        labels=labels,
        mask=torch.ones(size, 2, dtype=torch.bool),
        environment=environment,
        row=torch.arange(size),
    )


def built(seed: int = 0, **hparams) -> Dango:
    """A Dango with attention switched on (ReZero starts at 0, which would hide attention from the tests)."""
    torch.manual_seed(seed)
    model = build_model("dango", context(), **{**SMALL, **hparams})
    with torch.no_grad():
        for layer in model.attention:
            layer.rezero.fill_(0.7)
    return model.eval()


def test_shapes_loss_kind_and_auxiliary_loss():
    model = built()
    batch = make_batch([[0], [1, 2], [3, 4, 5], [6, 7]])
    assert isinstance(model, Dango) and model.loss == "logcosh"
    output = model(batch)
    assert output.prediction.shape == (4, 2) and torch.isfinite(output.prediction).all()
    assert output.auxiliary_loss is None  # eval mode
    assert model.network_embeddings().shape == (3, NUM_GENES, 16)
    model.train()
    auxiliary = model(batch).auxiliary_loss
    assert auxiliary.dim() == 0 and auxiliary > 0
    expected = model.reconstruction_weight * model.reconstruction_loss(torch.arange(8))
    assert torch.allclose(auxiliary, expected)
    assert built(reconstruction_weight=0.0).train()(batch).auxiliary_loss is None


def test_zero_entries_down_weighted_only_for_dense_networks():
    graph = tiny_graph()
    densities = [graph[edge_type].edge_index.shape[1] / NUM_GENES**2 for edge_type in graph.edge_types]
    assert densities[0] > 0.2 > densities[1] > densities[2] > 0  # the fixture's networks straddle the threshold
    model = built(dense_threshold=0.2)
    assert model.relations == ["coexpression", "physical", "regulation"]
    assert model.zero_weights == [0.1, 1.0, 1.0]
    assert built().zero_weights == [0.1, 0.1, 0.1]  # default threshold 0.01: all tiny-graph networks are dense
    model = built(dense_threshold=0.2, zero_weight=0.3, zero_weights={"regulation": 0.5})
    assert model.zero_weights == [0.3, 1.0, 0.5]


def test_adjacency_rows_match_dense_adjacency():
    model = built()
    rows = torch.tensor([5, 0, 19, 5, 11])
    for i, relation in enumerate(model.relations):
        store = tiny_graph()["gene", relation, "gene"]
        dense = to_dense_adj(store.edge_index, edge_attr=store.edge_weight, max_num_nodes=NUM_GENES)[0]
        dense = dense / store.edge_weight.abs().max()
        got = adjacency_rows(
            getattr(model, f"rowptr_{i}"), getattr(model, f"col_{i}"), getattr(model, f"target_{i}"), rows, NUM_GENES
        )
        assert torch.allclose(got, dense[rows]), relation


def test_attention_mask_skips_padding_and_self_except_in_singletons():
    valid = torch.tensor([[True, False, False], [True, True, False], [True, True, True]])
    allowed = attention_mask(valid)
    assert allowed[0].tolist() == [[True, False, False]] * 3
    assert allowed[1].tolist() == [[False, True, False], [True, False, False], [True, True, False]]  # row 2: padding
    assert allowed[2].tolist() == [[False, True, True], [True, False, True], [True, True, False]]


def test_padding_does_not_change_a_sample():
    model = built()
    alone = model(make_batch([[4]])).prediction
    crowded = model(make_batch([[1, 2, 3], [4], [5, 6]])).prediction
    assert torch.allclose(alone[0], crowded[1], atol=1e-6)
    pair = model(make_batch([[8, 9]])).prediction
    crowded = model(make_batch([[8, 9], [0, 1, 2], [3]])).prediction
    assert torch.allclose(pair[0], crowded[0], atol=1e-6)


def test_prediction_is_invariant_to_gene_order_within_a_set_but_sees_partners():
    model = built()
    ordered = model(make_batch([[3, 7, 11], [2, 5]])).prediction
    shuffled = model(make_batch([[2, 5], [11, 3, 7]])).prediction
    assert torch.allclose(ordered[0], shuffled[1], atol=1e-6)
    assert torch.allclose(ordered[1], shuffled[0], atol=1e-6)
    assert not torch.allclose(ordered[0], model(make_batch([[3, 7, 12]])).prediction[0])


def test_environment_changes_both_predictions():
    model = built()
    base = model(make_batch([[1, 2]], environment=torch.tensor([[1.0, 0.0]]))).prediction
    other = model(make_batch([[1, 2]], environment=torch.tensor([[0.0, 3.0]]))).prediction
    assert (base - other).abs().min() > 1e-6


def test_construction_and_forward_are_deterministic_under_a_seed():
    batch = make_batch([[0, 1], [2], [3, 4, 5]])
    first, second, other = built(seed=3), built(seed=3), built(seed=4)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert torch.equal(first(batch).prediction, second(batch).prediction)
    assert not torch.allclose(first(batch).prediction, other(batch).prediction)


def test_pretraining_reduces_reconstruction_loss_and_leaves_heads_alone():
    model = built()
    head_before = model.fitness_head[0].weight.clone()
    with torch.no_grad():
        before = float(model.reconstruction_loss())
    losses = pretrain(model, steps=60, lr=0.02, rows_per_step=8, seed=1)
    with torch.no_grad():
        after = float(model.reconstruction_loss())
    assert len(losses) == 60 and after < 0.5 * before, (before, after)
    assert torch.equal(model.fitness_head[0].weight, head_before)
    assert not model.training  # pretrain restores the mode it found
    assert pretrain(built(), steps=5, seed=1) == pretrain(built(), steps=5, seed=1)


def test_logcosh_training_reduces_the_main_loss_and_reaches_every_part():
    generator = torch.Generator().manual_seed(0)
    sizes = torch.randint(1, 4, (48,), generator=generator).tolist()
    gene_sets = [torch.randperm(NUM_GENES, generator=generator)[:k].tolist() for k in sizes]
    gene_effect = torch.randn(NUM_GENES, generator=generator)
    labels = torch.stack(
        [torch.tensor([1.0 + 0.3 * gene_effect[s].mean(), 0.5 * gene_effect[s].prod()]) for s in gene_sets]
    )
    batch = make_batch(gene_sets, environment=torch.rand(48, ENV_DIM, generator=generator), labels=labels)
    model = built().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        output = model(batch)
        loss = masked_loss(output.prediction, batch.labels, batch.mask, model.loss)
        (loss + output.auxiliary_loss).backward()
        losses.append(float(loss.detach()))
        optimizer.step()
    assert losses[-1] < 0.5 * losses[0], losses
    for name, parameter in model.named_parameters():
        if not name.startswith("decoders."):  # decoders of genes never perturbed get no gradient rows; fine
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_an_empty_edge_type_is_allowed():
    graph = tiny_graph()
    graph["gene", "empty", "gene"].edge_index = torch.zeros(2, 0, dtype=torch.int64)
    graph["gene", "empty", "gene"].edge_weight = torch.zeros(0)
    torch.manual_seed(0)
    model = build_model("dango", context(graph), **SMALL)
    assert model.zero_weights[-1] == 1.0
    assert torch.isfinite(model(make_batch([[0, 1]])).prediction).all()
    assert torch.isfinite(model.reconstruction_loss())


def graph_with(edge_index, edge_weight=None, num_nodes=NUM_GENES, src="gene") -> HeteroData:
    data = HeteroData()
    data["gene"].num_nodes = num_nodes
    data[src, "net", "gene"].edge_index = edge_index
    if edge_weight is not None:
        data[src, "net", "gene"].edge_weight = edge_weight
    return data


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        (HeteroData({"gene": {"num_nodes": NUM_GENES}}), "no edge types"),
        (graph_with(torch.tensor([[0], [1]]), num_nodes=NUM_GENES - 1), "19 'gene' nodes"),
        (graph_with(torch.tensor([[0], [NUM_GENES]])), "outside 0..19"),
        (graph_with(torch.tensor([0, 1])), r"not \[2, E\]"),
        (graph_with(torch.tensor([[0], [1]]), torch.tensor([float("nan")])), "finite"),
        (graph_with(torch.tensor([[0], [1]]), src="protein"), "not gene-gene"),
    ],
)
def test_bad_cell_graphs_are_refused(graph, message):
    with pytest.raises(ValueError, match=message):
        build_model("dango", context(graph), **SMALL)


def test_missing_cell_graph_and_bad_hparams_are_refused():
    with pytest.raises(ValueError, match="needs `cell_graph`"):
        build_model("dango", ModelContext(num_genes=NUM_GENES, env_dim=ENV_DIM))
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        build_model("dango", context(), embedding_dim=10, num_heads=3)
    with pytest.raises(ValueError, match=r"relations not in the cell graph: \['typo'\]"):
        build_model("dango", context(), zero_weights={"typo": 0.1})
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        build_model("dango", context(), zero_weight=2.0, dense_threshold=0.0)
    with pytest.raises(TypeError, match="hidden"):
        build_model("dango", context(), hidden=3)
    with pytest.raises(ValueError, match="steps >= 0"):
        pretrain(built(), steps=-1)


def test_bad_batches_are_refused():
    model = built()
    good = make_batch([[0, 1], [2]])
    cases = {
        "environment has shape": make_batch([[0]], environment=torch.ones(1, ENV_DIM + 1)),
        "must lie in 0..19": make_batch([[0, NUM_GENES]]),
        "at least one perturbed gene": make_batch([[0], [], [1]]),
        "must be sorted": PerturbationBatch(**{**good.__dict__, "batch": torch.tensor([1, 1, 0])}),
        "batch positions": PerturbationBatch(**{**good.__dict__, "batch": torch.tensor([0, 0, 2])}),
        "no samples": make_batch([]),
    }
    for message, batch in cases.items():
        with pytest.raises(ValueError, match=message):
            model(batch)
