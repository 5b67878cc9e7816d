"""Metrics of a run: Pearson/Spearman/MSE/R², the strong-negative AUROC/AUPRC, bootstrap intervals, per split."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, r2_score, roc_auc_score

from torchcell_core.evaluation.metrics_ci import bootstrap_intervals, label_metrics, split_metrics, strong_negative


def test_regression_metrics_match_hand_values_and_sklearn():
    measured = np.array([1.0, 2.0, 3.0, 4.0])
    predicted = np.array([1.0, 2.0, 3.0, 5.0])
    metrics = label_metrics(measured, predicted)
    assert metrics["mse"] == pytest.approx(0.25)
    assert metrics["r2"] == pytest.approx(1 - 1.0 / 5.0)  # SSE 1, SST 5
    assert metrics["r2"] == pytest.approx(r2_score(measured, predicted))
    assert metrics["spearman"] == pytest.approx(1.0) and metrics["n"] == 4


def test_strong_negative_auroc_on_a_hand_example():
    measured = np.array([-0.20, -0.10, 0.00, 0.05, -0.09])
    p_value = np.array([0.01, 0.01, 0.50, 0.01, 0.20])  # the last is strong in size but not significant
    strong = strong_negative(measured, p_value)
    assert strong.tolist() == [True, True, False, False, False]
    assert strong_negative(measured, np.full(5, np.nan)).tolist() == [True, True, False, False, True]
    predicted = np.array([-0.15, 0.005, -0.05, 0.01, -0.12])  # score = −prediction
    # positives score 0.15 and −0.005; negatives 0.05, −0.01, 0.12: pairs won 3 + 1 of 6
    metrics = label_metrics(measured, predicted, strong)
    assert metrics["auroc"] == pytest.approx(4 / 6)
    assert metrics["auprc"] == pytest.approx(average_precision_score(strong, -predicted))
    assert metrics["n_strong"] == 2


def test_vectorised_ranking_metrics_equal_sklearn_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(5):
        positive = rng.random(40) < 0.3
        score = np.round(rng.normal(size=40), 1)  # many ties
        metrics = label_metrics(-score, -score, positive)  # prediction −score → score
        assert metrics["auroc"] == pytest.approx(roc_auc_score(positive, score))
        assert metrics["auprc"] == pytest.approx(average_precision_score(positive, score))


def test_bootstrap_intervals_contain_the_estimate_and_are_seeded():
    rng = np.random.default_rng(0)
    measured = rng.normal(size=300)
    predicted = measured + rng.normal(scale=0.7, size=300)
    strong = measured < -0.5
    point = label_metrics(measured, predicted, strong)
    first = bootstrap_intervals(measured, predicted, strong, n_resamples=500, seed=4)
    assert set(first) == {"pearson", "spearman", "mse", "r2", "auroc", "auprc"}
    for name, (low, high) in first.items():
        assert low < point[name] < high, name
    assert bootstrap_intervals(measured, predicted, strong, n_resamples=500, seed=4) == first
    assert bootstrap_intervals(measured, predicted, strong, n_resamples=500, seed=5) != first
    narrow = bootstrap_intervals(measured, measured + rng.normal(scale=0.05, size=300), n_resamples=500)
    assert narrow["pearson"][1] - narrow["pearson"][0] < first["pearson"][1] - first["pearson"][0]


def test_split_metrics_per_label_and_bad_input():
    labels = np.array([[1.0, 0.0], [0.5, -0.2], [0.8, 0.1], [0.3, -0.15]])
    mask = np.array([[True, False], [True, True], [True, True], [True, True]])
    predictions = labels + 0.01
    result = split_metrics(labels, mask, predictions, ["fitness", "interaction"], n_resamples=50)
    assert result["fitness"]["n"] == 4 and result["interaction"]["n"] == 3
    assert "auroc" in result["interaction"] and "auroc" not in result["fitness"]
    assert "ci" in result["fitness"] and "auroc" in result["interaction"]["ci"]
    with pytest.raises(ValueError, match=r"share one \[N, L\] shape"):
        split_metrics(labels, mask[:3], predictions, ["fitness", "interaction"])
    with pytest.raises(ValueError, match="2 label columns but 1 label names"):
        split_metrics(labels, mask, predictions, ["fitness"])
    with pytest.raises(ValueError, match="predicted values hold 1 NaN"):
        label_metrics(np.ones(3), np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="n_resamples must be at least 1"):
        bootstrap_intervals(np.arange(3.0), np.arange(3.0), n_resamples=0)
