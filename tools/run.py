"""`make run`: a working POS with M-Pesa on this machine, without a Safaricom account.

Finds or builds the Odoo runtime, finds or starts PostgreSQL, creates (from the cached demo template)
or updates the demo database, starts the Daraja simulator and Odoo, prints the URLs, and stops what
it started on Ctrl-C. Nothing is reinstalled on a second run when the module did not change.

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

import pg as pgmod
import runtime as rt
from common import MODULE, REPO, fail, main_guard, port_free, say, tree_fingerprint
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


def _point_demo_at_simulator(odoo, db, sim_url) -> None:
    """HOOK (demo data lives in data/mpesa_demo.xml, owned by the backend): the demo M-Pesa account
    `pos_mpesa.mpesa_config_demo` points at http://127.0.0.1:8765; another SIM_PORT needs its URL changed.
    Odoo is not running at this point, so a plain UPDATE is safe."""
    proc = odoo.pg.psql(
        f"UPDATE mpesa_config SET simulator_url = {pgmod.quote_literal(sim_url)} "
        f"WHERE simulator_url IS DISTINCT FROM {pgmod.quote_literal(sim_url)} "
        "AND id IN (SELECT res_id FROM ir_model_data "
        "           WHERE module = 'pos_mpesa' AND name = 'mpesa_config_demo')",
        db=db,
        check=False,
    )
    if proc.returncode:
        say(f"WARNING: could not point the demo M-Pesa account at {sim_url}: {proc.stderr.strip()}")


def prepare_database(odoo, db, sim_url) -> None:
    # The module's files (not the tooling) and the simulator URL: when both match, nothing to update.
    module = tree_fingerprint(REPO, skip_dirs=("tools", "node_modules", "__pycache__"))
    fingerprint = f"{module[:16]}|{sim_url}"
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
    elif _stamp(odoo, db) == fingerprint:
        say(f"{db} is up to date")
        return
    else:
        say(f"updating {MODULE} on {db} (the module changed since the last run)")
        _install(odoo, db, "-u")
    _point_demo_at_simulator(odoo, db, sim_url)
    _set_stamp(odoo, db, fingerprint)


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
    for _name, proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
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
        prepare_database(odoo, db, sim_url)

        sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daraja_simulator",
                "--port",
                str(sim_port),
                "--callback-delay",
                "3",
                "--odoo-url",
                odoo_url,
            ],
            cwd=REPO,
            start_new_session=True,
        )
        procs.append(("the simulator", sim))
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

        config_id = _pos_config_id(odoo, db)
        pos = f"{odoo_url}/pos/ui?config_id={config_id}" if config_id else f"{odoo_url}/odoo/point-of-sale"
        print(
            f"""
==================== pos_mpesa is running ====================
  Odoo        {odoo_url}/odoo        login: admin / password: admin   (database {db})
  POS         {pos}
  Phone page  {sim_url}/   (the simulated customer's phone: enter the PIN or cancel)
  M-Pesa      Point of Sale > Configuration > M-Pesa Accounts (demo account on the simulator)
  Odoo log    {log_path}
  Ctrl-C stops Odoo and the simulator{" and the private PostgreSQL" if pg.private else ""}.
==============================================================
""",
            flush=True,
        )
        while all(proc.poll() is None for _name, proc in procs):
            time.sleep(1)
        for name, proc in procs:
            if proc.returncode is not None:
                fail(f"{name} stopped unexpectedly (exit {proc.returncode})")
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
