"""A throwaway single-node SLURM cluster on this machine, for the tests and for trying the SLURM backend.

    python scripts/slurm_cluster.py start    # prints `export SLURM_CONF=<dir>/slurm.conf`
    python scripts/slurm_cluster.py status   # sinfo; exit 1 when the cluster is not up
    python scripts/slurm_cluster.py stop

`start` installs Debian's `slurm-wlm` and `munge` with apt-get when `slurmctld` is missing (root only; the
packages' own system services are left alone, nothing else under /etc is written), then writes everything
it needs under one directory it owns (`--dir`, default `$TORCHCELL_SLURM_DIR` or /tmp/torchcell-slurm):
a munge key, `slurm.conf`, state/spool/log folders. It starts `munged` on its own socket, `slurmctld` and
`slurmd` in the foreground of their own sessions (their PIDs go to `<dir>/pids.json`) on two free ports,
with the node named after `hostname -s` and as many CPUs as `nproc`, and waits until `sinfo` shows the node
idle. The daemons bind to the address the host name resolves to (`CommunicationParameters=NoCtldInAddrAny,
NoInAddrAny`; 127.0.0.1 here) and every request is authenticated by the munge key, readable by root only.
Clients find the cluster through `SLURM_CONF=<dir>/slurm.conf`.

`stop` cancels the cluster's jobs, then stops the daemons by the PIDs it recorded (SIGTERM, SIGKILL after
`--grace` s). Exit status: 0 on success; 1 when the packages cannot be installed, a daemon does not come up
(its log is printed), or `status` finds the cluster down.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd")
START_SECONDS = 90.0


def cluster_dir(given: str | None = None) -> Path:
    """The directory the cluster lives in: `given`, else `$TORCHCELL_SLURM_DIR`, else /tmp/torchcell-slurm."""
    return Path(given or os.environ.get("TORCHCELL_SLURM_DIR") or "/tmp/torchcell-slurm").resolve()


def installed() -> bool:
    return all(shutil.which(name) for name in ("slurmctld", "slurmd", "sbatch", "munged"))


def install() -> None:
    """apt-get install slurm-wlm munge (root, Debian); SystemExit naming why when that cannot be done."""
    if installed():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit(
            f"SLURM is not installed and cannot be: installing {' '.join(PACKAGES)} needs apt-get and root"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *PACKAGES]):
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            output = done.stdout[-2000:] + done.stderr[-2000:]
            raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{output}")
    if not installed():
        raise SystemExit(f"apt-get installed {' '.join(PACKAGES)} but slurmctld/slurmd/sbatch/munged are not on PATH")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def slurm_conf(root: Path, host: str, cpus: int, ports: tuple[int, int]) -> str:
    """slurm.conf of a one-node cluster whose state, spool, logs and munge socket are all under `root`."""
    lines = {
        "ClusterName": "torchcell",
        "SlurmctldHost": f"{host}(127.0.0.1)",
        "SlurmctldPort": ports[0],
        "SlurmdPort": ports[1],
        "SlurmUser": "root",
        "SlurmdUser": "root",
        "AuthType": "auth/munge",
        "CredType": "cred/munge",
        "AuthInfo": f"socket={root / 'munge' / 'munge.socket'}",
        "CommunicationParameters": "NoCtldInAddrAny,NoInAddrAny",
        "StateSaveLocation": root / "state",
        "SlurmdSpoolDir": root / "spool",
        "SlurmctldPidFile": root / "run" / "slurmctld.pid",
        "SlurmdPidFile": root / "run" / "slurmd.pid",
        "SlurmctldLogFile": root / "log" / "slurmctld.log",
        "SlurmdLogFile": root / "log" / "slurmd.log",
        "ProctrackType": "proctrack/linuxproc",
        "TaskPlugin": "task/none",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_CPU",
        "SlurmdParameters": "config_overrides",
        "SchedulerType": "sched/backfill",
        "AccountingStorageType": "accounting_storage/none",
        "JobAcctGatherType": "jobacct_gather/none",
        "JobCompType": "jobcomp/none",
        "MpiDefault": "none",
        "SwitchType": "switch/none",
        "ReturnToService": 2,
        "MinJobAge": 900,  # no accounting database: `scontrol show job` is where a finished job's state is read
        "KillWait": 10,
        "InactiveLimit": 0,
        "MailProg": "/bin/true",
    }
    text = "".join(f"{key}={value}\n" for key, value in lines.items())
    text += f"NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN\n"
    return text + f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP\n"


def pids_file(root: Path) -> Path:
    return root / "pids.json"


def recorded(root: Path) -> dict[str, int]:
    path = pids_file(root)
    return json.loads(path.read_text()) if path.is_file() else {}


def alive(pid: int) -> bool:
    """Whether `pid` runs and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def client_env(root: Path) -> dict[str, str]:
    return {**os.environ, "SLURM_CONF": str(root / "slurm.conf")}


def sinfo(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sinfo", *args], env=client_env(root), capture_output=True, text=True, timeout=30)


def launch(root: Path, name: str, command: list[str]) -> int:
    """Start `command` in its own session, output appended to <root>/log/<name>.out; returns its PID."""
    with (root / "log" / f"{name}.out").open("ab") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, env=client_env(root)
        )
    return process.pid


