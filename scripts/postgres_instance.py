"""Run a PostgreSQL server for a team's Dagster instance (or a test) from the Debian package, under one folder.

    python scripts/postgres_instance.py start     # initdb on first use, start, create the role and database
    python scripts/postgres_instance.py status    # running or not; the environment lines to export
    python scripts/postgres_instance.py stop      # pg_ctl stop (the PID in postmaster.pid)

The folder (`--dir`, default `$TORCHCELL_PG_DIR` or /tmp/torchcell-postgres) holds everything: `data/` (the
cluster), `socket/` (its unix socket, mode 0700), `postgres.log`, `port`, and `password` when none was given.
The server listens on 127.0.0.1 only, on `$DAGSTER_PG_PORT` or a free port picked at the first start and
kept. Credentials come from the environment (`DAGSTER_PG_USERNAME`, `DAGSTER_PG_PASSWORD`, `DAGSTER_PG_DB`;
`DAGSTER_PG_HOST` must be 127.0.0.1 or localhost); for a local trial the defaults are user and database
`dagster` and a random password kept in `<dir>/password` (0600). `start` sets the role's password to the one
in use, so the environment stays the truth. Postgres refuses to run as root: as root the folder is handed to
the `postgres` user (Debian's package creates it) and initdb/pg_ctl run under `runuser -u postgres`. The
superuser signs in only through the folder's socket (peer); TCP logins need the password (scram-sha-256).

Exit status: 0 on success (`status`: 3 when no server runs); 1 with the reason when the binaries are missing,
the folder is unusable, or the server does not come up (its log tail is printed).
"""

from __future__ import annotations

import argparse
import os
import pwd
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

HOST = "127.0.0.1"
DEFAULT_DIR = "/tmp/torchcell-postgres"
DEFAULT_USER = DEFAULT_DB = "dagster"
RUN_USER = "postgres"  # the unprivileged account the server runs as when this script runs as root


def fail(message: str) -> SystemExit:
    """An exit with status 1 and `message` on stderr."""
    print(f"postgres_instance: {message}", file=sys.stderr)
    return SystemExit(1)


