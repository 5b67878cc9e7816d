"""DCell: packed strata vs the per-term reference (tests/support), shapes, BatchNorm modes, training, errors."""

import pyarrow as pa
import pytest
import torch
from torch import nn

from tests.support.dcell_reference import DCellReference, copy_weights_from
from torchcell_core.datasets.loader import PerturbationBatch, PerturbationDataset, make_loader
from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.models.base import ModelContext, build_model, masked_loss
from torchcell_core.models.dcell import GROUP_OVERHEAD, DCell, pack_stratum, term_output_size
from torchcell_core.ontology.dag import GoDag, GoEdge, GoTerm

NUM_GENES = 14  # genes 0..12 lie in some term, gene 13 in none
ROOT, MID1, MID2 = "GO:0000031", "GO:0000021", "GO:0000022"
LEAF1, LEAF2, LEAF3, LEAF4 = "GO:0000011", "GO:0000012", "GO:0000013", "GO:0000014"
EDGES = [  # child, parent: three strata; LEAF2 has two parents and LEAF4 also hangs directly off the root
    (LEAF1, MID1),
    (LEAF2, MID1),
    (LEAF2, MID2),
    (LEAF3, MID2),
    (LEAF4, MID2),
    (MID1, ROOT),
    (MID2, ROOT),
    (LEAF4, ROOT),
]
DIRECT = {LEAF1: {0, 1, 2}, LEAF2: {2, 3, 4}, LEAF3: {5, 6}, LEAF4: {7, 8, 9}, MID1: {10}, MID2: {11}, ROOT: {12}}
SMALL = {"min_term_output": 2, "output_per_gene": 1.0}  # widths = genes per subtree, so the terms' shapes differ


def tiny_dag() -> GoDag:
    terms = [GoTerm(go_id, go_id, "biological_process") for go_id in (ROOT, MID1, MID2, LEAF1, LEAF2, LEAF3, LEAF4)]
    return GoDag(terms, [GoEdge(c, p, "is_a") for c, p in EDGES])


def propagated_sets(dag: GoDag) -> dict[str, list[int]]:
    """Each term's genes including its descendants', as `dcell_filter` gives them."""
    sets = {t: set(DIRECT.get(t, ())) | set().union(*(DIRECT.get(d, set()) for d in dag.descendants(t))) for t in dag}
    return {t: sorted(genes) for t, genes in sets.items()}


def context(**changes) -> ModelContext:
    dag = tiny_dag()
    fields = {"num_genes": NUM_GENES, "env_dim": 2, "go_dag": dag, "go_gene_sets": propagated_sets(dag)} | changes
    return ModelContext(**fields)


def make_batch(genotypes: list[list[int]], seed: int = 0) -> PerturbationBatch:
    generator = torch.Generator().manual_seed(seed)
    counts = torch.tensor([len(g) for g in genotypes])
    b = len(genotypes)
    mask = torch.ones(b, 2, dtype=torch.bool)
    mask[counts == 1, 1] = False  # no interaction for single mutants
    return PerturbationBatch(
        perturbed=torch.tensor([gene for g in genotypes for gene in g]),
        batch=torch.arange(b).repeat_interleave(counts),
        num_perturbations=counts,
        labels=torch.randn(b, 2, generator=generator) * mask,
        mask=mask,
        environment=torch.rand(b, 2, generator=generator),
        row=torch.arange(b),
    )


GENOTYPES = [[0], [3, 7], [1, 5, 11], [12, 13], [2, 9, 10], [6], [4, 8], [0, 12, 13]]


def built(seed: int = 0, **hparams) -> DCell:
    torch.manual_seed(seed)
    return DCell(context(), **{**SMALL, **hparams})


def test_output_shapes_and_auxiliary_loss():
    model = built()
    batch = make_batch(GENOTYPES)  # 1, 2 and 3 perturbed genes in one batch
    output = model(batch)
    assert output.prediction.shape == (len(GENOTYPES), 2)
    assert output.auxiliary_loss.ndim == 0 and torch.isfinite(output.auxiliary_loss) and output.auxiliary_loss > 0
    doubled = built(auxiliary_weight=0.6)(batch)  # same seed, same weights: the term loss scales with the weight
    torch.testing.assert_close(doubled.auxiliary_loss, 2 * output.auxiliary_loss)
    torch.testing.assert_close(doubled.prediction, output.prediction)


