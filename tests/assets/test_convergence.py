"""Convergence projections: the saturating fit recovers known curves, projects to reachable targets, says
when it cannot, and the asset writes its table, CSV and plot from trained runs' metrics.json."""

import json
import math

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from torchcell_assets.defs.benchmarks import convergence as convergence_asset
from torchcell_assets.defs.models.runs import TrainedRun
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.benchmarks.convergence import (
    DEGENERATE,
    PROJECTED,
    REACHED,
    TOO_FEW,
    UNREACHABLE,
    convergence_plot,
    fit_curve,
    fit_runs,
    project,
    projection_rows,
    saturating_curve,
)

# Dango on an H200 (12 epochs, /work/.device/3/metrics.json, not in the repo): validation interaction
# and fitness Pearson and wall seconds per epoch.
DANGO_INTERACTION = [
    0.43475,
    0.47422,
    0.48302,
    0.48581,
    0.48842,
    0.48790,
    0.49669,
    0.49568,
    0.49842,
    0.50045,
    0.50093,
    0.50143,
]
DANGO_FITNESS = [0.9216, 0.9323, 0.9348, 0.9370, 0.9385, 0.9400, 0.9428, 0.9444, 0.9460, 0.9473, 0.9479, 0.9481]
DANGO_SECONDS = [10.81, 9.94, 9.42, 9.75, 8.35, 8.33, 9.48, 8.87, 8.18, 9.10, 9.39, 8.78]


