"""The web UI as a person sees it: `dagster dev` + headless Chromium screenshots (slow; `make test-ui`)."""

import shutil
import urllib.error
from pathlib import Path

import pytest

from tests.support import ui, ui_graphql

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _can_get_chromium() -> bool:
    return bool(shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("apt-get"))


@pytest.fixture(scope="module")
def ui_result() -> ui.UiCheckResult:
    """One `dagster dev` session shared by the UI tests (it takes minutes)."""
    return ui.run_ui_check()


@pytest.mark.ui
@pytest.mark.skipif(not _can_get_chromium(), reason="no chromium on PATH and no apt-get to install it")
def test_lineage_and_dataset_pages_render_after_a_real_run(ui_result):
    result = ui_result

    assert result.run_status == "SUCCESS"
    assert result.executor.startswith("Executing steps using multiprocess executor"), result.executor
    assert {"digenic_dataset", "knowledge_graph", "costanzo2016"} <= set(result.upstream_assets)
    assert result.checks, "the first run was launched without the assets' checks"
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

    assert set(ui.how_do_i_pages()) <= set(result.pages)
    assert "split_random" in result.pages["howto_materialize_model"].dom, "no partition grid on the model's page"
    assert "graph_sets-000" in result.pages["howto_sweep_backfill"].dom, "sweep_plan added no sweep_model partition"

    target = result.pages["target_asset"].dom
    assert "digenic_dataset" in target
    assert ui.METRIC_KEY in target, "the dataset's metadata is not on its asset page"


@pytest.mark.ui
@pytest.mark.skipif(not _can_get_chromium(), reason="no chromium on PATH and no apt-get to install it")
def test_a_model_run_is_followed_by_the_benchmark_table(ui_result):
    """A partition of mlp_model launched as the partition dialog launches it is followed, through the
    follow_upstream sensor, by a model_benchmarks run whose table traces back to that model run."""
    result = ui_result
    assert "follow" not in result.errors, result.errors["follow"]
    assert result.model_run_status == "SUCCESS"
    assert result.model_run_tags.get("dagster/partition") == ui.MODEL_PARTITION
    assert result.model_run_tags.get("dagster/partition/dataset") == "digenic"

    assert result.followed_run_status == "SUCCESS"
    assert result.followed_run_tags.get("dagster/sensor_name") == ui.FOLLOWING_SENSOR
    assert result.followed_run_tags.get("dagster/from_automation_condition") == "true"
    assert result.benchmarks_run_id == result.followed_run_id, "model_benchmarks' latest materialization is elsewhere"

    assert result.benchmarks_table_type == "TableMetadataEntry", f"`table` is a {result.benchmarks_table_type}"
    columns = result.benchmarks_table["columns"]
    assert set(ui.LINEAGE_COLUMNS) <= set(columns), sorted(columns)
    run_dir = Path(str(result.model_metadata["run_dir"])).parts[-3:]  # models/<model>/<run>
    rows = [r for r in result.benchmarks_table["records"] if Path(str(r.get("run_dir"))).parts[-3:] == run_dir]
    assert rows, f"no benchmark row names the model run {run_dir}"
    assert {r["dataset_sha256"] for r in rows} == {result.model_metadata["dataset_sha256"]}
    assert all(r["predictions_sha256"] for r in rows)
    assert "predictions_sha256" in result.pages["howto_trace_row"].dom, "the table is not on model_benchmarks' page"


@pytest.mark.ui
@pytest.mark.skipif(not _can_get_chromium(), reason="no chromium on PATH and no apt-get to install it")
def test_a_new_input_makes_the_model_partition_stale(ui_result):
    result = ui_result
    assert "stale" not in result.errors, result.errors["stale"]
    assert result.status_before == "FRESH", "the model partition was not fresh right after its run"
    assert result.stale_status == "STALE"
    assert any(ui.NEW_INPUT in cause for cause in result.stale_causes), result.stale_causes
    assert "Unsynced" in result.pages["howto_stale"].dom, "the model partition's page does not show it stale"


def test_graphql_against_no_server_fails_fast():
    """A server that is not there fails at once with a connection error instead of hanging."""
    port = ui.free_port()
    with pytest.raises(urllib.error.URLError):
        ui.graphql(f"http://127.0.0.1:{port}", "query { version }")


def test_upstream_of_unknown_asset_names_the_asset(monkeypatch):
    nodes = {"assetNodes": [{"assetKey": {"path": ["a"]}, "dependencyKeys": []}]}
    monkeypatch.setattr(ui, "graphql", lambda base, query, variables=None: nodes)
    with pytest.raises(ui.UiCheckError, match="'digenic_dataset' is not in the server's asset graph"):
        ui.upstream_of("http://unused", "digenic_dataset")


def test_upstream_of_walks_every_ancestor(monkeypatch):
    nodes = {
        "assetNodes": [
            {"assetKey": {"path": ["a"]}, "dependencyKeys": []},
            {"assetKey": {"path": ["b"]}, "dependencyKeys": [{"path": ["a"]}]},
            {"assetKey": {"path": ["c"]}, "dependencyKeys": [{"path": ["b"]}]},
            {"assetKey": {"path": ["d"]}, "dependencyKeys": []},
        ]
    }
    monkeypatch.setattr(ui, "graphql", lambda base, query, variables=None: nodes)
    assert ui.upstream_of("http://unused", "c") == [["a"], ["b"], ["c"]]


def test_latest_materialization_reads_a_table_entry(monkeypatch):
    """A TableMetadataEntry comes back as its columns and parsed records; other entries as their value."""
    event = {
        "runId": "r1",
        "partition": None,
        "timestamp": "1",
        "metadataEntries": [
            {
                "__typename": "TableMetadataEntry",
                "label": "table",
                "table": {
                    "schema": {"columns": [{"name": "run_dir", "type": "string"}]},
                    "records": ['{"run_dir": "models/a"}'],
                },
            },
            {"__typename": "IntMetadataEntry", "label": "runs", "intValue": 3},
        ],
    }
    monkeypatch.setattr(
        ui_graphql, "graphql", lambda base, query, variables=None: {"assetOrError": {"assetMaterializations": [event]}}
    )
    latest = ui_graphql.latest_materialization("http://unused", "model_benchmarks")
    assert latest["metadata"]["table"] == {"columns": {"run_dir": "string"}, "records": [{"run_dir": "models/a"}]}
    assert latest["metadata"]["runs"] == 3
    assert latest["types"]["table"] == "TableMetadataEntry"


def test_latest_materialization_of_a_never_materialized_partition_names_it(monkeypatch):
    monkeypatch.setattr(
        ui_graphql, "graphql", lambda base, query, variables=None: {"assetOrError": {"assetMaterializations": []}}
    )
    with pytest.raises(ui_graphql.UiCheckError, match="mlp_model partition digenic\\|split_random has no"):
        ui_graphql.latest_materialization("http://unused", "mlp_model", "digenic|split_random")


def test_stale_causes_name_the_changed_input(monkeypatch):
    nodes = {
        "assetNodes": [
            {
                "staleStatus": "STALE",
                "staleCauses": [
                    {"key": {"path": ["gene_features"]}, "reason": "has a new data version", "dependency": None}
                ],
            }
        ]
    }
    monkeypatch.setattr(ui_graphql, "graphql", lambda base, query, variables=None: nodes)
    assert ui_graphql.stale_status("http://unused", "mlp_model", "digenic|split_random") == (
        "STALE",
        ["gene_features: has a new data version"],
    )
