"""Source assets: outputs replaced all together or not at all, the row-drop guard, and source checks that fail
(blocking what is built from them) instead of raising on missing or empty outputs."""

import re

import dagster as dg
import pandas as pd
import pytest

from torchcell_assets.defs.sources import simulation
from torchcell_assets.defs.sources.checks import (
    DIGEST_CHECKS,
    RAW_SCORE_CHECKS,
    epsilon_consistency,
    genome_complete,
    go_terms_large_enough,
    noise_calibrated,
    record_genes_in_genome,
)
from torchcell_assets.defs.sources.paths import GENOME_PARQUET, GO_ANNOTATIONS_PARQUET, source_output_dir
from torchcell_assets.defs.sources.releases import (
    SourceConfig,
    build_source_asset,
    check_row_drop,
    kuzmin2018,
    kuzmin2020,
)
from torchcell_assets.defs.sources.simulation import SimulationConfig, simulated_release
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.hashing import file_sha256
from torchcell_core.loaders import LOADERS
from torchcell_core.simulate.kuzmin import simulate_kuzmin
from torchcell_core.sources.kuzmin2018 import DATA_S1_FILE
from torchcell_core.sources.kuzmin2020 import S1_FILE, S3_FILE, S5_FILE
from torchcell_core.sources.load import FITNESS, RECORDS

LOADERS_BEFORE = dict(LOADERS)


@pytest.fixture(scope="module")
def releases(world, tmp_path_factory):
    """Two simulated Kuzmin releases (seeds 1 and 2), standing in for a user's real files."""
    out = tmp_path_factory.mktemp("kuzmin_releases")
    for seed in (1, 2):
        simulate_kuzmin(world, out / str(seed), size="demo", seed=seed)
    return out


def _storage(tmp_path, genes_frame) -> TorchcellStorage:
    storage = TorchcellStorage(data_dir=str(tmp_path / "data"), raw_dir=str(tmp_path / "raw"))
    genes_frame[["systematic_name"]].to_parquet(storage.path(*GENOME_PARQUET), index=False)
    return storage


def _put(storage: TorchcellStorage, key: str, files: dict[str, bytes]) -> None:
    storage.raw(key).mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (storage.raw(key) / name).write_bytes(data)


def _materialize(assets: list, storage, instance, key: str = "", config: dg.Config | None = None):
    run_config = dg.RunConfig(ops={key: config}) if config is not None else None
    return dg.materialize(
        assets, instance=instance, resources={"storage": storage}, run_config=run_config, raise_on_error=False
    )


def _error(result: dg.ExecuteInProcessResult) -> str:
    return str(next(e for e in result.all_events if e.is_step_failure).step_failure_data.error)


def _digests(storage: TorchcellStorage, key: str) -> dict[str, str]:
    return {p.name: file_sha256(p) for p in sorted(source_output_dir(storage, key).iterdir())}