def synthetic(n: int = 15, noise: float = 0.001, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    epochs = np.arange(1, n + 1, dtype=float)
    values = saturating_curve(epochs, 0.7, 0.5, 0.8) + np.random.default_rng(seed).normal(0.0, noise, n)
    return epochs, values


def test_known_curve_is_recovered_and_projected():
    epochs, values = synthetic()
    fit = fit_curve(epochs, values, seconds=[30.0] * len(epochs), samples_per_s=[1000.0] * len(epochs))
    assert fit.status == "ok"
    assert abs(fit.r_inf - 0.7) < 0.03
    assert fit.r_inf_low <= fit.r_inf <= fit.r_inf_high
    target = 0.66  # observed max ≈ 0.643: beyond the data
    analytic = (0.5 / (0.7 - target)) ** (1 / 0.8)
    projection = project(fit, target)
    assert projection.status == PROJECTED
    assert projection.epochs == pytest.approx(analytic, rel=0.10)
    assert projection.seconds == pytest.approx(projection.epochs * 30.0)
    assert projection.hours == pytest.approx(projection.epochs * 30.0 / 3600)
    assert project(fit, 0.6).status == REACHED  # already observed: the first epoch that reached it
    assert project(fit, target, horizon_factor=1.0).status == "beyond horizon"


def test_target_above_asymptote_is_not_reachable():
    epochs, values = synthetic()
    projection = project(fit_curve(epochs, values), 0.8)
    assert projection.status == UNREACHABLE
    assert projection.epochs is None and projection.hours is None


def test_too_few_epochs_gives_no_fit():
    fit = fit_curve([1, 2], [0.3, 0.4], seconds=[5.0, 5.0])
    assert fit.status == TOO_FEW
    assert math.isnan(fit.r_inf)
    assert project(fit, 0.5).epochs is None
    assert project(fit, 0.5).status == TOO_FEW


def test_flat_noisy_curve_is_degenerate_not_an_error():
    epochs = np.arange(1, 9, dtype=float)
    values = [0.04, -0.04, -0.03, -0.04, -0.06, -0.07, -0.07, -0.07]  # falling: nothing to extrapolate
    fit = fit_curve(epochs, values)
    assert fit.status == DEGENERATE
    assert project(fit, 0.5).epochs is None


def test_real_dango_gpu_curve():
    epochs = list(range(1, 13))
    fit = fit_curve(epochs, DANGO_INTERACTION, seconds=DANGO_SECONDS)
    assert fit.status == "ok"
    assert fit.r_inf >= DANGO_INTERACTION[-1] - 0.02
    assert fit.r_inf_low <= fit.r_inf <= fit.r_inf_high
    assert fit.seconds_per_epoch == pytest.approx(float(np.median(DANGO_SECONDS)))
    assert project(fit, 0.55).status in (UNREACHABLE, PROJECTED, "beyond horizon")


def metrics_json(interaction: list[float], fitness: list[float], seconds: list[float]) -> dict:
    rows = enumerate(zip(interaction, fitness, seconds, strict=True), start=1)
    history = [
        {
            "epoch": epoch,
            "train_loss": 1.0,
            "val_loss": 1.0,
            "lr": 1e-3,
            "samples_per_s": 8000.0,
            "seconds": sec,
            "val": {"fitness": {"pearson": fit, "n": 100}, "interaction": {"pearson": inter}},
        }
        for epoch, (inter, fit, sec) in rows
    ]
    return {"model": "dango", "history": history, "epochs_completed": len(history), "train_samples_per_s": 8000.0}


def test_rows_and_plot(tmp_path):
    runs = [
        ("dango", "digenic", None, metrics_json(DANGO_INTERACTION, DANGO_FITNESS, DANGO_SECONDS)),
        ("mlp", "digenic", None, metrics_json([0.1, 0.2], [0.5, 0.6], [1.0, 1.0])),
    ]
    fits = fit_runs(runs)
    rows = pd.DataFrame(projection_rows(fits, {"fitness": 0.9, "interaction": 0.55}, 10.0))
    assert len(rows) == 4
    assert set(rows["label"]) == {"fitness", "interaction"}
    assert rows.loc[rows["model"] == "mlp", "status"].str.startswith(TOO_FEW).all()
    fitness = rows[(rows["model"] == "dango") & (rows["label"] == "fitness")].iloc[0]
    assert fitness["status"].startswith(REACHED) and fitness["epochs_to_target"] == 1.0
    png = convergence_plot(fits, {"fitness": 0.9, "interaction": 0.55}, tmp_path / "plot.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_asset_materializes(tmp_path, monkeypatch):
    run_dirs = {}
    for model, interaction in (("dango", DANGO_INTERACTION), ("mlp", [0.2, 0.3, 0.35, 0.37, 0.38, 0.385])):
        run_dirs[model] = tmp_path / "runs" / model
        run_dirs[model].mkdir(parents=True)
        fitness = DANGO_FITNESS[: len(interaction)]
        metrics = metrics_json(interaction, fitness, DANGO_SECONDS[: len(interaction)])
        (run_dirs[model] / "metrics.json").write_text(json.dumps(metrics))
    runs = [
        TrainedRun(model, "digenic", dg.AssetKey(f"{model}_model"), None, path, {}) for model, path in run_dirs.items()
    ]
    monkeypatch.setattr(convergence_asset, "trained_runs", lambda instance, storage: runs)
    storage = TorchcellStorage(data_dir=str(tmp_path / "data"))
    result = dg.materialize(
        [convergence_asset.convergence_projections],
        resources={"storage": storage},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    csv = pd.read_csv(storage.path("benchmarks", "convergence_projections.csv"))
    assert len(csv) == 4
    assert set(zip(csv["model"], csv["label"], strict=True)) == {
        (m, label) for m in ("dango", "mlp") for label in ("fitness", "interaction")
    }
    assert set(csv.loc[csv["label"] == "interaction", "target"]) == {0.5}
    assert set(csv.loc[csv["label"] == "fitness", "target"]) == {0.9}
    mlp = csv[(csv["model"] == "mlp") & (csv["label"] == "interaction")].iloc[0]
    assert mlp["status"].startswith((PROJECTED, "beyond horizon", UNREACHABLE))
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert {"table", "projection_plot", "runs", "csv", "duckdb_table"} <= set(metadata)
    assert metadata["runs"].value == 2
    assert storage.path("benchmarks", "convergence_projections.png").is_file()
    with storage.duckdb(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM convergence_projections").fetchone()[0] == 4
    check = convergence_asset.projections_consistent
    assert check(storage=storage).passed
    bad = TorchcellStorage(data_dir=str(tmp_path / "bad"))
    csv.assign(r_inf=csv["best_val_pearson"] - 0.2).to_csv(bad.path("benchmarks", "convergence_projections.csv"))
    result = check(storage=bad)
    assert not result.passed and result.metadata["asymptote_below_observed"].value == len(csv)


def test_asset_without_trained_runs_says_what_to_materialize(tmp_path, monkeypatch):
    monkeypatch.setattr(convergence_asset, "trained_runs", lambda instance, storage: [])
    with pytest.raises(ValueError, match="dango_model"):
        dg.materialize(
            [convergence_asset.convergence_projections],
            resources={"storage": TorchcellStorage(data_dir=str(tmp_path))},
            instance=dg.DagsterInstance.ephemeral(),
        )
