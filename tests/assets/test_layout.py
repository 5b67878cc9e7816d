"""The data layout is spelled once, on the storage resource: where each asset's files and each run directory lie."""

import pytest

from torchcell_assets.lib.storage import TorchcellStorage


def test_the_layout_names_every_asset_file_under_the_data_directory(tmp_path):
    storage = TorchcellStorage(data_dir=str(tmp_path / "data"))
    root = tmp_path / "data"
    assert storage.dataset_parquet("digenic") == root / "datasets" / "digenic.parquet"
    assert storage.dataset_card("digenic") == root / "datasets" / "digenic.card.json"
    assert storage.dataset_labels_png("digenic") == root / "datasets" / "digenic_labels.png"
    assert storage.feature_file("one_hot") == root / "features" / "one_hot.pt"
    assert storage.features_manifest() == root / "features" / "manifest.json"
    assert storage.cell_graphs_manifest() == root / "cell_graphs" / "manifest.json"
    assert storage.cell_graphs_dir() == root / "cell_graphs" and (root / "cell_graphs").is_dir()
    assert storage.sweep_manifest("graph_sets") == root / "sweeps" / "graph_sets.json"


def test_run_directories_are_looked_up_without_being_created(tmp_path):
    storage = TorchcellStorage(data_dir=str(tmp_path / "data"))
    root = tmp_path / "data"
    run = storage.model_run_dir("dango", "trigenic-string9.1", "split_query")
    assert run == root / "models" / "dango" / "trigenic-string9.1-split_query" and not run.exists()
    classical = storage.classical_run_dir("digenic", "split_random")
    assert classical == root / "models" / "classical" / "digenic-split_random"
    assert storage.sweep_run_dir("graph_sets", "graph_sets-3") == root / "sweeps" / "graph_sets" / "graph_sets-3"
    assert not (root / "models").exists() and not (root / "sweeps" / "graph_sets").exists()
    assert storage.model_run_dirs("dango", "trigenic", "split_query") == []
    for label in ("trigenic-string12", "trigenic-string9.1", "digenic-string12"):
        storage.model_run_dir("dango", label, "split_query").mkdir(parents=True)
    storage.model_run_dir("dango", "trigenic-string12", "split_random").mkdir(parents=True)
    assert [p.name for p in storage.model_run_dirs("dango", "trigenic", "split_query")] == [
        "trigenic-string12-split_query",
        "trigenic-string9.1-split_query",
    ]
    storage.sweep_manifest("b").write_text("{}")
    storage.sweep_manifest("a").write_text("{}")
    assert [p.name for p in storage.sweep_manifests()] == ["a.json", "b.json"]


def test_a_layout_name_cannot_leave_the_data_directory(tmp_path):
    storage = TorchcellStorage(data_dir=str(tmp_path / "data"))
    with pytest.raises(ValueError, match="not a path inside"):
        storage.model_run_dir("../../elsewhere", "digenic-nograph", "split_query")
    with pytest.raises(ValueError, match="not a path inside"):
        storage.sweep_run_dir("/tmp", "x")
