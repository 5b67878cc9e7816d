"""Training package, reference MLP, metrics with bootstrap CIs and classical baselines, on tiny synthetic data."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from tests.support.training import FEATURE_DIM, GENES, mlp_argv, synthetic_table
from torchcell_core.datasets.loader import PerturbationBatch, PerturbationDataset
from torchcell_core.features.registry import FeatureMatrix
from torchcell_core.features.store import save_gene_feature
from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.models.base import ModelContext, build_model, masked_loss
from torchcell_core.models.classical import DEFAULT_GRIDS, baseline_metrics, design_matrix, fit_baseline
from torchcell_core.train import checkpoint as ckpt
from torchcell_core.train.config import TrainConfig, parse_args, to_argv
from torchcell_core.train.data import load_run_data
from torchcell_core.train.distributed import all_gather_rows, init_distributed
from torchcell_core.train.run import main
from torchcell_core.train.tracking import make_tracker, resolve_wandb_mode, wandb_directory

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Paths of the dataset Parquet, a genes list, a gene-table Parquet and a feature file."""
    root = tmp_path_factory.mktemp("train_inputs")
    table, features = synthetic_table()
    pq.write_table(table, root / "synthetic.parquet")
    (root / "genes.txt").write_text("\n".join(GENES) + "\n")
    pq.write_table(pa.table({"systematic_name": GENES}), root / "genes.parquet")
    columns = [f"f{i}" for i in range(FEATURE_DIM)]
    matrix = FeatureMatrix("synthetic", GENES, torch.from_numpy(features), columns, {}, torch.ones(len(GENES)).bool())
    save_gene_feature(matrix, root / "features.pt")
    return {
        "dataset": root / "synthetic.parquet",
        "genes_txt": root / "genes.txt",
        "features_x": features,
        "genes_parquet": root / "genes.parquet",
        "features": root / "features.pt",
    }


def run_argv(inputs, out, *extra) -> list[str]:
    return mlp_argv(inputs["dataset"], inputs["genes_txt"], out, *extra, batch_size=32, bootstrap=200)


# -- the reference model ---------------------------------------------------------------------------------
def tiny_batch(sizes=(1, 2, 3), env_dim=2) -> PerturbationBatch:
    genes = torch.tensor([g for i, size in enumerate(sizes) for g in range(i, i + size)])
    batch = torch.tensor([i for i, size in enumerate(sizes) for _ in range(size)])
    return PerturbationBatch(
        perturbed=genes,
        batch=batch,
        num_perturbations=torch.tensor(sizes),
        labels=torch.zeros(len(sizes), 2),
        mask=torch.ones(len(sizes), 2, dtype=torch.bool),
        environment=torch.ones(len(sizes), env_dim),
        row=torch.arange(len(sizes)),
    )


def test_mlp_handles_mixed_genotype_sizes_and_is_seeded():
    context = ModelContext(num_genes=10, env_dim=2)
    torch.manual_seed(0)
    model = build_model("mlp", context, hidden_dim=8, embedding_dim=4)
    prediction = model(tiny_batch()).prediction
    assert prediction.shape == (3, 2)
    torch.manual_seed(0)
    assert torch.equal(build_model("mlp", context, hidden_dim=8, embedding_dim=4)(tiny_batch()).prediction, prediction)
    torch.manual_seed(1)
    assert not torch.equal(
        build_model("mlp", context, hidden_dim=8, embedding_dim=4)(tiny_batch()).prediction, prediction
    )
    # a sample's prediction depends only on its own genes: the same genotype alone or in a batch agrees
    alone = model(tiny_batch(sizes=(1,))).prediction
    assert torch.allclose(alone[0], prediction[0], atol=1e-6)
    with_features = ModelContext(num_genes=10, env_dim=2, gene_features=torch.randn(10, 5))
    mean_model = build_model("mlp", with_features, pooling="mean", hidden_dim=8)
    assert mean_model.embedding is None and mean_model(tiny_batch()).prediction.shape == (3, 2)


def test_mlp_learns_a_tiny_problem():
    torch.manual_seed(0)
    model = build_model("mlp", ModelContext(num_genes=10, env_dim=2), hidden_dim=16, embedding_dim=8)
    batch = tiny_batch(sizes=(1, 2, 3, 2, 1))
    labels = torch.tensor([[0.9, 0.0], [0.7, -0.1], [0.4, -0.3], [0.8, 0.05], [1.0, 0.0]])
    mask = torch.ones(5, 2, dtype=torch.bool)
    mask[[0, 4], 1] = False
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = masked_loss(model(batch).prediction, labels, mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]


