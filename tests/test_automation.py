"""The raw-directory sensor and the weekly source refresh schedule."""

import dagster as dg

from torchcell_assets.definitions import defs
from torchcell_assets.defs.sources.schedules import weekly_source_refresh
from torchcell_assets.defs.sources.sensors import raw_files_sensor
from torchcell_assets.lib.storage import TorchcellStorage


def _evaluate(storage: TorchcellStorage, cursor: str | None, definitions: dg.Definitions) -> dg.SensorResult:
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"storage": storage}, definitions=definitions
        )
        return raw_files_sensor(context)


def test_sensor_requests_a_refresh_of_a_changed_source_once_its_files_stop_changing(tmp_path):
    definitions = defs()
    storage = TorchcellStorage(data_dir=str(tmp_path / "data"), raw_dir=str(tmp_path / "raw"))
    first = _evaluate(storage, None, definitions)
    assert first.run_requests == []  # the first look only records what is there
    unchanged = _evaluate(storage, first.cursor, definitions)
    assert unchanged.run_requests == []
    raw = tmp_path / "raw" / "kuzmin2018"
    raw.mkdir(parents=True)
    (raw / "aao1729_data_s1.tsv").write_text("the first part of a new release\n")
    appeared = _evaluate(storage, unchanged.cursor, definitions)
    assert appeared.run_requests == []  # maybe still being copied
    with (raw / "aao1729_data_s1.tsv").open("a") as file:
        file.write("more rows\n")
    growing = _evaluate(storage, appeared.cursor, definitions)
    assert growing.run_requests == []  # its size changed since the last tick
    (raw / "README.txt").write_text("stray files do not count")
    (request,) = (stable := _evaluate(storage, growing.cursor, definitions)).run_requests
    keys = {key.to_user_string() for key in request.asset_selection}
    assert "kuzmin2018" in keys and "costanzo2016" not in keys
    assert _evaluate(storage, stable.cursor, definitions).run_requests == []
    assert "two consecutive ticks" in raw_files_sensor.description


def test_weekly_schedule_refreshes_every_source():
    assert weekly_source_refresh.cron_schedule == "0 4 * * 1"
    job = defs().resolve_job_def("refresh_sources")
    keys = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
    assert {"s288c_genome", "simulated_release", "costanzo2016", "string_v12_0"} <= keys
    assert "digenic_dataset" not in keys


def test_jobs_and_the_automation_sensor():
    definitions = defs()
    selected = {
        name: {key.to_user_string() for key in definitions.resolve_job_def(name).asset_layer.selected_asset_keys}
        for name in ("rebuild_graph", "train_all", "benchmark")
    }
    assert selected["rebuild_graph"] == {"graph_tables", "knowledge_graph"}
    assert {"mlp_model", "dcell_model", "classical_baselines"} <= selected["train_all"]
    assert selected["benchmark"] == {"model_benchmarks", "convergence_projections"}
    sensor = definitions.resolve_sensor_def("follow_upstream")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_a_changed_source_brings_the_graph_but_not_the_models_along():
    """Declarative automation: after kuzmin2018 is re-materialized, the graph tables are requested;
    models are never requested by automation (training is a deliberate step)."""
    definitions = defs()
    keys = definitions.resolve_asset_graph().get_all_asset_keys()
    with dg.instance_for_test() as instance:
        for key in keys:
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
        first = dg.evaluate_automation_conditions(defs=definitions, instance=instance)
        instance.report_runless_asset_event(dg.AssetMaterialization(dg.AssetKey("kuzmin2018")))
        second = dg.evaluate_automation_conditions(defs=definitions, instance=instance, cursor=first.cursor)
    requested = {result.key.to_user_string() for result in second.results if result.true_subset.size > 0}
    assert "graph_tables" in requested
    assert not any(key.endswith("_model") or key == "classical_baselines" for key in requested)