def test_strata_direct_genes_and_widths():
    model = built()
    specs = {spec.go_id: spec for spec in model.terms}
    assert {t: specs[t].height for t in specs} == {ROOT: 2, MID1: 1, MID2: 1, LEAF1: 0, LEAF2: 0, LEAF3: 0, LEAF4: 0}
    assert {t: set(specs[t].direct_genes) for t in specs} == DIRECT  # a gene a child holds is fed to the child only
    assert specs[ROOT].num_genes == 13 and specs[ROOT].out_dim == 13
    assert specs[ROOT].in_dim == specs[MID1].out_dim + specs[MID2].out_dim + specs[LEAF4].out_dim + 1
    assert len(model.groups) == 3  # one packed group per stratum at the default overhead
    for spec in model.terms:
        assert all(specs[c].group < spec.group for c in spec.children)
    assert model.roots == [ROOT]
    assert term_output_size(100) == 30 and term_output_size(10) == 20


def test_direct_annotation_sets_give_the_same_layout():
    direct_sets = {t: sorted(genes) for t, genes in DIRECT.items()}
    torch.manual_seed(0)
    a = DCell(context(go_gene_sets=direct_sets), **SMALL)
    assert [(s.go_id, s.direct_genes, s.out_dim) for s in a.terms] == [
        (s.go_id, s.direct_genes, s.out_dim) for s in built().terms
    ]


def cast(batch: PerturbationBatch, dtype: torch.dtype) -> PerturbationBatch:
    floats = {"labels": batch.labels.to(dtype), "environment": batch.environment.to(dtype)}
    return PerturbationBatch(**{**batch.__dict__, **floats})


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("overhead", [GROUP_OVERHEAD, 0], ids=["one-group-per-stratum", "shape-groups"])
def test_matches_per_term_reference_in_train_and_eval(overhead, dtype):
    model = built(group_overhead=overhead).to(dtype)
    if overhead == 0:
        assert len(model.groups) > 3  # strata cut into shape groups
    reference = DCellReference(model)
    assert reference.num_parameters() == model.num_parameters()
    close = {"atol": 1e-10, "rtol": 1e-9} if dtype == torch.float64 else {"atol": 1e-5, "rtol": 1e-4}
    batch = cast(make_batch(GENOTYPES), dtype)
    for step in range(2):  # train mode: batch statistics, and the running statistics they update
        a, b = model(batch), reference(batch)
        torch.testing.assert_close(a.prediction, b.prediction, **close)
        torch.testing.assert_close(a.auxiliary_loss, b.auxiliary_loss, **close)
        model.zero_grad()
        reference.zero_grad()
        (masked_loss(a.prediction, batch.labels, batch.mask) + a.auxiliary_loss).backward()
        (masked_loss(b.prediction, batch.labels, batch.mask) + b.auxiliary_loss).backward()
        for i, spec in enumerate(reference.order):
            grads = model.term_parameters(spec.go_id, gradients=True)
            torch.testing.assert_close(grads["weight"], reference.linears[i].weight.grad, **close)
            torch.testing.assert_close(grads["bias"], reference.linears[i].bias.grad, **close)
            torch.testing.assert_close(grads["norm_weight"], reference.norms[i].weight.grad, **close)
            torch.testing.assert_close(grads["head_weight"], reference.heads[i].weight.grad, **close)
            stats = model.term_parameters(spec.go_id)
            torch.testing.assert_close(stats["running_mean"], reference.norms[i].running_mean, **close)
            torch.testing.assert_close(stats["running_var"], reference.norms[i].running_var, **close)
        torch.testing.assert_close(model.head.weight.grad, reference.head.weight.grad, **close)
        batch = cast(make_batch(GENOTYPES[::-1], seed=step + 1), dtype)
    model.eval()
    reference.eval()
    with torch.no_grad():
        a, b = model(batch), reference(batch)
    torch.testing.assert_close(a.prediction, b.prediction, **close)
    copy_weights_from(reference, built(seed=5, group_overhead=overhead).to(dtype))  # other weights: outputs differ
    assert not torch.allclose(reference(batch).prediction, a.prediction)


def test_padding_entries_do_not_affect_outputs():
    model = built().eval()  # one group per stratum: LEAF3 (2 wide) is padded to its stratum's 3
    batch = make_batch(GENOTYPES)
    before = model(batch)
    padded = 0
    with torch.no_grad():
        for g, group in enumerate(model.groups):  # scribble on every entry outside some term's block
            kept = torch.zeros_like(group.weight, dtype=torch.bool)
            kept_out = torch.zeros(group.weight.shape[:2], dtype=torch.bool)  # [n, out_max]
            for spec in (s for s in model.terms if s.group == g):
                kept[spec.slot, : spec.out_dim, : spec.in_dim] = True
                kept_out[spec.slot, : spec.out_dim] = True
            padded += int((~kept).sum())
            group.weight[~kept] = 100.0
            group.bias[~kept_out] = 5.0
            group.norm.bias[~kept_out.reshape(-1)] = 3.0
            group.head_weight.transpose(1, 2)[~kept_out] = 7.0
    assert padded > 0
    after = model(batch)
    torch.testing.assert_close(after.prediction, before.prediction)
    torch.testing.assert_close(after.auxiliary_loss, before.auxiliary_loss)


