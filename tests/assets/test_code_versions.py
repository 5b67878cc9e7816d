"""Code versions come from the source the assets run, so a code change always shows as a changed code version."""

import dagster as dg
import pytest

import torchcell_assets.lib.code_versions as cv
from torchcell_assets.definitions import defs


@pytest.fixture
def fake_project(tmp_path, monkeypatch):
    """A throwaway torchcell_core/torchcell_assets pair on disk, with the digest caches emptied around it."""
    core, assets = tmp_path / "torchcell_core", tmp_path / "torchcell_assets"
    for package in (core, assets):
        package.mkdir()
        (package / "__init__.py").write_text("")
    (core / "curate.py").write_text("from torchcell_core.helpers import clean\n\ndef curate(x):\n    return clean(x)\n")
    (core / "helpers.py").write_text("def clean(x):\n    return x\n")
    (core / "unrelated.py").write_text("def other():\n    return 1\n")
    (assets / "dataset.py").write_text("def asset():\n    from torchcell_core import curate\n    return curate\n")
    monkeypatch.setattr(cv, "ROOT", tmp_path)

    def clear() -> None:
        for function in (cv._module_file, cv._submodules, cv._imports, cv.reached_modules):
            function.cache_clear()

    clear()
    yield core, clear
    clear()


def test_editing_a_core_function_the_asset_reaches_changes_its_code_version(fake_project):
    core, clear = fake_project
    before = cv.code_version("torchcell_assets.dataset")
    assert cv.reached_modules("torchcell_assets.dataset") == (
        "torchcell_assets.dataset",
        "torchcell_core",
        "torchcell_core.curate",
        "torchcell_core.helpers",
    )
    (core / "unrelated.py").write_text("def other():\n    return 2\n")
    clear()
    assert cv.code_version("torchcell_assets.dataset") == before  # code it does not run leaves it alone
    (core / "helpers.py").write_text("def clean(x):\n    return x.strip()\n")  # two imports away
    clear()
    assert cv.code_version("torchcell_assets.dataset") != before


def test_the_asset_code_versions_cover_what_each_step_runs():
    graph = defs().resolve_asset_graph()
    version = {key.to_user_string(): graph.get(key).code_version for key in graph.get_all_asset_keys()}
    assert version["digenic_dataset"] == cv.code_version("torchcell_assets.defs.datasets.assets")
    assert "torchcell_core.datasets.curate" in cv.reached_modules("torchcell_assets.defs.datasets.assets")
    # the model assets run the training child by name: its loop and report count too
    training = cv.reached_modules("torchcell_assets.defs.models.training", "torchcell_assets.lib.pipes_train")
    assert {"torchcell_core.train.loop", "torchcell_core.train.report", "torchcell_core.models.dcell"} <= set(training)
    assert version["mlp_model"] == cv.code_version(
        "torchcell_assets.defs.models.training", "torchcell_assets.lib.pipes_train"
    )
    assert all(value and len(value) == 16 for value in version.values() if value is not None)
    assert not any(value in ("1", "2") for value in version.values()), "a hand-kept code version is left"
    assert isinstance(graph.get(dg.AssetKey("digenic_dataset")).code_version, str)
