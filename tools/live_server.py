"""A real Odoo server with pos_mpesa and the Daraja simulator, for suites that drive it over HTTP.

Used by `make reliability` (tools/reliability.py) and `make bench`. Stdlib only: it runs under
tools/find-python's Python or the Odoo venv's. Everything listens on 127.0.0.1, on free ports.

    from live_server import LiveServer

    with LiveServer("reliability", setup_script=SCRIPT, workers=0) as live:
        live.odoo_url          # "http://127.0.0.1:<port>" (dbfilter = this database only)
        live.sim_url           # "http://127.0.0.1:<port>" (the simulator, --odoo-url = live.odoo_url)
        live.odoo_port, live.sim_port, live.gevent_port   # gevent_port: None when threaded
        live.db                # the database name (fresh, dropped at exit unless keep_db=True)
        live.log_path          # Path of Odoo's server log (stdout+stderr, INFO level, werkzeug lines)
        live.sim_log_path      # Path of the simulator's output
        live.setup_output      # stdout of the setup script ("" without one)
        live.sql("SELECT ...") # rows as lists of str (psql -At, '|' separated; NULL = "")
        live.shell(script)     # run another script in `odoo-bin shell` against the db; returns stdout
        live.odoo, live.pg, live.runtime   # the odoo_exec.Odoo / pg.Postgres / runtime.Runtime in use

LiveServer(name, *, setup_script=None, workers=0, max_cron_threads=0, callback_delay=0.5,
           sim_args=(), odoo_args=(), keep_db=False, start_timeout=240, log_level="info",
           module_path=None)

- name: a short word; the database is `<POS_MPESA_DB_PREFIX>live_<name>_<pid>` and the logs are
  .local/logs/live-<name>-odoo.log / live-<name>-sim.log (overwritten on every run).
- The database is a copy of the cached template without demo data (tools/templates.py, built once
  per Odoo source), then `-i pos_mpesa --stop-after-init` (no demo data).
- setup_script: Python source run by `odoo-bin shell` (stdin) with `env` as superuser, before the
  servers start. These names are defined for it: ODOO_URL, SIM_URL, DB. It must call env.cr.commit()
  itself; anything it prints is live.setup_output (print one JSON line and parse it). A failing
  script (traceback, non-zero exit) aborts with the tail of its output.
- workers=0: threaded server (one process). workers=N>0: prefork (`--workers N`, a free
  `--gevent-port`, `--max-cron-threads` as given). odoo_args are appended to odoo-bin's command line;
  sim_args to the simulator's (`python -m daraja_simulator --port P --callback-delay D --odoo-url U`).
- module_path: the folder installed as pos_mpesa (default: this clone's work tree), e.g. an export of
  another commit (`git archive HEAD | tar -x -C DIR`); the simulator always runs from the work tree.
- Ready means: the simulator answers GET / and Odoo answers GET /web/health with status "pass".
- At exit (also on an exception or Ctrl-C): SIGINT to both process groups, SIGKILL after 20 s,
  then the database and its filestore are dropped and PostgreSQL released (a private cluster stops
  when no other run uses it).

    python tools/live_server.py [--workers N]   # start one, print its URLs, Ctrl-C stops it
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pg as pgmod
import runtime as rt
from common import MODULE, REPO, fail, free_port, main_guard, say
from odoo_exec import Odoo, db_prefix, logs_dir, print_tail
from templates import ensure_template


class LiveServer:
    """Context manager: fresh database + simulator + Odoo server; everything stopped and dropped at exit."""

    def __init__(
        self,
        name: str = "live",
        *,
        setup_script: str | None = None,
        workers: int = 0,
        max_cron_threads: int = 0,
        callback_delay: float = 0.5,
        sim_args=(),
        odoo_args=(),
        keep_db: bool = False,
        start_timeout: float = 240,
        log_level: str = "info",
        module_path=None,
    ):
        self.name = name
        self.setup_script = setup_script
        self.workers = int(workers)
        self.max_cron_threads = int(max_cron_threads)
        self.callback_delay = callback_delay
        self.sim_args = [str(a) for a in sim_args]
        self.odoo_args = [str(a) for a in odoo_args]
        self.keep_db = keep_db
        self.start_timeout = start_timeout
        self.log_level = log_level
        self.module_path = module_path
        self.db = f"{db_prefix()}live_{name}_{os.getpid()}"
        self.runtime = self.pg = self.odoo = None
        self.odoo_port = self.sim_port = self.gevent_port = None
        self.odoo_url = self.sim_url = None
        self.log_path = logs_dir() / f"live-{name}-odoo.log"
        self.sim_log_path = logs_dir() / f"live-{name}-sim.log"
        self.setup_output = ""
        self._procs: list[tuple[str, subprocess.Popen]] = []
        self._files = []
        self._db_created = False

    # -- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *exc):
        self._stop()
        return False

    def _start(self):
        self.runtime = rt.ensure()
        self.pg = pgmod.connect()
        self.odoo = Odoo(self.runtime, self.pg)
        if self.module_path:
            link = self.odoo.addons_dir / MODULE
            link.unlink()
            link.symlink_to(Path(self.module_path).resolve())
        template = ensure_template(self.odoo, demo=False)
        self.odoo_port = free_port()
        self.sim_port = free_port()
        while self.sim_port == self.odoo_port:
            self.sim_port = free_port()
        if self.workers:
            self.gevent_port = free_port()
        self.odoo_url = f"http://127.0.0.1:{self.odoo_port}"
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"

        say(f"live server: database {self.db} from {template}, installing {MODULE}")
        self.odoo.copy_db(template, self.db)
        self._db_created = True
        rc, log = self.odoo.run_logged(
            self.db,
            ["-i", MODULE, "--stop-after-init", "--max-cron-threads=0"],
            f"live-{self.name}-install",
        )
        if rc != 0:
            print_tail(log)
            fail(f"installing {MODULE} on {self.db} failed (exit {rc}); log: {log}")
        if self.setup_script:
            say("live server: running the setup script in odoo-bin shell")
            self.setup_output = self.shell(self.setup_script)

        sim_log = open(self.sim_log_path, "w")  # noqa: SIM115 (closed in _stop)
        self._files.append(sim_log)
        sim_cmd = [
            sys.executable,
            "-m",
            "daraja_simulator",
            "--port",
            str(self.sim_port),
            "--callback-delay",
            str(self.callback_delay),
            "--odoo-url",
            self.odoo_url,
            *self.sim_args,
        ]
        self._spawn("the simulator", sim_cmd, sim_log, cwd=REPO, env=None)

        args = [f"--max-cron-threads={self.max_cron_threads}", f"--log-level={self.log_level}"]
        if self.workers:
            args += [f"--workers={self.workers}", f"--gevent-port={self.gevent_port}"]
        else:
            args += ["--workers=0"]
        cmd = self.odoo.command(self.db, *args, *self.odoo_args, http_port=self.odoo_port)
        log_file = open(self.log_path, "w")  # noqa: SIM115 (closed in _stop)
        self._files.append(log_file)
        log_file.write("$ " + " ".join(cmd) + "\n")
        log_file.flush()
        self._spawn("Odoo", cmd, log_file, cwd=str(self.odoo.addons_dir), env=self.pg.env())

        self._wait(f"{self.sim_url}/", lambda body: True)
        self._wait(f"{self.odoo_url}/web/health", lambda body: json.loads(body).get("status") == "pass")
        mode = f"prefork, {self.workers} workers" if self.workers else "threaded"
        say(f"live server: Odoo {self.odoo_url} ({mode}), simulator {self.sim_url}, log {self.log_path}")

    def _spawn(self, label, cmd, out, cwd, env):
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            start_new_session=True,  # its own process group: stopped as a whole, never orphaned
        )
        self._procs.append((label, proc))
        return proc

    def _wait(self, url, ready):
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            for label, proc in self._procs:
                if proc.poll() is not None:
                    print_tail(self.log_path if label == "Odoo" else self.sim_log_path)
                    fail(f"{label} stopped during start-up (exit {proc.returncode})")
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (loopback)
                    if ready(resp.read()):
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.5)
        fail(f"{url} did not answer within {self.start_timeout:.0f} s")

    def _stop(self):
        for _label, proc in self._procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGINT)
        for label, proc in self._procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                say(f"live server: {label} did not stop in 20 s: killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            # Prefork workers and simulator delivery threads: nothing of the group may survive.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        self._procs.clear()
        for handle in self._files:
            with contextlib.suppress(OSError):
                handle.close()
        self._files.clear()
        if self.odoo:
            if self._db_created and not self.keep_db:
                with contextlib.suppress(Exception):
                    self.odoo.drop_db(self.db)
            self.odoo.close()
            self.odoo = None
        if self.pg:
            self.pg.close()
            self.pg = None

    # -- helpers -----------------------------------------------------------------------------------

    def sql(self, query: str) -> list[list[str]]:
        """Rows of a query on the live database (psql -At: '|'-separated text, NULL = '')."""
        return [line.split("|") for line in self.pg.query(query, db=self.db)]

    def shell(self, script: str, timeout: float = 600) -> str:
        """Run Python in `odoo-bin shell` against the database (env = superuser); returns its stdout."""
        prelude = f"ODOO_URL = {self.odoo_url!r}\nSIM_URL = {self.sim_url!r}\nDB = {self.db!r}\n"
        cmd = self.odoo.command(self.db, "--max-cron-threads=0", "--log-level=warn")
        cmd.insert(2, "shell")  # odoo-bin <subcommand> <options>
        proc = subprocess.run(
            cmd,
            input=prelude + script,
            capture_output=True,
            text=True,
            errors="replace",
            cwd=str(self.odoo.addons_dir),
            env=self.pg.env(),
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0 or "Traceback (most recent call last)" in proc.stderr:
            sys.stderr.write((proc.stdout + proc.stderr)[-4000:])
            fail(f"odoo-bin shell script failed (exit {proc.returncode})")
        return proc.stdout


def main():
    workers = int(sys.argv[sys.argv.index("--workers") + 1]) if "--workers" in sys.argv else 0
    with LiveServer("manual", workers=workers) as live:
        say(f"Odoo {live.odoo_url}/odoo (admin/admin), simulator {live.sim_url}/, db {live.db}")
        say(f"log: {live.log_path}; Ctrl-C stops everything and drops the database")
        with contextlib.suppress(KeyboardInterrupt):
            while all(proc.poll() is None for _label, proc in live._procs):
                time.sleep(1)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    main_guard(main)