def test_genes_in_no_term_change_nothing_and_eval_is_per_sample():
    model = built().eval()

    def predict(genotypes):
        batch = make_batch(genotypes)
        return model(PerturbationBatch(**{**batch.__dict__, "environment": torch.ones(len(genotypes), 2)})).prediction

    with torch.no_grad():
        a = predict([[0, 12], [3, 7]])
        b = predict([[0, 12, 13], [3, 7]])  # gene 13 lies in no term
        c = predict([[0, 12], [5, 6], [1]])
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[0], c[0])  # eval mode: a sample's prediction does not depend on its batch
    assert not torch.allclose(a[0], a[1])


def test_seeded_construction_is_deterministic():
    a, b, c = built(seed=3), built(seed=3), built(seed=4)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    assert any(not torch.equal(x, z) for x, z in zip(a.parameters(), c.parameters(), strict=True))
    batch = make_batch(GENOTYPES)
    torch.testing.assert_close(a(batch).prediction, b(batch).prediction, rtol=0, atol=0)


def test_training_steps_reduce_the_loss():
    model = built()
    genotypes = [[g] for g in range(13)] + [[g, (g + 4) % 13] for g in range(13)]
    batch = make_batch(genotypes)
    leaf1 = torch.zeros(len(genotypes))
    leaf1.index_add_(0, batch.batch, torch.isin(batch.perturbed, torch.tensor([0, 1, 2])).float())
    labels = torch.stack([1.0 - 0.5 * leaf1, -0.3 * leaf1], dim=1) * batch.mask  # damage to LEAF1 hurts
    batch = PerturbationBatch(**{**batch.__dict__, "labels": labels})
    optimiser = torch.optim.AdamW(model.parameters(), lr=0.02, weight_decay=1e-5)
    losses = []
    for _ in range(25):
        output = model(batch)
        loss = masked_loss(output.prediction, batch.labels, batch.mask) + output.auxiliary_loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.3 * losses[0]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_batches_from_the_training_loader():
    names = [f"Y{i:02d}" for i in range(NUM_GENES)]
    genotypes = [[names[g] for g in genes] for genes in GENOTYPES]
    table = pa.table(
        {
            "genes": pa.array(genotypes, pa.list_(pa.string())),
            "env_temperature": pa.array([1.0] * len(genotypes), pa.float32()),
            "env_media_YPD": pa.array([1.0] * len(genotypes), pa.float32()),
            "fitness": [0.9, 0.7, 0.5, 0.8, 0.4, 0.95, 0.6, 0.3],
            "interaction": [None, -0.1, 0.05, 0.0, -0.2, None, 0.1, 0.02],
        }
    )
    dataset = PerturbationDataset(table, GeneIndex(names), split=None, fold=None)
    model = build_model("dcell", context(), **SMALL)
    assert isinstance(model, DCell)
    seen = 0
    for batch in make_loader(dataset, batch_size=4, seed=0):
        output = model(batch)
        assert output.prediction.shape == (len(batch), 2) and torch.isfinite(output.auxiliary_loss)
        seen += len(batch)
    assert seen == len(GENOTYPES)


def test_pack_stratum_splits_only_when_padding_costs_more_than_a_group():
    shapes = [(10, 20), (12, 20), (11, 21), (900, 500)]
    assert pack_stratum(shapes, overhead=10**9) == [0]
    assert pack_stratum(shapes, overhead=1_000) == [0, 3]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"go_dag": None}, "needs `go_dag`"),
        ({"go_gene_sets": None}, "needs `go_gene_sets`"),
        ({"go_gene_sets": {LEAF1: [0, NUM_GENES]}}, f"gene position {NUM_GENES} outside"),
        ({"go_gene_sets": {LEAF1: [-1, 0]}}, "gene position -1 outside"),
        ({"go_gene_sets": {"GO:9999999": [0]}}, "GO:9999999, which is not a term"),
        ({"go_gene_sets": {t: sorted(g) for t, g in DIRECT.items() if t != LEAF3}}, f"{LEAF3} has no genes"),
    ],
)
def test_bad_context_is_named(changes, message):
    with pytest.raises(ValueError, match=message):
        DCell(context(**changes))


def test_bad_batches_are_named():
    model = built()
    with pytest.raises(ValueError, match=f"perturbed gene index {NUM_GENES} is outside"):
        model(make_batch([[0], [NUM_GENES]]))
    bad_env = make_batch(GENOTYPES)
    with pytest.raises(ValueError, match="env_dim 2, batch has 3"):
        model(PerturbationBatch(**{**bad_env.__dict__, "environment": torch.zeros(len(GENOTYPES), 3)}))
    with pytest.raises(ValueError, match="at least 2 samples"):
        model(make_batch([[0, 1]]))
    model.eval()
    assert model(make_batch([[0, 1]])).prediction.shape == (1, 2)  # one sample is fine in eval mode


