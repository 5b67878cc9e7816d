"""The web UI as a person sees it: `dagster dev` + headless Chromium screenshots (slow; `make test-ui`)."""

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import ui_check  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _can_get_chromium() -> bool:
    return bool(shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("apt-get"))


@pytest.mark.ui
@pytest.mark.skipif(not _can_get_chromium(), reason="no chromium on PATH and no apt-get to install it")
def test_lineage_and_dataset_pages_render_after_a_real_run():
    result = ui_check.run_ui_check()

    assert result.run_status == "SUCCESS"
    assert {"digenic_dataset", "knowledge_graph", "costanzo2016"} <= set(result.upstream_assets)
    for page in result.pages.values():
        data = page.png.read_bytes()
        assert data.startswith(PNG_MAGIC), f"{page.png} is not a PNG"
        assert len(data) > 10_000, f"{page.png} is only {len(data)} bytes: blank page?"
        assert "Join the Dagster community" not in page.dom, f"{page.name}: first-run dialog still shown"

    lineage = result.pages["asset_lineage"].dom
    for asset in ("digenic_dataset", "knowledge_graph", "graph_tables"):  # the page shows two levels upstream
        assert asset in lineage, f"{asset} missing from the lineage page"
    for group in ("benchmarks", "models", "sources"):
        assert group in result.pages["global_lineage"].dom, f"group {group} missing from the global lineage"

    target = result.pages["target_asset"].dom
    assert "digenic_dataset" in target
    assert ui_check.METRIC_KEY in target, "the dataset's metadata is not on its asset page"


def test_graphql_against_no_server_fails_fast():
    """A server that is not there fails at once with a connection error instead of hanging."""
    port = ui_check.free_port()
    with pytest.raises(ui_check.urllib.error.URLError):
        ui_check.graphql(f"http://127.0.0.1:{port}", "query { version }")


def test_upstream_of_unknown_asset_names_the_asset(monkeypatch):
    nodes = {"assetNodes": [{"assetKey": {"path": ["a"]}, "dependencyKeys": []}]}
    monkeypatch.setattr(ui_check, "graphql", lambda base, query, variables=None: nodes)
    with pytest.raises(ui_check.UiCheckError, match="'digenic_dataset' is not in the server's asset graph"):
        ui_check.upstream_of("http://unused", "digenic_dataset")


def test_upstream_of_walks_every_ancestor(monkeypatch):
    nodes = {
        "assetNodes": [
            {"assetKey": {"path": ["a"]}, "dependencyKeys": []},
            {"assetKey": {"path": ["b"]}, "dependencyKeys": [{"path": ["a"]}]},
            {"assetKey": {"path": ["c"]}, "dependencyKeys": [{"path": ["b"]}]},
            {"assetKey": {"path": ["d"]}, "dependencyKeys": []},
        ]
    }
    monkeypatch.setattr(ui_check, "graphql", lambda base, query, variables=None: nodes)
    assert ui_check.upstream_of("http://unused", "c") == [["a"], ["b"], ["c"]]
