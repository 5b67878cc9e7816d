"""A team instance on Postgres: `scripts/postgres_instance.py` runs the server, `dagster_home/dagster.postgres.yaml`
points Dagster at it, a materialization written by one process is read back by another, and a missing
credential is refused naming the variable. Needs the PostgreSQL server package (`make test-hpc`)."""

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "postgres_instance.py"
CONFIG = ROOT / "dagster_home" / "dagster.postgres.yaml"
ENV_NAMES = ("DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB")

pytestmark = pytest.mark.hpc


def _script(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), command], env=env, capture_output=True, text=True, timeout=120)


def _exported(stdout: str) -> dict[str, str]:
    """The `export NAME=value` lines the script prints."""
    pairs = (shlex.split(line)[1].split("=", 1) for line in stdout.splitlines() if line.startswith("export "))
    return dict(pairs)


@pytest.fixture(scope="module")
def server():
    """A server started by the script in a fresh folder under /tmp (the `postgres` user must reach it), with a
    role and password of the test's choosing; stopped (by its PID) afterwards and the folder removed."""
    if not any(Path("/usr/lib/postgresql").glob("*/bin/initdb")) and not os.environ.get("PG_BINDIR"):
        pytest.skip("PostgreSQL server binaries missing: `apt-get install postgresql` (or set PG_BINDIR)")
    pytest.importorskip("dagster_postgres", reason="dagster-postgres missing: pip install -e '.[postgres]'")
    folder = Path(tempfile.mkdtemp(prefix="torchcell-pg-test-"))
    env = {
        **os.environ,
        "TORCHCELL_PG_DIR": str(folder),
        "DAGSTER_PG_USERNAME": "lab",
        "DAGSTER_PG_DB": "lab_runs",
        "DAGSTER_PG_PASSWORD": "s3cret 'quoted\"",
    }
    env.pop("DAGSTER_PG_PORT", None)
    started = _script("start", env)
    assert started.returncode == 0, f"start failed:\n{started.stdout}\n{started.stderr}"
    try:
        yield {"folder": folder, "env": env, "started": started.stdout, "exported": _exported(started.stdout)}
    finally:
        stopped = _script("stop", env)
        shutil.rmtree(folder, ignore_errors=True)
        assert stopped.returncode == 0, f"stop failed:\n{stopped.stdout}\n{stopped.stderr}"


@pytest.fixture(scope="module")
def home(server, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("dagster_home_pg")
    shutil.copy(CONFIG, directory / "dagster.yaml")
    return directory


def test_script_prints_the_instance_environment(server):
    exported = server["exported"]
    assert set(exported) == set(ENV_NAMES)
    assert exported["DAGSTER_PG_HOST"] == "127.0.0.1"
    assert exported["DAGSTER_PG_USERNAME"] == "lab" and exported["DAGSTER_PG_DB"] == "lab_runs"
    assert exported["DAGSTER_PG_PASSWORD"] == server["env"]["DAGSTER_PG_PASSWORD"]
    port = int(exported["DAGSTER_PG_PORT"])
    status = _script("status", server["env"])
    assert status.returncode == 0 and f"127.0.0.1:{port}" in status.stdout, status.stdout + status.stderr
    pid = int((server["folder"] / "data" / "postmaster.pid").read_text().split()[0])
    assert f"PID {pid}" in status.stdout
    # Listening on loopback only: the socket is bound to 127.0.0.1, not to every interface.
    listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
    if listening:
        assert all(line.split()[3].startswith("127.0.0.1:") for line in listening.splitlines()), listening


@pytest.fixture(scope="module")
def materialized(server, home, tmp_path_factory):
    """`s288c_genome` materialized in this process into the Postgres instance (a temporary data folder)."""
    from torchcell_assets.defs.sources.genome import s288c_genome
    from torchcell_assets.lib.storage import TorchcellStorage

    data = tmp_path_factory.mktemp("pg_data")
    storage = TorchcellStorage(data_dir=str(data / "data"), raw_dir=str(data / "raw"))
    with pytest.MonkeyPatch.context() as patch:
        for name, value in server["exported"].items():
            patch.setenv(name, value)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            result = dg.materialize([s288c_genome], instance=instance, resources={"storage": storage})
            assert result.success
            event = result.get_asset_materialization_events()[0].materialization
    return {"run_id": result.run_id, "materialization": event}


READ_BACK = """
import json, dagster as dg
with dg.DagsterInstance.get() as instance:
    record = instance.get_latest_materialization_event(dg.AssetKey("s288c_genome"))
    run = instance.get_run_by_id(record.run_id)
    m = record.asset_materialization
    print(json.dumps({"run_id": record.run_id, "status": run.status.value, "tags": dict(m.tags or {}),
                      "rows": m.metadata["dagster/row_count"].value, "storage": type(instance.run_storage).__name__}))
"""


def test_second_process_reads_the_materialization(server, home, materialized):
    """Read back after the server was stopped and started again by the script (same folder, same port)."""
    pid = int((server["folder"] / "data" / "postmaster.pid").read_text().split()[0])
    stopped = _script("stop", server["env"])
    assert stopped.returncode == 0 and f"stopped PID {pid}" in stopped.stdout, stopped.stdout + stopped.stderr
    assert not (server["folder"] / "data" / "postmaster.pid").exists()
    restarted = _script("start", server["env"])
    assert restarted.returncode == 0, restarted.stderr
    assert _exported(restarted.stdout) == server["exported"]
    env = {**server["env"], **server["exported"], "DAGSTER_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", READ_BACK], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    mine = materialized["materialization"]
    assert seen["storage"] == "PostgresRunStorage"
    assert seen["run_id"] == materialized["run_id"] and seen["status"] == "SUCCESS"
    assert seen["tags"]["dagster/data_version"] == mine.tags["dagster/data_version"]
    assert seen["rows"] == mine.metadata["dagster/row_count"].value == 6399


def test_wrong_password_is_refused(server, home):
    env = {**server["env"], **server["exported"], "DAGSTER_HOME": str(home), "DAGSTER_PG_PASSWORD": "wrong"}
    done = subprocess.run(
        [sys.executable, "-c", READ_BACK], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode != 0
    assert "password authentication failed" in done.stderr


def test_missing_password_variable_is_named(server, home, monkeypatch):
    for name, value in server["exported"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DAGSTER_PG_PASSWORD")
    with pytest.raises(Exception, match="DAGSTER_PG_PASSWORD") as error:
        dg.DagsterInstance.from_config(str(home))
    assert "not set" in str(error.value)