def test_heads_start_at_the_training_label_means():
    """With `label_means` in the context every head bias starts there (the final prediction's offset does not
    have to be walked to at ~lr per step); without it the default initialisation is kept."""
    means = torch.tensor([0.8, -0.02])
    torch.manual_seed(0)
    model = DCell(context(label_means=means))
    assert torch.equal(model.head.bias.detach(), means)
    for group in model.groups:
        assert torch.allclose(group.head_bias.detach(), means.view(1, 2, 1).expand_as(group.head_bias))
    torch.manual_seed(0)
    assert not torch.equal(DCell(context()).head.bias.detach(), means)


def synthetic_task(seed: int = 0) -> tuple[ModelContext, list[list[int]], list[list[int]], torch.Tensor]:
    """A 4-level GO tree (64 leaves of 4 genes, 4 leaves per term above them, 4 of those per term, one root) with
    (context, train genotypes: every single and 2,000 random pairs, test genotypes: 400 other pairs, single-mutant
    fitness [256]). Fitness is the product of the single-mutant fitnesses; a few leaves hold the sick genes. With
    batches of 64 most leaves are hit by no sample of a batch, as in real data (where DCell once did not learn)."""
    leaves, per_leaf, fan = 64, 4, 4
    leaf = [f"GO:1{i:06d}" for i in range(leaves)]
    mid = [f"GO:2{i:06d}" for i in range(leaves // fan)]
    top = [f"GO:3{i:06d}" for i in range(leaves // fan**2)]
    edges = [(t, mid[i // fan]) for i, t in enumerate(leaf)] + [(t, top[i // fan]) for i, t in enumerate(mid)]
    edges += [(t, "GO:4000000") for t in top]
    dag = GoDag(
        [GoTerm(t, t, "biological_process") for t in [*leaf, *mid, *top, "GO:4000000"]],
        [GoEdge(c, p, "is_a") for c, p in edges],
    )
    gene_sets = {t: list(range(i * per_leaf, (i + 1) * per_leaf)) for i, t in enumerate(leaf)}
    num_genes = leaves * per_leaf
    generator = torch.Generator().manual_seed(seed)
    sickness = torch.rand(leaves, generator=generator).pow(3).repeat_interleave(per_leaf)  # [256]
    single = 1 - 0.6 * sickness * torch.rand(num_genes, generator=generator)  # [256]
    a, b = torch.randint(0, num_genes, (2, 3000), generator=generator)
    pairs = [[int(x), int(y)] for x, y in zip(a.tolist(), b.tolist(), strict=True) if x != y][:2400]
    context = ModelContext(num_genes=num_genes, env_dim=2, go_dag=dag, go_gene_sets=gene_sets)
    return context, [[g] for g in range(num_genes)] + pairs[:2000], pairs[2000:], single


def test_learns_a_small_synthetic_task():
    """Trained as the training loop does (AdamW lr 1e-3, weight decay 1e-2, clipping at 1, here batches of 64 for 6
    epochs), DCell fits the training genotypes' fitness well below its variance and ranks held-out pairs (eval mode).
    Before BatchNorm's eps and the 1/sqrt(fan-in) weight scales, it reached ~0.5 of the variance and r ~0.8 here."""
    context, train, test, single = synthetic_task()

    def batch_of(genotypes: list[list[int]]) -> PerturbationBatch:
        base = make_batch(genotypes)
        fitness = torch.tensor([float(single[genes].prod()) for genes in genotypes])  # [B]
        labels = torch.stack([fitness, torch.zeros_like(fitness)], dim=1) * base.mask  # [B, 2]
        return PerturbationBatch(**{**base.__dict__, "labels": labels, "environment": torch.ones(len(genotypes), 2)})

    everything, held_out = batch_of(train), batch_of(test)
    context.label_means = (everything.labels * everything.mask).sum(0) / everything.mask.sum(0)
    torch.manual_seed(0)
    model = DCell(context)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    for epoch in range(6):
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(epoch)).tolist()
        for start in range(0, len(train) - 1, 64):
            batch = batch_of([train[i] for i in order[start : start + 64]])
            output = model(batch)
            loss = masked_loss(output.prediction, batch.labels, batch.mask) + output.auxiliary_loss
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
    model.eval()
    with torch.no_grad():
        fit, predicted = model(everything).prediction[:, 0], model(held_out).prediction[:, 0]
    fitness = everything.labels[:, 0]
    assert float((fit - fitness).pow(2).mean()) < 0.25 * float(fitness.var())
    assert float(torch.corrcoef(torch.stack([predicted, held_out.labels[:, 0]]))[0, 1]) > 0.9