def test_mlp_rejects_bad_input():
    model = build_model("mlp", ModelContext(num_genes=4, env_dim=2))
    with pytest.raises(ValueError, match=r"environment must be \[B, 2\]"):
        model(tiny_batch(sizes=(1,), env_dim=3))
    with pytest.raises(ValueError, match=r"must lie in \[0, 4\)"):
        model(tiny_batch(sizes=(1, 2, 3)))  # gene index 4
    with pytest.raises(ValueError, match="pooling must be one of"):
        build_model("mlp", ModelContext(num_genes=4, env_dim=2), pooling="max")
    with pytest.raises(ValueError, match=r"gene_features must be \[num_genes=4"):
        build_model("mlp", ModelContext(num_genes=4, env_dim=2, gene_features=torch.zeros(3, 2)))
    with pytest.raises(TypeError, match="hiden_dim"):
        build_model("mlp", ModelContext(num_genes=4, env_dim=2), hiden_dim=3)


# -- classical baselines -----------------------------------------------------------------------------------
def test_design_matrix_sums_or_averages_the_perturbed_genes(inputs):
    genes = GeneIndex(GENES)
    table, _ = synthetic_table()
    dataset = PerturbationDataset(table, genes, split=None, fold=None)
    features = np.arange(len(GENES) * 2, dtype=np.float32).reshape(-1, 2)
    summed = design_matrix(dataset, features, "sum")
    row = int(np.flatnonzero(np.diff(dataset.offsets.numpy()) == 3)[0])  # the first three-gene sample
    members = dataset.gene_index[dataset.offsets[row] : dataset.offsets[row + 1]].numpy()
    assert np.allclose(summed.x[row, :2], features[members].sum(0))
    assert summed.x[row, 2:5].tolist() == [0.0, 0.0, 1.0]  # genotype size 3
    assert np.allclose(summed.x[row, 5:], dataset.environment[row].numpy())
    averaged = design_matrix(dataset, features, "mean")
    assert np.allclose(averaged.x[row, :2], features[members].mean(0))
    assert np.isnan(summed.labels[0, 1]) and not summed.mask[0, 1]
    with pytest.raises(ValueError, match=r"gene_features must be \[num_genes=24"):
        design_matrix(dataset, features[:5])
    with pytest.raises(ValueError, match="pooling must be one of"):
        design_matrix(dataset, features, "max")


@pytest.fixture(scope="module")
def designs(inputs):
    genes = GeneIndex(GENES)
    folds = {f: PerturbationDataset(inputs["dataset"], genes, fold=f) for f in ("train", "val", "test")}
    return {f: design_matrix(ds, inputs["features_x"]) for f, ds in folds.items()}


@pytest.mark.parametrize("name", ["elastic_net", "random_forest", "svr"])
def test_classical_baseline_picks_a_grid_point_on_val_and_predicts_fitness(designs, name):
    grid = (
        DEFAULT_GRIDS[name]
        if name != "random_forest"
        else [{"n_estimators": 30, "max_features": f, "min_samples_leaf": 1} for f in (0.3, 1.0)]
    )
    result = fit_baseline(name, designs["train"], designs["val"], designs, ["fitness", "interaction"], grid=grid)
    fitness = result.targets["fitness"]
    assert len(fitness.val_pearson) == len(grid)
    assert fitness.params == grid[int(np.nanargmax(fitness.val_pearson))]
    assert fitness.n_train == int(designs["train"].mask[:, 0].sum()) and fitness.fit_seconds > 0
    metrics = baseline_metrics(result, designs, n_resamples=100)
    assert metrics["test"]["fitness"]["pearson"] > (0.9 if name != "random_forest" else 0.7)
    assert "ci" in metrics["test"]["fitness"] and "ci" not in metrics["val"]["fitness"]
    assert result.predictions["test"].shape == (designs["test"].x.shape[0], 2)
    json.dumps(result.summary())


