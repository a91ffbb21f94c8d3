"""`make run`: a working POS with M-Pesa on this machine, without a Safaricom account.

Finds or builds the Odoo runtime, finds or starts PostgreSQL, creates (from the cached demo template)
or updates the demo database, points the demo M-Pesa accounts at the simulator it starts, starts the
Daraja simulator and Odoo, registers the demo accounts' C2B URLs on the simulator (through the
accounts' own Register button, as admin), prints the URLs and how to try each flow, and stops what it
started on Ctrl-C. While running it watches the simulator: restarted when it stops, its C2B
registrations restored when they are gone (restart or /__sim__/reset). Nothing is reinstalled on a
second run when the module did not change.

Environment: ODOO_PORT (8069), SIM_PORT (8765), POS_MPESA_DEMO_DB (pos_mpesa_demo),
RESET=1 (drop and recreate the demo database), ODOO_SRC (build the runtime from this checkout).
"""

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import demo
import pg as pgmod
import runtime as rt
from common import MODULE, REPO, ToolError, fail, main_guard, port_free, say, tree_fingerprint
from odoo_exec import Odoo, logs_dir, print_tail
from odoo_log import RECORD
from templates import ensure_template

STAMP_KEY = "pos_mpesa.make_run_stamp"  # ir.config_parameter: module fingerprint of the last install/update


def _stamp(odoo, db) -> str | None:
    rows = odoo.pg.query(
        f"SELECT value FROM ir_config_parameter WHERE key = {pgmod.quote_literal(STAMP_KEY)}", db=db
    )
    return rows[0] if rows else None


def _set_stamp(odoo, db, value) -> None:
    odoo.pg.psql(
        "INSERT INTO ir_config_parameter (key, value, create_uid, write_uid, create_date, write_date) "
        f"VALUES ({pgmod.quote_literal(STAMP_KEY)}, {pgmod.quote_literal(value)}, 1, 1, now(), now()) "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, write_date = now()",
        db=db,
    )


def _install(odoo, db, flag) -> None:
    rc, log = odoo.run_logged(
        db,
        [flag, MODULE, "--stop-after-init", "--max-cron-threads=0"],
        f"run-{'install' if flag == '-i' else 'update'}",
    )
    if rc != 0:
        print_tail(log)
        fail(f"{'installing' if flag == '-i' else 'updating'} {MODULE} on {db} failed; log: {log}")


def _point_demo_at_simulator(odoo, db, sim_url, odoo_url=None) -> None:
    """The demo M-Pesa accounts use this run's simulator (SIM_PORT) and Odoo (ODOO_PORT).
    Done on every run, before Odoo starts: another port needs no module update."""
    port = os.environ.get("ODOO_PORT") or "8069"
    try:
        demo.point_at(odoo.pg, db, sim_url, odoo_url or f"http://127.0.0.1:{port}")
    except ToolError as exc:
        say(f"WARNING: could not point the demo M-Pesa accounts at {sim_url}: {exc}")


def prepare_database(odoo, db, sim_url, odoo_url=None) -> None:
    # The module's files (not the tooling): when they did not change, nothing to update.
    fingerprint = tree_fingerprint(REPO, skip_dirs=("tools", "node_modules", "__pycache__"))[:16]
    if os.environ.get("RESET") == "1" and odoo.pg.exists(db):
        say(f"RESET=1: dropping {db}")
        odoo.drop_db(db)
    if not odoo.pg.exists(db):
        template = ensure_template(odoo, demo=True)
        say(f"creating {db}: Point of Sale with demo data + {MODULE} (about a minute)")
        odoo.copy_db(template, db)
        try:
            _install(odoo, db, "-i")
        except BaseException:
            odoo.drop_db(db)  # a half-installed database would look ready next time
            raise
        _set_stamp(odoo, db, fingerprint)
    elif _stamp(odoo, db) == fingerprint:
        say(f"{db} is up to date")
    else:
        say(f"updating {MODULE} on {db} (the module changed since the last run)")
        _install(odoo, db, "-u")
        _set_stamp(odoo, db, fingerprint)
    _point_demo_at_simulator(odoo, db, sim_url, odoo_url)


def _pos_config_id(odoo, db) -> str | None:
    rows = odoo.pg.query(
        "SELECT res_id FROM ir_model_data WHERE module = 'point_of_sale' AND name = 'pos_config_main'", db=db
    )
    return rows[0] if rows else None


