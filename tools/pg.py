"""Find a PostgreSQL server for pos_mpesa, or start a private one.

Order: the PG* variables when set (PGHOST, PGPORT, PGUSER, PGPASSWORD; a failure there is an error),
else localhost:5432 as the current user, else a private cluster in the project's .local/pgdata
(system binaries from /usr/lib/postgresql/*/bin, loopback only, private port), stopped again by
the last run that uses it. POS_MPESA_PG=private forces the private cluster, =system forbids it.

    python tools/pg.py status     # which server would be used (starts nothing)
"""

import getpass
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from common import REPO, fail, file_lock, free_port, main_guard, port_free, say

PRIVATE_USER_DB = "postgres"


def _bin_dirs():
    """System PostgreSQL binary folders, newest major version first."""
    found = []
    for path in Path("/usr/lib/postgresql").glob("*/bin"):
        try:
            found.append((int(path.parent.name), path))
        except ValueError:
            continue
    return [p for _, p in sorted(found, reverse=True)]


def find_binary(name: str) -> str | None:
    for folder in _bin_dirs():
        if (folder / name).is_file():
            return str(folder / name)
    return shutil.which(name)


def find_client(name: str) -> str | None:
    return shutil.which(name) or find_binary(name)


class Postgres:
    """A reachable server: connection parameters plus small psql helpers."""

    def __init__(self, host, port, user, private=None):
        self.host, self.port, self.user = host, int(port), user
        self.private = private  # PrivateCluster when we run it

    def __str__(self):
        where = (
            f"{self.host}:{self.port}" if not self.host.startswith("/") else f"{self.host} port {self.port}"
        )
        kind = f"private cluster in {self.private.datadir}" if self.private else "server"
        return f"{kind} at {where} as {self.user}"

    def env(self) -> dict:
        env = dict(os.environ, PGHOST=self.host, PGPORT=str(self.port), PGUSER=self.user)
        env.setdefault("PGCONNECT_TIMEOUT", "5")
        return env

    def odoo_args(self) -> list:
        # The password, if any, stays in PGPASSWORD/~/.pgpass: libpq reads them, no command line shows them.
        return [f"--db_host={self.host}", f"--db_port={self.port}", f"--db_user={self.user}"]

    def psql(self, sql: str, db: str = PRIVATE_USER_DB, check=True) -> subprocess.CompletedProcess:
        psql = find_client("psql")
        if not psql:
            fail("psql not found: install the PostgreSQL client (apt-get install postgresql-client).")
        proc = subprocess.run(
            [psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if check and proc.returncode:
            fail(f"PostgreSQL ({self}): {proc.stderr.strip() or 'psql failed'}")
        return proc

    def query(self, sql: str, db: str = PRIVATE_USER_DB) -> list[str]:
        return [line for line in self.psql(sql, db).stdout.splitlines() if line]

    def databases(self, like: str = "%") -> list[str]:
        return self.query(
            f"SELECT datname FROM pg_database WHERE datname LIKE {quote_literal(like)} ORDER BY 1"
        )

    def exists(self, db: str) -> bool:
        return bool(self.query(f"SELECT 1 FROM pg_database WHERE datname = {quote_literal(db)}"))

    def create(self, db: str, template: str | None = None) -> None:
        sql = f"CREATE DATABASE {quote_ident(db)}"
        if template:
            sql += f" TEMPLATE {quote_ident(template)}"
        self.psql(sql)

    def drop(self, db: str) -> None:
        self.psql(f"DROP DATABASE IF EXISTS {quote_ident(db)} WITH (FORCE)")

    def rename(self, old: str, new: str) -> None:
        self.psql(f"ALTER DATABASE {quote_ident(old)} RENAME TO {quote_ident(new)}")

    def version(self) -> str:
        return self.query("SHOW server_version")[0]

    def close(self) -> None:
        if self.private:
            self.private.release()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _probe(host, port, user, db=PRIVATE_USER_DB) -> str | None:
    """None when the server lets `user` in and create databases, else the reason it cannot be used."""
    psql = find_client("psql")
    if not psql:
        return "psql not found (apt-get install postgresql-client)"
    env = dict(os.environ, PGHOST=host, PGPORT=str(port), PGUSER=user, PGCONNECT_TIMEOUT="3")
    env.setdefault("PGPASSWORD", "")  # never prompt
    try:
        proc = subprocess.run(
            [
                psql,
                "-X",
                "-At",
                "-w",
                "-d",
                db,
                "-c",
                "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "no answer within 15 s"
    if proc.returncode:
        lines = proc.stderr.strip().splitlines()
        return lines[0].replace("psql: error: ", "") if lines else f"psql exit {proc.returncode}"
    if proc.stdout.strip() != "t":
        return f"role {user} may not create databases"
    return None


def connect(quiet=False) -> Postgres:
    """The server to use; starts the private cluster when needed. Call .close() when done."""
    mode = os.environ.get("POS_MPESA_PG", "auto")
    if mode not in ("auto", "private", "system"):
        fail(f"POS_MPESA_PG={mode}: expected auto, private or system")
    explicit = [v for v in ("PGHOST", "PGPORT", "PGUSER") if os.environ.get(v)]
    user = os.environ.get("PGUSER") or getpass.getuser()
    if user == "postgres":
        fail("Odoo refuses to connect as the 'postgres' superuser: set PGUSER to another role.")
    if mode != "private":
        host = os.environ.get("PGHOST") or "localhost"
        port = int(os.environ.get("PGPORT") or 5432)
        problem = _probe(host, port, user)
        if problem is None:
            return Postgres(host, port, user)
        if explicit or mode == "system":
            how = ", ".join(f"{v}={os.environ[v]}" for v in explicit) or "POS_MPESA_PG=system"
            fail(f"PostgreSQL {host}:{port} as {user} is not usable ({problem}); set by {how}.")
        if not quiet:
            say(f"no usable PostgreSQL at {host}:{port} as {user} ({problem}); using a private cluster")
    cluster = PrivateCluster()
    port = cluster.acquire()
    return Postgres("127.0.0.1", port, cluster.superuser, private=cluster)


class PrivateCluster:
    """A throw-away PostgreSQL cluster in the project's data folder, on a private loopback port.

    Several runs may share it: each registers in pgdata-users/, the last one out stops it.
    """

    def __init__(self):
        self.datadir = Path(os.environ.get("POS_MPESA_PGDATA") or REPO / ".local" / "pgdata").resolve()
        self.users_dir = self.datadir.parent / "pgdata-users"
        self.token = f"{os.getpid()}.{id(self)}"  # one entry per user, even within one process
        self.lock_name = "pgdata-" + re.sub(r"\W", "_", str(self.datadir))[-80:]
        self.superuser = getpass.getuser()
        # initdb/postgres refuse to run as root: run them as the postgres system user instead.
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _tool(self, name):
        path = find_binary(name)
        if not path:
            fail(
                f"{name} not found: install the PostgreSQL server (apt-get install postgresql), "
                "or point PGHOST/PGPORT/PGUSER at a server."
            )
        return path

    def _run(self, args, **kwargs):
        return subprocess.run(
            self.run_as + [str(a) for a in args], capture_output=True, text=True, check=False, **kwargs
        )

    def running_port(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        if not pidfile.exists():
            return None
        if self._run([self._tool("pg_ctl"), "-D", self.datadir, "status"]).returncode != 0:
            return None
        lines = pidfile.read_text().splitlines()
        return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None

    def _init(self):
        say(f"creating a private PostgreSQL cluster in {self.datadir}")
        self.datadir.mkdir(parents=True, exist_ok=True)
        if self.run_as:
            shutil.chown(self.datadir, "postgres", "postgres")
            if self._run(["test", "-w", self.datadir]).returncode:
                fail(
                    f"the postgres system user cannot reach {self.datadir}; "
                    "set POS_MPESA_PGDATA to a folder it can write to."
                )
        proc = self._run(
            [
                self._tool("initdb"),
                "-D",
                self.datadir,
                "-U",
                self.superuser,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        )
        if proc.returncode:
            fail(f"initdb failed: {proc.stderr.strip()[-800:]}")

    def acquire(self) -> int:
        with file_lock(self.lock_name):
            self.users_dir.mkdir(parents=True, exist_ok=True)
            (self.users_dir / self.token).touch()
            port = self.running_port()
            if port:
                return port
            if not (self.datadir / "PG_VERSION").exists():
                self._init()
            wanted = int(os.environ.get("POS_MPESA_PGPORT") or 54329)
            port = wanted if port_free(wanted) else free_port()
            opts = (
                f"-p {port} -k '' -c listen_addresses=127.0.0.1 -c synchronous_commit=off "
                "-c max_connections=200"
            )
            say(f"starting the private PostgreSQL cluster on 127.0.0.1:{port}")
            proc = self._run(
                [
                    self._tool("pg_ctl"),
                    "-D",
                    self.datadir,
                    "-l",
                    self.datadir / "server.log",
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            )
            if proc.returncode:
                fail(
                    f"could not start PostgreSQL: {proc.stderr.strip()[-500:]} "
                    f"(log: {self.datadir / 'server.log'})"
                )
            return port

    def release(self) -> None:
        """Unregister this run; stop the cluster when no other live run uses it."""
        with file_lock(self.lock_name):
            (self.users_dir / self.token).unlink(missing_ok=True)
            for entry in self.users_dir.iterdir():
                pid = entry.name.split(".")[0]
                if pid.isdigit() and _alive(int(pid)):
                    return
                entry.unlink(missing_ok=True)
            if self.running_port():
                self._run([self._tool("pg_ctl"), "-D", self.datadir, "-m", "fast", "-w", "stop"])
                say("stopped the private PostgreSQL cluster")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe() -> tuple[bool, str]:
    """What connect() would use, without starting anything: (usable, one line)."""
    mode = os.environ.get("POS_MPESA_PG", "auto")
    user = os.environ.get("PGUSER") or getpass.getuser()
    host = os.environ.get("PGHOST") or "localhost"
    port = int(os.environ.get("PGPORT") or 5432)
    if user == "postgres":
        return False, "PGUSER=postgres: Odoo refuses the postgres superuser; use another role"
    problem = "POS_MPESA_PG=private" if mode == "private" else _probe(host, port, user)
    if problem is None:
        return True, f"{host}:{port} as {user}"
    if mode == "system" or any(os.environ.get(v) for v in ("PGHOST", "PGPORT", "PGUSER")):
        return False, f"{host}:{port} as {user} not usable: {problem}"
    cluster = PrivateCluster()
    initdb = find_binary("initdb")
    if not initdb:
        return False, (
            f"{host}:{port} not usable ({problem}) and no server binaries for a private cluster "
            "(apt-get install postgresql)"
        )
    state = f"running on port {cluster.running_port()}" if cluster.running_port() else "started on demand"
    return True, f"private cluster in {cluster.datadir} ({state}; {host}:{port}: {problem})"


def main():
    if sys.argv[1:] != ["status"]:
        print(__doc__)
        return 2
    ok, text = describe()
    say(f"PostgreSQL: {text}")
    return 0 if ok else 1


if __name__ == "__main__":
    main_guard(main)