def test_classical_refit_and_bad_names(designs):
    grid = [{"alpha": 1e-3, "l1_ratio": 0.5}]
    on_train = fit_baseline("elastic_net", designs["train"], designs["val"], designs, ["fitness", "interaction"], grid)
    both = fit_baseline(
        "elastic_net", designs["train"], designs["val"], designs, ["fitness", "interaction"], grid, refit="train+val"
    )
    assert not np.allclose(on_train.predictions["test"], both.predictions["test"])
    with pytest.raises(ValueError, match="unknown baseline 'lasso'"):
        fit_baseline("lasso", designs["train"], designs["val"], designs, ["fitness", "interaction"])
    with pytest.raises(ValueError, match="refit must be one of"):
        fit_baseline("svr", designs["train"], designs["val"], designs, ["fitness", "interaction"], refit="all")


# -- config, distributed helpers, checkpoints, tracking ------------------------------------------------------
def test_config_round_trips_through_argv_and_rejects_bad_values(tmp_path):
    argv = [
        "--model",
        "mlp",
        "--dataset",
        "d.parquet",
        "--gene-table",
        "g.txt",
        "--out",
        str(tmp_path),
        "--hparam",
        "hidden_dim=64",
        "--hparam",
        "pooling=mean",
        "--hparam",
        "dropout=0.1",
        "--hparam",
        "tag=12",
        "--no-resume",
        "--epochs",
        "7",
        "--labels",
        "fitness",
    ]
    config = parse_args(argv)
    assert config.hparams == {"hidden_dim": 64, "pooling": "mean", "dropout": 0.1, "tag": 12}
    assert config.resume is False and config.epochs == 7 and config.labels == ["fitness"]
    config.hparams["tag"] = "12"  # a string that reads as a number must come back a string
    assert parse_args(to_argv(config)) == config
    with pytest.raises(SystemExit):
        parse_args([*argv, "--hparam", "oops"])
    with pytest.raises(ValueError, match="given twice"):
        parse_args([*argv, "--hparam", "hidden_dim=3"])
    with pytest.raises(ValueError, match="scheduler must be one of"):
        TrainConfig(model="mlp", dataset="d", gene_table="g", out="o", scheduler="step")


def test_single_process_collectives_are_identities():
    context = init_distributed("cpu")
    assert not context.is_distributed and context.is_main and context.world_size == 1
    rows = torch.arange(6).reshape(3, 2)
    assert torch.equal(all_gather_rows(context, rows), rows)