def test_a_failed_parse_replaces_none_of_the_outputs(tmp_path, genes_frame, releases, monkeypatch):
    """A new S1 that parses, with a 0-byte S5: records.parquet used to be replaced before S5 failed; and a
    loader that fails after writing every output (the old records, fitness and provenance stay together)."""
    storage = _storage(tmp_path, genes_frame)
    old_layout = source_output_dir(storage, "kuzmin2020")
    old_layout.mkdir(exist_ok=True)
    (old_layout / "stale.parquet").write_bytes(b"from the layout before")
    instance = dg.DagsterInstance.ephemeral()
    _put(storage, "kuzmin2020", {name: (releases / "1" / name).read_bytes() for name in (S1_FILE, S3_FILE, S5_FILE)})
    assert _materialize([kuzmin2020], storage, instance).success
    out_dir = source_output_dir(storage, "kuzmin2020")
    assert out_dir.is_symlink() and storage.path("sources", "kuzmin2020", RECORDS).is_file()
    before = _digests(storage, "kuzmin2020")
    assert set(before) == {RECORDS, FITNESS, "provenance.json"}  # the old layout's directory was replaced

    _put(storage, "kuzmin2020", {S1_FILE: (releases / "2" / S1_FILE).read_bytes(), S5_FILE: b""})
    result = _materialize([kuzmin2020], storage, instance)
    assert not result.success
    assert _digests(storage, "kuzmin2020") == before
    assert [p.name for p in out_dir.parent.iterdir() if ".building-" in p.name] == []  # staging removed

    def dies_after_writing(source, out_dir, genome_genes, **rules) -> dict:
        LOADERS_BEFORE["kuzmin2020"](source, out_dir, genome_genes, **rules)  # every output written
        raise RuntimeError("killed after the loader wrote its outputs")

    _put(storage, "kuzmin2020", {S5_FILE: (releases / "2" / S5_FILE).read_bytes()})  # a release that parses
    monkeypatch.setitem(LOADERS, "kuzmin2020", dies_after_writing)
    dying = _materialize([build_source_asset("kuzmin2020")], storage, instance)
    assert not dying.success and "killed after" in _error(dying)
    assert _digests(storage, "kuzmin2020") == before


def test_a_sharp_row_drop_stops_the_source_unless_allowed(tmp_path, genes_frame, releases):
    storage = _storage(tmp_path, genes_frame)
    instance = dg.DagsterInstance.ephemeral()
    full = (releases / "1" / DATA_S1_FILE).read_text().splitlines(keepends=True)
    _put(storage, "kuzmin2018", {DATA_S1_FILE: "".join(full).encode()})
    first = _materialize([kuzmin2018], storage, instance)
    previous = first.asset_materializations_for_node("kuzmin2018")[0].metadata["dagster/row_count"].value
    before = _digests(storage, "kuzmin2018")

    _put(storage, "kuzmin2018", {DATA_S1_FILE: "".join(full[: len(full) // 10]).encode()})
    refused = _materialize([kuzmin2018], storage, instance)
    assert not refused.success
    message = _error(refused)
    rows = int(re.search(r"parses to (\d+) rows", message).group(1))
    assert f"down from {previous} at the last materialization" in message and "allow_row_drop: true" in message
    assert 0 < rows < previous / 2 and _digests(storage, "kuzmin2018") == before  # nothing was replaced

    allowed = _materialize([kuzmin2018], storage, instance, "kuzmin2018", SourceConfig(allow_row_drop=True))
    assert allowed.success
    metadata = allowed.asset_materializations_for_node("kuzmin2018")[0].metadata
    assert metadata["dagster/row_count"].value == rows and metadata["previous_row_count"].value == previous


def test_the_row_drop_threshold_is_configurable():
    check_row_drop("demo", 100, 50, SourceConfig())  # half of the rows is the default limit
    check_row_drop("demo", None, 0, SourceConfig())  # a first materialization has nothing to compare with
    with pytest.raises(dg.Failure, match="down from 100 .*max_row_drop_fraction=0.5"):
        check_row_drop("demo", 100, 49, SourceConfig())
    check_row_drop("demo", 100, 11, SourceConfig(max_row_drop_fraction=0.9))


def _shift_raw_scores(tsv: str, by: float) -> str:
    """Data S1 with every raw score (6th column) moved by `by`: the release no longer satisfies ε = f_ab − f_a·f_b."""
    header, *rows = tsv.splitlines()
    fields = [row.split("\t") for row in rows]
    return "\n".join([header, *("\t".join([*f[:5], f"{float(f[5]) + by:.6f}", *f[6:]]) for f in fields)]) + "\n"


def test_a_failing_data_check_stops_what_is_built_from_the_source(tmp_path, genes_frame, releases):
    """Before: the source checks were not blocking, so everything built from a defective release ran."""

    @dg.asset(deps=[kuzmin2018])
    def built_from_kuzmin2018() -> None:
        """Stands in for the graph tables."""

    storage = _storage(tmp_path, genes_frame)
    defective = _shift_raw_scores((releases / "1" / DATA_S1_FILE).read_text(), 0.05)
    _put(storage, "kuzmin2018", {DATA_S1_FILE: defective.encode()})
    checks = [RAW_SCORE_CHECKS[0], DIGEST_CHECKS[1]]
    result = _materialize([kuzmin2018, *checks, built_from_kuzmin2018], storage, dg.DagsterInstance.ephemeral())
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"kuzmin2018"}
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["raw_score_consistency"].passed and evaluations["files_match_digests"].passed


def test_source_checks_fail_instead_of_raising_on_missing_or_empty_outputs(tmp_path):
    storage = TorchcellStorage(data_dir=str(tmp_path / "data"))
    for check in (genome_complete, epsilon_consistency, record_genes_in_genome, DIGEST_CHECKS[0], RAW_SCORE_CHECKS[0]):
        result = check(storage=storage)
        assert not result.passed and result.metadata["reason"].value.startswith("missing: "), check
    assert not noise_calibrated(storage=storage).passed
    columns = {
        "query_gene": "str",
        "array_gene": "str",
        "epsilon": "f8",
        "dmf": "f8",
        "query_smf": "f8",
        "array_smf": "f8",
    }
    empty = pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})
    source_output_dir(storage, "costanzo2016").mkdir()
    empty.to_parquet(source_output_dir(storage, "costanzo2016") / RECORDS)  # a header-only SGA file parses to this
    result = epsilon_consistency(storage=storage)  # raised TypeError on 0 rows
    assert not result.passed and result.metadata["reason"].value.startswith("no rows")


def test_checks_on_what_the_graph_is_built_from_are_blocking():
    guards = [epsilon_consistency, record_genes_in_genome, go_terms_large_enough, *DIGEST_CHECKS, *RAW_SCORE_CHECKS]
    assert all(spec.blocking for check in guards for spec in check.check_specs)
    assert not any(spec.blocking for spec in noise_calibrated.check_specs)  # about the simulator, not the data


def _fake_simulator(world, out_dir, size, seed, log=None) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "release.txt").write_text(f"seed {seed}")
    return {"rows": {"release.txt": 1}}