def bindir() -> Path:
    """The folder with initdb/pg_ctl/psql: `$PG_BINDIR`, else the newest /usr/lib/postgresql/<v>/bin."""
    if os.environ.get("PG_BINDIR"):
        candidates = [Path(os.environ["PG_BINDIR"])]
    else:
        found = Path("/usr/lib/postgresql").glob("*/bin")
        candidates = sorted(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    for path in candidates:
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    raise fail(
        "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or $PG_BINDIR; "
        "install them with `apt-get install postgresql` (Debian) or set PG_BINDIR"
    )


def run_user() -> str | None:
    """The account the server runs as: None (this one) unless we are root, then `postgres`."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(RUN_USER)
    except KeyError:
        raise fail(
            f"running as root, but there is no `{RUN_USER}` user to run the server as "
            "(Postgres refuses root); create one or run this script as an ordinary user"
        ) from None
    return RUN_USER


def as_server_user(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run `command` as the server's account (through `runuser` when we are root), capturing its output."""
    user = run_user()
    argv = ["runuser", "-u", user, "--", *command] if user else command
    return subprocess.run(argv, capture_output=True, text=True, **kwargs)


def quote_literal(value: str) -> str:
    """`value` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def quote_ident(value: str) -> str:
    """`value` as an SQL identifier (a role or database name)."""
    return '"' + value.replace('"', '""') + '"'


def port_free(port: int) -> bool:
    """Whether the server could listen on `port`: bound as it binds (SO_REUSEADDR), so the closed connections
    of a server just stopped (TIME_WAIT) do not count, a listener does."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Instance:
    """The server's folder and the settings read from it and from the environment."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory.resolve()
        self.data, self.socket, self.log = self.dir / "data", self.dir / "socket", self.dir / "postgres.log"
        self.user = os.environ.get("DAGSTER_PG_USERNAME") or DEFAULT_USER
        self.db = os.environ.get("DAGSTER_PG_DB") or DEFAULT_DB
        host = os.environ.get("DAGSTER_PG_HOST") or HOST
        if host not in (HOST, "localhost"):
            raise fail(
                f"DAGSTER_PG_HOST={host}: this script runs a server on {HOST} only; for a server "
                "elsewhere skip the script and point the environment at it"
            )

    def pid(self) -> int | None:
        """The postmaster's PID from `data/postmaster.pid` when that process is alive, else None."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, 0)
        except (FileNotFoundError, IndexError, ValueError, ProcessLookupError, PermissionError):
            return None
        return pid

    def port(self) -> int:
        """`$DAGSTER_PG_PORT`, else the port kept in `<dir>/port`, else a free one (then kept)."""
        if os.environ.get("DAGSTER_PG_PORT"):
            return int(os.environ["DAGSTER_PG_PORT"])
        kept = self.dir / "port"
        if kept.is_file():
            return int(kept.read_text())
        port = free_port()
        kept.write_text(f"{port}\n")
        return port

    def password(self) -> str:
        """`$DAGSTER_PG_PASSWORD`, else the trial password kept in `<dir>/password` (made on first use)."""
        if os.environ.get("DAGSTER_PG_PASSWORD"):
            return os.environ["DAGSTER_PG_PASSWORD"]
        kept = self.dir / "password"
        if not kept.is_file():
            kept.touch(mode=0o600)
            kept.write_text(secrets.token_urlsafe(18) + "\n")
        return kept.read_text().strip()

    def env_lines(self) -> list[str]:
        values = {
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password(),
            "DAGSTER_PG_HOST": HOST,
            "DAGSTER_PG_PORT": str(self.port()),
            "DAGSTER_PG_DB": self.db,
        }
        return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]

    def prepare(self) -> None:
        """Create the folder (0700, owned by the server's account) and, on first use, the cluster."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket.mkdir(exist_ok=True)
        self.dir.chmod(0o700)
        self.socket.chmod(0o700)
        user = run_user()
        if user:
            account = pwd.getpwnam(user)
            for path in (self.dir, self.socket, *(p for p in self.dir.iterdir() if p.is_file())):
                os.chown(path, account.pw_uid, account.pw_gid)
            if as_server_user(["test", "-w", str(self.dir)]).returncode != 0:
                raise fail(
                    f"user {user} cannot reach {self.dir} (a parent folder is closed to it); "
                    "choose a --dir under /tmp or another folder it can traverse"
                )
        if (self.data / "PG_VERSION").is_file():
            return
        done = as_server_user(
            [
                str(bindir() / "initdb"),
                "-D",
                str(self.data),
                "-E",
                "UTF8",
                "--no-locale",
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
            ]
        )
        if done.returncode != 0:
            raise fail(f"initdb into {self.data} failed:\n{done.stderr or done.stdout}")
        settings = (
            f"\n# torchcell: {HOST} only, the socket in this folder\nlisten_addresses = '{HOST}'\n"
            f"unix_socket_directories = '{self.socket}'\nunix_socket_permissions = 0700\n"
        )
        conf = self.data / "postgresql.conf"
        conf.write_text(conf.read_text() + settings)

    def psql(self, sql: str, port: int) -> str:
        """Run `sql` (stdin, so no secret shows in the process list) as the superuser over the socket."""
        command = [
            str(bindir() / "psql"),
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.socket),
            "-p",
            str(port),
            "-d",
            "postgres",
        ]
        done = as_server_user(command, input=sql)
        if done.returncode != 0:
            raise fail(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def ensure_role_and_db(self, port: int) -> None:
        """Create the role and the database when missing; (re)set the role's password to the one in use."""
        role = quote_ident(self.user)
        exists = self.psql(f"SELECT 1 FROM pg_roles WHERE rolname = {quote_literal(self.user)};", port)
        verb = "ALTER" if exists else "CREATE"
        self.psql(
            f"SET password_encryption = 'scram-sha-256';\n"
            f"{verb} ROLE {role} LOGIN PASSWORD {quote_literal(self.password())};\n",
            port,
        )
        if not self.psql(f"SELECT 1 FROM pg_database WHERE datname = {quote_literal(self.db)};", port):
            self.psql(f"CREATE DATABASE {quote_ident(self.db)} OWNER {role};\n", port)

    def start(self, timeout: float) -> int:
        """Start the server (initdb first when needed) and return its PID; an already running one is kept."""
        self.prepare()
        port = self.port()
        pid = self.pid()
        if pid is None:
            if not port_free(port):
                raise fail(f"port {port} on {HOST} is in use; set DAGSTER_PG_PORT to another or remove {self.dir}/port")
            done = as_server_user(
                [
                    str(bindir() / "pg_ctl"),
                    "start",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "-o",
                    f"-p {port}",
                ]
            )
            pid = self.pid()
            if done.returncode != 0 or pid is None:
                tail = self.log.read_text(errors="replace")[-3000:] if self.log.is_file() else ""
                raise fail(
                    f"the server did not start (pg_ctl: {done.stderr.strip() or done.stdout.strip()}); "
                    f"log {self.log}:\n{tail}"
                )
        self.ensure_role_and_db(port)
        return pid

    def stop(self, timeout: float) -> int | None:
        """Stop the server whose PID is in postmaster.pid (fast shutdown); the PID, or None when none ran."""
        pid = self.pid()
        if pid is None:
            return None
        done = as_server_user(
            [str(bindir() / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", str(int(timeout))]
        )
        if done.returncode != 0 or self.pid() is not None:
            raise fail(f"pg_ctl stop of PID {pid} failed: {done.stderr.strip() or done.stdout.strip()}")
        return pid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(os.environ.get("TORCHCELL_PG_DIR") or DEFAULT_DIR),
        help="the server's folder (default $TORCHCELL_PG_DIR or %(default)s)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for start or stop")
    args = parser.parse_args(argv)
    instance = Instance(args.dir)
    if args.command == "start":
        if shutil.which("runuser") is None and run_user():
            raise fail("running as root needs `runuser` (util-linux) to start the server as postgres")
        pid = instance.start(args.timeout)
        print(f"PostgreSQL PID {pid} on {HOST}:{instance.port()}, folder {instance.dir}; for Dagster:")
        print("\n".join(instance.env_lines()))
    elif args.command == "stop":
        pid = instance.stop(args.timeout)
        print(f"stopped PID {pid}" if pid else f"no server running in {instance.dir}")
    else:
        pid = instance.pid()
        if pid is None:
            print(f"not running ({instance.dir})")
            return 3
        print(f"running: PID {pid} on {HOST}:{instance.port()}, folder {instance.dir}")
        print("\n".join(instance.env_lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