def test_checkpoint_is_atomic_and_restores_rng(tmp_path):
    state = ckpt.rng_state()
    expected = (torch.rand(3), np.random.rand(2), __import__("random").random())
    ckpt.set_rng_state(state)
    again = (torch.rand(3), np.random.rand(2), __import__("random").random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]
    path = ckpt.save_atomic({"format": ckpt.CHECKPOINT_FORMAT, "rng": [state]}, tmp_path / "last.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    assert ckpt.load_checkpoint(path)["rng"][0]["torch"].equal(state["torch"])
    torch.save({"format": 99}, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="checkpoint format 99"):
        ckpt.load_checkpoint(tmp_path / "old.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        ckpt.load_checkpoint(tmp_path / "missing.pt")


def test_wandb_mode_and_directory_rules(tmp_path):
    assert resolve_wandb_mode("auto", {}) == "offline"
    assert resolve_wandb_mode("auto", {"WANDB_API_KEY": "k"}) == "online"
    assert resolve_wandb_mode("auto", {"WANDB_API_KEY": "k", "WANDB_MODE": "offline"}) == "offline"
    assert resolve_wandb_mode("disabled", {"WANDB_MODE": "online"}) == "disabled"
    with pytest.raises(ValueError, match="WANDB_MODE='sometimes'"):
        resolve_wandb_mode("auto", {"WANDB_MODE": "sometimes"})
    assert wandb_directory(None, str(tmp_path)) == tmp_path / "wandb"
    assert wandb_directory(None, None) == Path("dagster_home") / "wandb"
    assert wandb_directory(str(tmp_path / "mine"), str(tmp_path)) == tmp_path / "mine"


def test_wandb_offline_writes_a_run_directory(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    tracker = make_tracker(tmp_path / "run", True, mode="offline", directory=str(tmp_path / "wandb"), name="t")
    tracker.log_config({"lr": 0.1})
    tracker.log({"val": {"fitness": {"pearson": 0.5}}}, step=1)
    tracker.finish()
    runs = list((tmp_path / "wandb").glob("wandb/offline-run-*"))
    assert len(runs) == 1 and any(runs[0].glob("*.wandb"))
    lines = [json.loads(line) for line in (tmp_path / "run" / "tracking.jsonl").read_text().splitlines()]
    assert lines[-1]["metrics"] == {"val/fitness/pearson": 0.5} and lines[0]["wandb_mode"] == "offline"
    assert make_tracker(tmp_path / "other", False, mode="offline").wandb_run is None  # rank ≠ 0


def test_run_data_aligns_features_and_reads_go(inputs, tmp_path):
    extra = sorted([*GENES, "YZZ999W"])  # a feature file over more genes than the gene table
    x = torch.arange(len(extra) * 2, dtype=torch.float32).reshape(-1, 2)
    wide = FeatureMatrix("wide", extra, x, ["a", "b"], {}, torch.ones(len(extra)).bool())
    save_gene_feature(wide, tmp_path / "wide.pt")
    terms = pa.table(
        {
            "go_id": ["GO:0000001", "GO:0000002", "GO:0000003"],
            "name": ["root", "mid", "leaf"],
            "namespace": ["biological_process"] * 3,
            "genes": [GENES[:6], GENES[:3], [GENES[1], "YZZ999W"]],
            "n_genes": [6, 3, 2],
        }
    )
    edges = pa.table(
        {"child": ["GO:0000002", "GO:0000003"], "parent": ["GO:0000001", "GO:0000002"], "relation": ["is_a", "part_of"]}
    )
    pq.write_table(terms, tmp_path / "terms.parquet")
    pq.write_table(edges, tmp_path / "edges.parquet")
    argv = run_argv(
        inputs,
        tmp_path / "run",
        "--gene-features",
        str(tmp_path / "wide.pt"),
        "--go-terms",
        str(tmp_path / "terms.parquet"),
        "--go-edges",
        str(tmp_path / "edges.parquet"),
    )
    data = load_run_data(parse_args(argv))
    context = data.context
    assert torch.equal(context.gene_features, x[[extra.index(g) for g in GENES]])
    assert context.go_dag.topological_order() == ["GO:0000001", "GO:0000002", "GO:0000003"]
    assert context.go_gene_sets["GO:0000003"] == [1]  # the gene outside the gene table is left out
    assert set(data.folds) == {"train", "val", "test"} and context.env_dim == 2
    assert data.p_values["val"].shape == (len(data.folds["val"]),)
    train = data.folds["train"]
    for j in range(2):  # per label: the mean over the training rows where it was measured
        assert context.label_means[j].item() == pytest.approx(train.labels[train.mask[:, j], j].mean().item(), abs=1e-6)
    narrow = FeatureMatrix("narrow", GENES[:5], x[:5], ["a", "b"], {}, torch.ones(5).bool())
    save_gene_feature(narrow, tmp_path / "narrow.pt")
    with pytest.raises(ValueError, match="lack 19 gene"):
        load_run_data(parse_args(run_argv(inputs, tmp_path / "run", "--gene-features", str(tmp_path / "narrow.pt"))))


# -- training runs ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("run_single")
    document = main(
        run_argv(
            inputs,
            out,
            "--epochs",
            "12",
            "--patience",
            "12",
            "--lr",
            "0.01",
            "--gene-features",
            str(inputs["features"]),
        )
    )
    return out, document


def test_single_process_training_learns_and_writes_outputs(trained, inputs):
    out, document = trained
    history = document["history"]
    assert len(history) == 12 and history[-1]["val_loss"] < 0.5 * history[0]["val_loss"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    best = ckpt.load_checkpoint(out / "checkpoints" / "best.pt")
    assert best["epoch"] == document["selection"]["best_epoch"] == best["progress"]["best_epoch"]
    assert document["selection"]["metric"] == "val/interaction/pearson"
    on_disk = json.loads((out / "metrics.json").read_text())
    test = on_disk["splits"]["test"]
    assert history[-1]["val"]["fitness"]["pearson"] > 0.9  # the additive fitness signal is learnt
    assert test["fitness"]["pearson"] > 0.6  # with best.pt, chosen on the interaction label
    for label in ("fitness", "interaction"):
        low, high = test[label]["ci"]["pearson"]
        assert low <= test[label]["pearson"] <= high
    assert "auroc" in test["interaction"] and "ci" not in on_disk["splits"]["val"]["fitness"]
    predictions = pq.read_table(out / "predictions.parquet").to_pandas()
    assert len(predictions) == pq.read_metadata(inputs["dataset"]).num_rows
    assert predictions["row"].is_unique and set(predictions["split"]) == {"train", "val", "test"}
    assert predictions["measured_interaction"].isna().sum() == 48  # the 48 single-gene rows
    assert json.loads((out / "config.json").read_text())["hparams"] == {"hidden_dim": 32, "embedding_dim": 16}
    assert (out / "training_curve.png").stat().st_size > 0 and (out / "scatter_test_fitness.png").is_file()


def test_resume_after_interruption_gives_the_same_weights(inputs, tmp_path):
    common = ("--epochs", "2", "--hparam", "dropout=0.2", "--lr", "0.01", "--gene-table", str(inputs["genes_parquet"]))
    main(run_argv(inputs, tmp_path / "straight", *common))
    assert main(run_argv(inputs, tmp_path / "resumed", *common, "--stop-after-epochs", "1")) is None
    assert ckpt.load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")["epoch"] == 1
    assert not (tmp_path / "resumed" / "metrics.json").exists()
    with pytest.raises(ValueError, match=r"settings changed \(lr: 0.01 → 0.02\)"):
        main(run_argv(inputs, tmp_path / "resumed", *common[:4], "--lr", "0.02", *common[6:]))
    document = main(run_argv(inputs, tmp_path / "resumed", *common))
    straight = ckpt.load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    resumed = ckpt.load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")
    assert resumed["epoch"] == straight["epoch"] == 2
    for name, tensor in straight["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), name
    assert [r["train_loss"] for r in document["history"]] == [r["train_loss"] for r in straight["progress"]["history"]]


def test_bad_run_inputs_are_named(inputs, tmp_path):
    with pytest.raises(ValueError, match="has no split column 'split_gene_all'"):
        main(run_argv(inputs, tmp_path / "a", "--split", "split_gene_all"))
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        main([*run_argv(inputs, tmp_path / "b"), "--model", "nope"])
    with pytest.raises(ValueError, match="rejected hyperparameters"):
        main(run_argv(inputs, tmp_path / "c", "--hparam", "width=3"))
    with pytest.raises(ValueError, match="go together"):
        main(run_argv(inputs, tmp_path / "d", "--go-terms", "terms.parquet"))


def test_two_process_ddp_run_with_gloo(inputs, tmp_path):
    out = tmp_path / "ddp"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command = [*launcher, "-m", "torchcell_core.train.run", *run_argv(inputs, out, "--epochs", "2", "--device", "cpu")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    finished = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    last = ckpt.load_checkpoint(out / "checkpoints" / "last.pt")
    assert last["world_size"] == 2 and len(last["rng"]) == 2 and last["epoch"] == 2
    assert not torch.equal(last["rng"][0]["torch"], last["rng"][1]["torch"]), "each rank keeps its own stream"
    document = json.loads((out / "metrics.json").read_text())
    assert document["world_size"] == 2 and len(document["history"]) == 2
    predictions = pq.read_table(out / "predictions.parquet")
    assert predictions.num_rows == pq.read_metadata(inputs["dataset"]).num_rows
    assert len(set(predictions.column("row").to_pylist())) == predictions.num_rows
    assert (out / "tracking.jsonl").read_text().count('"kind": "config"') == 1, "only rank 0 tracks"


def test_unused_design_columns_are_dropped_without_changing_a_fit(designs):
    from torchcell_core.models.classical import drop_unused_columns

    padded = {
        fold: type(d)(np.concatenate([d.x, np.zeros((len(d.x), 50), np.float32)], axis=1), d.labels, d.mask, d.rows)
        for fold, d in designs.items()
    }
    compact = drop_unused_columns(padded)
    assert all(c.x.shape[1] <= d.x.shape[1] for c, d in zip(compact.values(), designs.values(), strict=True))
    grid = [{"alpha": 1e-3, "l1_ratio": 0.5}]
    a = fit_baseline("elastic_net", compact["train"], compact["val"], compact, ("fitness", "interaction"), grid=grid)
    b = fit_baseline("elastic_net", padded["train"], padded["val"], padded, ("fitness", "interaction"), grid=grid)
    assert np.allclose(a.predictions["test"], b.predictions["test"], atol=1e-6)
