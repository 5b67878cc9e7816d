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


def test_sensor_requests_a_refresh_of_a_changed_source_and_its_dependents(tmp_path):
    definitions = defs()
    storage = TorchcellStorage(data_dir=str(tmp_path / "data"), raw_dir=str(tmp_path / "raw"))
    first = _evaluate(storage, None, definitions)
    assert first.run_requests == []  # the first look only records what is there
    unchanged = _evaluate(storage, first.cursor, definitions)
    assert unchanged.run_requests == []
    (tmp_path / "raw" / "kuzmin2018").mkdir(parents=True)
    (tmp_path / "raw" / "kuzmin2018" / "aao1729_data_s1.tsv").write_text("a new release\n")
    changed = _evaluate(storage, unchanged.cursor, definitions)
    (request,) = changed.run_requests
    keys = {key.to_user_string() for key in request.asset_selection}
    assert "kuzmin2018" in keys and "costanzo2016" not in keys
    assert _evaluate(storage, changed.cursor, definitions).run_requests == []


def test_weekly_schedule_refreshes_every_source():
    assert weekly_source_refresh.cron_schedule == "0 4 * * 1"
    job = defs().resolve_job_def("refresh_sources")
    keys = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
    assert {"s288c_genome", "simulated_release", "costanzo2016", "string_v12_0"} <= keys
    assert "digenic_dataset" not in keys