def _failing_simulator(world, out_dir, size, seed, log=None) -> dict:
    _fake_simulator(world, out_dir, size, seed)
    raise RuntimeError("the simulator failed half way")


def test_the_simulated_release_is_published_in_one_step(tmp_path, genes_frame, go_frame, monkeypatch):
    storage = _storage(tmp_path, genes_frame)
    genes_frame.to_parquet(storage.path(*GENOME_PARQUET), index=False)
    go_frame.to_parquet(storage.path(*GO_ANNOTATIONS_PARQUET), index=False)
    monkeypatch.setattr(simulation, "SIMULATORS", {"costanzo2016": _fake_simulator, "kuzmin": _fake_simulator})
    target = storage.root() / "simulated"
    (target / "networks").mkdir(parents=True)  # the layout before: a plain directory
    instance = dg.DagsterInstance.ephemeral()
    config = SimulationConfig(seed=1)
    assert _materialize([simulated_release], storage, instance, "simulated_release", config).success
    assert target.is_symlink() and sorted(p.name for p in target.iterdir()) == ["costanzo2016", "kuzmin", "world.json"]

    monkeypatch.setitem(simulation.SIMULATORS, "kuzmin", _failing_simulator)
    failed = _materialize([simulated_release], storage, instance, "simulated_release", SimulationConfig(seed=2))
    assert not failed.success and "failed half way" in _error(failed)
    assert (target / "costanzo2016" / "release.txt").read_text() == "seed 1"
    assert sorted(p.name for p in storage.root().iterdir() if p.name.startswith("simulated.")) == [
        target.resolve().name
    ]
