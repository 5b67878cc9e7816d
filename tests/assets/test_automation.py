"""The raw-directory sensor, the weekly source refresh schedule, and the declarative automation: what
follows a source, a model partition or a sweep run, and that no training run is ever automated."""

import dagster as dg
from dagster._core.events import AssetMaterializationPlannedData, DagsterEvent, DagsterEventType
from dagster._core.storage.dagster_run import DagsterRunStatus
from dagster._core.test_utils import create_run_for_test

from torchcell_assets.definitions import defs
from torchcell_assets.defs.models.partitions import partition_key
from torchcell_assets.defs.sources.schedules import weekly_source_refresh
from torchcell_assets.defs.sources.sensors import raw_files_sensor
from torchcell_assets.lib.storage import TorchcellStorage

FOLLOWERS_OF_MODELS = {"model_benchmarks", "convergence_projections", "strain_design"}


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


def _is_training_run(key: str) -> bool:
    return key.endswith("_model") or key == "classical_baselines"


def _requested_after(before: list[dg.AssetMaterialization], after: list[dg.AssetMaterialization]) -> set[str]:
    """The assets automation requests once `after` follows `before` (every unpartitioned asset materialized
    too, the sweep runs s-000..s-002 planned): one tick to settle, then the tick that sees `after`."""
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("sweep_runs", ["s-000", "s-001", "s-002"])
        for key in graph.get_all_asset_keys():
            if graph.get(key).partitions_def is None:
                instance.report_runless_asset_event(dg.AssetMaterialization(key))
        for event in before:
            instance.report_runless_asset_event(event)
        first = dg.evaluate_automation_conditions(defs=definitions, instance=instance)
        for event in after:
            instance.report_runless_asset_event(event)
        second = dg.evaluate_automation_conditions(defs=definitions, instance=instance, cursor=first.cursor)
    return {result.key.to_user_string() for result in second.results if result.true_subset.size > 0}


def _trained(asset: str, dataset: str = "trigenic", split: str = "split_random") -> dg.AssetMaterialization:
    return dg.AssetMaterialization(asset, partition=partition_key(dataset, split))


def test_a_new_model_partition_brings_the_benchmarks_and_the_design_along():
    """Most model partitions are never trained; one more (mlp on digenic) requests what reads the models."""
    before = [_trained(asset) for asset in ("mlp_model", "dango_model", "classical_baselines")]
    requested = _requested_after(before, [_trained("mlp_model", "digenic")])
    assert FOLLOWERS_OF_MODELS <= requested
    assert not any(_is_training_run(key) for key in requested)
    assert "sweep_table" not in requested and "graph_tables" not in requested


def test_a_new_sweep_run_brings_the_sweep_table_along():
    """s-002 failed (never materialized); a finished s-001 still updates the table."""
    before = [dg.AssetMaterialization("sweep_model", partition="s-000")]
    requested = _requested_after(before, [dg.AssetMaterialization("sweep_model", partition="s-001")])
    assert "sweep_table" in requested
    assert not any(_is_training_run(key) for key in requested)
    assert not requested & FOLLOWERS_OF_MODELS


def test_nothing_follows_models_before_a_network_is_trained():
    """Only the classical baselines exist: the benchmarks would fail ("no neural model has been trained")."""
    requested = _requested_after([], [_trained("classical_baselines", "digenic")])
    assert not requested & (FOLLOWERS_OF_MODELS | {"sweep_table"})


def test_what_follows_models_waits_for_a_training_run_in_progress():
    """A train_all run still training mlp on digenic|split_query holds the benchmarks back (a dango partition
    finished meanwhile); once it succeeds they are requested. The run is recorded through Dagster's internal
    test helpers: an in-progress run with a planned materialization is what the daemon sees."""
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    running = _trained("mlp_model", "digenic", "split_query")
    with dg.instance_for_test() as instance:
        for key in graph.get_all_asset_keys():
            if graph.get(key).partitions_def is None:
                instance.report_runless_asset_event(dg.AssetMaterialization(key))
        instance.report_runless_asset_event(_trained("mlp_model"))
        first = dg.evaluate_automation_conditions(defs=definitions, instance=instance)
        run = create_run_for_test(
            instance, job_name="train_all", status=DagsterRunStatus.STARTED, asset_selection={running.asset_key}
        )
        planned = AssetMaterializationPlannedData(running.asset_key, partition=running.partition)
        instance.report_dagster_event(
            DagsterEvent.build_asset_materialization_planned_event("train_all", "mlp_model", planned), run.run_id
        )
        instance.report_runless_asset_event(_trained("dango_model", "digenic"))
        during = dg.evaluate_automation_conditions(defs=definitions, instance=instance, cursor=first.cursor)
        instance.report_runless_asset_event(running)
        instance.handle_run_event(run.run_id, DagsterEvent(DagsterEventType.RUN_SUCCESS.value, "train_all"))
        after = dg.evaluate_automation_conditions(defs=definitions, instance=instance, cursor=during.cursor)
    assert not {result.key.to_user_string() for result in during.results if result.true_subset.size > 0}
    assert FOLLOWERS_OF_MODELS <= {result.key.to_user_string() for result in after.results if result.true_subset.size}


def test_the_automation_sensor_covers_the_sweep_table_but_never_a_training_run():
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    sensor = definitions.resolve_sensor_def("follow_upstream")
    target = {key.to_user_string() for key in sensor.asset_selection.resolve(graph)}
    automated = {key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).automation_condition}
    assert automated <= target  # nothing falls to Dagster's default automation sensor, which starts stopped
    assert {"sweep_table", "graph_tables", *FOLLOWERS_OF_MODELS} <= target
    assert not any(_is_training_run(key) for key in target)


def test_sensor_watches_the_go_folder_and_refreshes_go_dag_with_its_dependents(tmp_path):
    """A go-basic.obo dropped into `raw/go/` refreshes go_dag and what reads it (up to the training inputs)."""
    definitions = defs()
    storage = TorchcellStorage(data_dir=str(tmp_path / "data"), raw_dir=str(tmp_path / "raw"))
    old_cursor = _evaluate(storage, None, definitions).cursor
    raw = tmp_path / "raw" / "go"
    raw.mkdir(parents=True)
    (raw / "go-basic.obo").write_text("format-version: 1.2\n")
    seen = _evaluate(storage, old_cursor, definitions)
    assert seen.run_requests == []  # maybe still being copied
    (request,) = _evaluate(storage, seen.cursor, definitions).run_requests
    keys = {key.to_user_string() for key in request.asset_selection}
    assert {"go_dag", "gene_features", "cell_graphs"} <= keys
    assert "s288c_genome" not in keys and "costanzo2016" not in keys
    assert not keys & {"mlp_model", "dcell_model", "model_benchmarks"}


def test_each_model_depends_only_on_what_it_reads():
    """The lineage view: the datasets a model partition can train on, the genome, gene features (run config),
    the GO DAG for DCell only and the cell graphs for the graph models only."""
    graph = defs().resolve_asset_graph()

    def parents(name: str) -> set[str]:
        return {key.to_user_string() for key in graph.get(dg.AssetKey(name)).parent_keys}

    read_by_all = {"digenic_dataset", "trigenic_dataset", "s288c_genome", "gene_features"}
    assert parents("mlp_model") == parents("classical_baselines") == read_by_all
    assert parents("dcell_model") == read_by_all | {"go_dag"}
    assert parents("dango_model") == parents("hetero_gnn_model") == read_by_all | {"cell_graphs"}
    assert {"single_mutant_fitness_dataset", "go_dag", "cell_graphs"} <= parents("sweep_model")  # any grid