def _echo_warnings(stream, log_file):
    """Copy Odoo's output to its log; show warnings and errors on the terminal."""
    show = False
    with log_file:
        for line in stream:
            log_file.write(line)
            log_file.flush()
            match = RECORD.match(line)
            if match:
                show = match["level"] in ("WARNING", "ERROR", "CRITICAL")
            if show:
                sys.stdout.write("odoo| " + line)


def _wait_http(url, procs, timeout=180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for name, proc in procs:
            if proc.poll() is not None:
                fail(f"{name} stopped during start-up (exit {proc.returncode}); see the output above")
        try:
            with urllib.request.urlopen(url, timeout=5):  # noqa: S310 (loopback)
                return
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    fail(f"{url} did not answer within {timeout} s")


def _stop(procs) -> None:
    for name, proc in procs:
        if proc.poll() is None:
            # the simulator stops on SIGTERM (SIGINT may be ignored when make run itself was started
            # in the background); Odoo shuts down gracefully on either
            proc.send_signal(signal.SIGTERM if name == SIM_NAME else signal.SIGINT)
    for name, proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop in 20 s: killing it")
            proc.kill()
            proc.wait()
    if procs:
        say("stopped Odoo and the simulator")


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


SIM_NAME = "the simulator"
SIM_RESTARTS = 3  # restarts within SIM_RESTART_WINDOW seconds before make run gives up
SIM_RESTART_WINDOW = 60
REGISTRATION_CHECK_EVERY = 5  # seconds


class Simulator:
    """The simulator make run owns: restarted when it stops; the demo accounts' C2B URLs registered on
    it at start-up and again whenever it has forgotten them (a restart, or /__sim__/reset)."""

    def __init__(self, port, odoo_url, db, accounts, procs):
        self.port, self.odoo_url, self.db, self.accounts, self.procs = port, odoo_url, db, accounts, procs
        self.url = f"http://127.0.0.1:{port}"
        self.proc = None
        self.restarts = []
        self.failed = set()  # shortcodes whose registration failed: not retried until a restart
        self.next_check = 0.0

    def start(self):
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daraja_simulator",
                "--port",
                str(self.port),
                "--callback-delay",
                "3",
                "--odoo-url",
                self.odoo_url,
            ],
            cwd=REPO,
            start_new_session=True,
        )
        self.procs[:] = [(n, p) for n, p in self.procs if n != SIM_NAME] + [(SIM_NAME, self.proc)]
        self.failed.clear()

    def register(self, accounts, why="") -> None:
        """Each account's own Register action in Odoo (as admin), which calls the simulator's registerurl."""
        for shortcode, error in demo.register_c2b(self.odoo_url, self.db, accounts).items():
            account = next(a for a in accounts if a.c2b_shortcode == shortcode)
            if error is None:
                say(f"C2B URLs of {account.name} (shortcode {shortcode}) registered on the simulator{why}")
            else:
                self.failed.add(shortcode)
                say(
                    f"WARNING: could not register the C2B URLs of {account.name} (shortcode {shortcode}): "
                    f"{error}. Register them with the account's button: Point of Sale > Configuration > "
                    "M-Pesa Accounts > Register C2B Callback URLs"
                )

    def watch(self) -> None:
        """Called every second while make run waits."""
        if self.proc.poll() is not None:
            now = time.time()
            self.restarts = [t for t in self.restarts if now - t < SIM_RESTART_WINDOW] + [now]
            if len(self.restarts) > SIM_RESTARTS:
                fail(
                    f"the simulator stopped {len(self.restarts)} times within a minute; see its output above"
                )
            say(f"the simulator stopped (exit {self.proc.returncode}): starting it again")
            self.start()
            _wait_http(f"{self.url}/", self.procs, timeout=30)
            self.register(self.accounts, why=" again (new simulator)")
            self.next_check = time.time() + REGISTRATION_CHECK_EVERY
            return
        if time.time() < self.next_check:
            return
        self.next_check = time.time() + REGISTRATION_CHECK_EVERY
        try:
            missing = [
                a for a in demo.unregistered(self.url, self.accounts) if a.c2b_shortcode not in self.failed
            ]
        except OSError:
            return  # busy or restarting: next time
        if missing:
            self.register(missing, why=" again (the simulator had forgotten them)")