def fail_with_logs(root: Path, message: str) -> None:
    for log in sorted((root / "log").glob("*")):
        print(
            f"--- {log} (last lines)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-25:]), file=sys.stderr
        )
    stop(root, quiet=True)
    raise SystemExit(message)


def wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return condition()


def start(root: Path) -> None:
    """Install if needed, write the config, start the three daemons and wait for an idle node."""
    pids = recorded(root)
    if pids and all(alive(pid) for pid in pids.values()):
        print(f"# the cluster in {root} already runs (PIDs {pids})")
        print(f"export SLURM_CONF={root / 'slurm.conf'}")
        return
    if pids:
        stop(root, quiet=True)
    install()
    host = socket.gethostname().split(".")[0]
    for part in ("munge", "state", "spool", "log", "run"):
        (root / part).mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    os.chmod(root / "munge", 0o700)
    key = root / "munge" / "munge.key"
    if not key.is_file():
        key.write_bytes(os.urandom(1024))
    os.chmod(key, 0o600)
    (root / "slurm.conf").write_text(slurm_conf(root, host, os.cpu_count() or 1, (free_port(), free_port())))
    munge = root / "munge"
    pids = {
        "munged": launch(
            root,
            "munged",
            [
                "munged",
                "--foreground",
                "--force",
                f"--socket={munge / 'munge.socket'}",
                f"--key-file={key}",
                f"--pid-file={munge / 'munged.pid'}",
                f"--log-file={root / 'log' / 'munged.log'}",
                f"--seed-file={munge / 'munged.seed'}",
            ],
        )
    }
    pids_file(root).write_text(json.dumps(pids))
    if not wait_until(lambda: (munge / "munge.socket").exists(), 20):
        fail_with_logs(root, "munged did not open its socket within 20 s")
    conf = str(root / "slurm.conf")
    pids["slurmctld"] = launch(root, "slurmctld", ["slurmctld", "-D", "-c", "-f", conf])
    pids_file(root).write_text(json.dumps(pids))
    if not wait_until(lambda: sinfo(root).returncode == 0, 30):
        fail_with_logs(root, "slurmctld did not answer sinfo within 30 s")
    pids["slurmd"] = launch(root, "slurmd", ["slurmd", "-D", "-f", conf, "-N", host])
    pids_file(root).write_text(json.dumps(pids))
    if not wait_until(lambda: sinfo(root, "-h", "-n", host, "-o", "%t").stdout.strip() == "idle", START_SECONDS):
        state = sinfo(root, "-h", "-N", "-o", "%N %t %E").stdout.strip()
        fail_with_logs(root, f"node {host} is not idle after {START_SECONDS:.0f} s (sinfo: {state or 'nothing'})")
    print(f"# SLURM cluster up in {root}: node {host}, {os.cpu_count()} CPUs, PIDs {pids}")
    print(f"export SLURM_CONF={conf}")


def cancel_jobs(root: Path, seconds: float = 20.0) -> None:
    """scancel every job of the cluster and wait (up to `seconds`) until squeue lists none."""
    env = client_env(root)
    subprocess.run(["scancel", "--full", "--user", "root"], env=env, capture_output=True, timeout=30)

    def empty() -> bool:
        listed = subprocess.run(["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True, timeout=30)
        return listed.returncode != 0 or not listed.stdout.strip()

    wait_until(empty, seconds)


def stop(root: Path, grace: float = 10.0, quiet: bool = False) -> None:
    """Cancel the jobs, then SIGTERM (SIGKILL after `grace` s) the recorded daemons, slurmd first."""
    pids = recorded(root)
    if pids.get("slurmctld") and alive(pids["slurmctld"]) and pids.get("slurmd") and alive(pids["slurmd"]):
        cancel_jobs(root)
    for name in reversed(DAEMONS):
        pid = pids.get(name)
        if pid is None or not alive(pid):
            continue
        os.kill(pid, signal.SIGTERM)
        if not wait_until(lambda pid=pid: not alive(pid), grace):
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda pid=pid: not alive(pid), 5)
        if not quiet:
            print(f"stopped {name} (PID {pid})")
    pids_file(root).unlink(missing_ok=True)


def status(root: Path) -> int:
    pids = recorded(root)
    if not pids or not all(alive(pid) for pid in pids.values()):
        print(f"the SLURM cluster in {root} is not running (recorded PIDs: {pids or 'none'})")
        return 1
    shown = sinfo(root)
    print(shown.stdout + shown.stderr, end="")
    print(f"export SLURM_CONF={root / 'slurm.conf'}")
    return shown.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument(
        "--dir", default=None, help="cluster directory (default $TORCHCELL_SLURM_DIR or /tmp/torchcell-slurm)"
    )
    parser.add_argument("--grace", type=float, default=10.0, help="stop: seconds between SIGTERM and SIGKILL")
    args = parser.parse_args(argv)
    root = cluster_dir(args.dir)
    if args.action == "start":
        start(root)
    elif args.action == "stop":
        stop(root, args.grace)
    else:
        return status(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
