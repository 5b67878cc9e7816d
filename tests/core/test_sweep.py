"""Sweep grids expand to stable, numbered runs; manifests round-trip; ranking picks the best on validation."""

import numpy as np
import pandas as pd
import pytest

from torchcell_core.train.sweep import FULL, expand_grid, rank_sweep, read_manifest, run_rows, write_manifest


def test_grid_expands_every_combination_in_a_stable_order():
    runs = expand_grid(
        "s1",
        ["mlp", "dango"],
        ["digenic"],
        {"dango": ["string9.1", "string12"]},
        [""],
        {"lr_scale": ["1", "2"]},
        {"no_recon": ["reconstruction_weight=0"]},
    )
    # mlp: 2 hparam values × (full + ablation); dango: 2 graph sets × 2 values × 2 variants
    assert len(runs) == 4 + 8
    assert [r.key for r in runs[:3]] == ["s1-000", "s1-001", "s1-002"]
    assert {r.graph_set for r in runs if r.model == "mlp"} == {""}
    ablated = [r for r in runs if r.ablation != FULL]
    assert all("reconstruction_weight=0" in r.hparams for r in ablated) and len(ablated) == 6
    assert runs == expand_grid(
        "s1",
        ["mlp", "dango"],
        ["digenic"],
        {"dango": ["string9.1", "string12"]},
        [""],
        {"lr_scale": ["1", "2"]},
        {"no_recon": ["reconstruction_weight=0"]},
    )
    scoped = expand_grid(
        "s1", ["mlp", "dango"], ["digenic"], {}, [""], {}, {"dango.no_recon": ["reconstruction_weight=0"]}
    )
    assert [(r.model, r.ablation) for r in scoped] == [("mlp", FULL), ("dango", FULL), ("dango", "no_recon")]


@pytest.mark.parametrize(
    ("sweep_id", "models", "grid", "message"),
    [("a-b", ["mlp"], {}, "may hold only"), ("ok", [], {}, "at least one model"), ("ok", ["mlp"], {"x": []}, "value")],
)
def test_bad_grids_are_refused(sweep_id, models, grid, message):
    with pytest.raises(ValueError, match=message):
        expand_grid(sweep_id, models, ["digenic"], {}, [""], grid, {})


def test_manifest_round_trips_and_ranking_chooses_the_best_on_validation(tmp_path):
    runs = expand_grid("s2", ["mlp"], ["digenic"], {}, ["", "one_hot"], {}, {})
    path = write_manifest(tmp_path / "s2.json", runs, {"epochs": 3})
    settings, again = read_manifest(path)
    assert settings == {"epochs": 3} and list(again.values()) == runs

    def metrics(vals, test):
        test_metrics = {"interaction": {"pearson": test, "ci": {"pearson": [test - 0.1, test + 0.1]}}}
        history = [{"val": {"interaction": {"pearson": v}}} for v in vals]
        return {"epochs_completed": len(vals), "history": history, "splits": {"test": test_metrics}}

    rows = pd.DataFrame([run_rows(runs[0], metrics([0.1, 0.3], 0.2)), run_rows(runs[1], metrics([0.2, 0.25], 0.5))])
    ranked = rank_sweep(rows)
    assert list(ranked["key"]) == ["s2-000", "s2-001"] and list(ranked["chosen"]) == [True, False]
    assert ranked.loc[0, "val_pearson"] == 0.3 and ranked.loc[0, "test_interaction_ci_low"] == pytest.approx(0.1)
    assert np.isnan(run_rows(runs[0], {"history": [], "splits": {}})["val_pearson"])