def _xmlid_res_id(odoo, db, module, name) -> str | None:
    rows = odoo.pg.query(
        "SELECT res_id FROM ir_model_data "
        f"WHERE module = {pgmod.quote_literal(module)} AND name = {pgmod.quote_literal(name)}",
        db=db,
    )
    return rows[0] if rows else None


def _try_it(odoo, db, odoo_url, accounts) -> list[str]:
    """One line per flow: what to do, with the numbers to type."""
    pos_url = f"{odoo_url}/pos/ui?config_id="
    lines = []
    paybill = next((a for a in accounts if a.xmlid == "mpesa_config_demo"), None)
    till = next((a for a in accounts if a.xmlid == "mpesa_config_demo_till"), None)
    if paybill:
        lines.append(
            "  STK    POS: a product > Payment > M-Pesa > toggle ON > Validate > phone 0712345600 "
            "(paid at once; ...01 cancels, other numbers wait for the PIN on the phone page)"
        )
        lines.append(
            f"  C2B    phone page: pay 100 to paybill {paybill.c2b_shortcode}; then POS: M-Pesa for 100, "
            "toggle OFF > Validate > pick the payment > Confirm"
        )
    bakery = _xmlid_res_id(odoo, db, "point_of_sale", "pos_config_bakery")
    if till and bakery:
        lines.append(
            f"  Till   {pos_url}{bakery} (Bakery Shop), method M-Pesa Till: the same flows, "
            f"C2B to till {till.c2b_shortcode}"
        )
    return lines


def main():
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops everything like Ctrl-C does
    odoo_port = int(os.environ.get("ODOO_PORT") or 8069)
    sim_port = int(os.environ.get("SIM_PORT") or 8765)
    db = os.environ.get("POS_MPESA_DEMO_DB") or f"{MODULE}_demo"
    for port, var in ((odoo_port, "ODOO_PORT"), (sim_port, "SIM_PORT")):
        if not port_free(port):
            fail(f"port {port} is already in use; choose another: make run {var}={port + 1}")
    odoo_url, sim_url = f"http://127.0.0.1:{odoo_port}", f"http://127.0.0.1:{sim_port}"

    runtime = rt.ensure()
    pg = pgmod.connect()
    odoo, procs = None, []
    try:
        say(f"PostgreSQL: {pg}")
        odoo = Odoo(runtime, pg)
        prepare_database(odoo, db, sim_url, odoo_url)
        accounts = demo.demo_accounts(pg, db)

        sim = Simulator(sim_port, odoo_url, db, accounts, procs)
        sim.start()
        log_path = logs_dir() / "run-odoo.log"
        server = subprocess.Popen(
            odoo.command(db, "--max-cron-threads=1", http_port=odoo_port),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=pg.env(),
            cwd=str(odoo.addons_dir),
            start_new_session=True,
        )
        procs.append(("Odoo", server))
        log_file = open(log_path, "w")  # noqa: SIM115 (the copying thread closes it at Odoo's exit)
        copier = threading.Thread(target=_echo_warnings, args=(server.stdout, log_file), daemon=True)
        copier.start()
        _wait_http(f"{odoo_url}/web/login", procs)
        _wait_http(f"{sim_url}/", procs, timeout=30)
        sim.register(accounts)
        sim.next_check = time.time() + REGISTRATION_CHECK_EVERY

        config_id = _pos_config_id(odoo, db)
        pos = f"{odoo_url}/pos/ui?config_id={config_id}" if config_id else f"{odoo_url}/odoo/point-of-sale"
        try_it = "\n".join(_try_it(odoo, db, odoo_url, accounts))
        print(
            f"""
==================== pos_mpesa is running ====================
  Odoo        {odoo_url}/odoo        login: admin / password: admin   (database {db})
  POS         {pos}
  Phone page  {sim_url}/   (the simulated customer's phone: enter the PIN or cancel)
  M-Pesa      Point of Sale > Configuration > M-Pesa Accounts (demo accounts on the simulator)
  Odoo log    {log_path}
 Try it:
{try_it}
  Ctrl-C stops Odoo and the simulator{" and the private PostgreSQL" if pg.private else ""}.
==============================================================
""",
            flush=True,
        )
        while True:
            if server.poll() is not None:
                fail(f"Odoo stopped unexpectedly (exit {server.returncode})")
            sim.watch()
            time.sleep(1)
    except KeyboardInterrupt:
        print()
    finally:
        _stop(procs)
        if odoo:
            odoo.close()
        pg.close()
    return 0


if __name__ == "__main__":
    main_guard(main)
