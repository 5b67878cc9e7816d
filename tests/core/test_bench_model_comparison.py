"""bench/model_comparison.py: table assembly from run files and the goal verdict, on hand-made numbers."""

import importlib.util
import json
import math
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "bench" / "model_comparison.py"
spec = importlib.util.spec_from_file_location("bench_model_comparison", PATH)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

CEILINGS = {"measurement": 0.95, "oracle": 0.70, "n": 1000}


def row(model: str, fitness: float, interaction: float, dataset: str = "digenic", feature: str = "learned") -> dict:
    return {
        "model": model,
        "family": bench.FAMILY[model],
        "feature": feature,
        "dataset": dataset,
        "train rows": 100,
        "epochs": 1,
        "parameters": 10,
        "fit s": 1.0,
        "rows/s": 100.0,
        "peak RSS GiB": 0.5,
        "GiB before fit": 0.4,
        "fitness": fitness,
        "fitness ci": (fitness - 0.01, fitness + 0.01),
        "interaction": interaction,
        "interaction ci": (interaction - 0.02, interaction + 0.02),
    }


def write_metrics(path: Path, model: str = "dango", config_dataset: str | None = None) -> Path:
    metrics = {
        "model": model,
        "num_parameters": 3049921,
        "epochs_completed": 12,
        "train_samples_per_s": 7833.1,
        "history": [{"seconds": 9.0}, {"seconds": 9.5}],
        "splits": {
            "train": {"fitness": {"n": 71312}},
            "test": {
                "fitness": {"pearson": 0.948, "ci": {"pearson": [0.944, 0.953]}},
                "interaction": {"pearson": 0.541, "ci": {"pearson": [0.509, 0.572]}},
            },
        },
    }
    path.mkdir(parents=True, exist_ok=True)
    (path / "metrics.json").write_text(json.dumps(metrics))
    if config_dataset:
        (path / "config.json").write_text(json.dumps({"dataset": config_dataset, "split": "split_random"}))
    return path


def test_neural_row_from_run_dir_and_bare_metrics(tmp_path):
    run = bench.neural_row(write_metrics(tmp_path / "run", config_dataset="data/datasets/trigenic.parquet"), "digenic")
    assert run["dataset"] == "trigenic" and run["family"] == "graph" and run["epochs"] == 12
    assert run["interaction"] == 0.541 and run["interaction ci"] == (0.509, 0.572)
    assert run["fit s"] == pytest.approx(18.5) and run["train rows"] == 71312 and math.isnan(run["peak RSS GiB"])
    bare = bench.neural_row(write_metrics(tmp_path / "bare") / "metrics.json", "digenic")
    assert bare["dataset"] == "digenic" and bare["rows/s"] == 7833.1


def test_classical_row_and_markdown_table(tmp_path):
    result = {
        "model": "svr",
        "feature": "one_hot",
        "dataset": "digenic",
        "n_train": 2000,
        "fit_seconds": 12.5,
        "rows_per_s": 960.0,
        "peak_rss": 1.5 * bench.GIB,
        "rss_before_fit": 1.25 * bench.GIB,
        "test": {
            "fitness": {"pearson": 0.9, "ci": {"pearson": [0.88, 0.92]}},
            "interaction": {"pearson": 0.2, "ci": {"pearson": [0.18, 0.22]}},
        },
    }
    rows = [
        bench.classical_row(result),
        bench.neural_row(write_metrics(tmp_path / "run"), "digenic"),
        row("mlp", 0.5, 0.1, dataset="trigenic"),
    ]
    table = bench.markdown_table(rows, CEILINGS, "digenic").splitlines()
    assert len(table) == 2 + len(rows)
    assert table[2].startswith("| svr | classical | one_hot | digenic | 2,000 |")
    assert "0.200 [0.180, 0.220]" in table[2] and "| 1.50 | 1.25 |" in table[2]
    assert f"| {0.541 / 0.95:.2f} | {0.541 / 0.70:.2f} |" in table[3]  # shares of each ceiling
    assert "| — | — |" in table[4]  # another dataset: no ceiling share
    failed = bench.classical_row({"model": "svr", "feature": "one_hot", "dataset": "digenic", "error": "boom"})
    assert math.isnan(failed["interaction"])


def test_verdict_meets_the_goal():
    rows = [
        row("elastic_net", 0.93, 0.30, feature="one_hot"),
        row("dango", 0.95, 0.80),
        row("mlp", 0.90, 0.2),
        row("dango", 0.1, 0.99, dataset="trigenic"),
    ]
    lines, checks = bench.verdict(rows, CEILINGS, "digenic")
    assert checks == {"measurement": True, "oracle": True, "beats_classical": True, "fitness_close": True}
    assert len(lines) == 4 and all("NOT MET" not in line for line in lines)


def test_verdict_falls_short():
    rows = [row("random_forest", 0.70, 0.45, feature="one_hot"), row("hetero_gnn", 0.95, 0.44), row("dcell", 0.2, 0.1)]
    lines, checks = bench.verdict(rows, CEILINGS, "digenic")
    assert checks == {"measurement": False, "oracle": False, "beats_classical": False, "fitness_close": False}
    assert "hetero_gnn" in lines[0] and "CIs overlap" in lines[2] and "gap 0.250" in lines[3]


def test_verdict_without_ceilings_or_graph_models():
    _, checks = bench.verdict([row("dango", 0.9, 0.5), row("svr", 0.9, 0.1, feature="one_hot")], {}, "digenic")
    assert checks["measurement"] is None and checks["beats_classical"] is True
    lines, checks = bench.verdict([row("svr", 0.9, 0.1, feature="one_hot")], CEILINGS, "digenic")
    assert "no graph/ontology run" in lines[0] and checks["fitness_close"] is True
