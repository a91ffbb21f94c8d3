"""HTTP layer: phone page, body limits, unknown paths, clean start/stop, and the command line."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from sim_helpers import Daraja

from daraja_simulator import SimulatorServer

ROOT = Path(__file__).resolve().parents[2]


def test_phone_page(daraja):
    r = daraja.http.get(f"{daraja.base}/", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    page = r.text
    for needed in (
        "STK prompts on this phone",
        "Pay a till or paybill (C2B)",
        "Recent transactions",
        "/__sim__/transactions",
        "1234",
        "0000",
    ):
        assert needed in page
    assert "Open Odoo" not in page


def test_phone_page_links_odoo_escaped():
    with SimulatorServer(odoo_url='http://localhost:8069/pos/ui?x="><script>') as sim:
        page = requests.get(f"{sim.base_url}/", timeout=5).text
        assert 'href="http://localhost:8069/pos/ui?x=&quot;&gt;&lt;script&gt;"' in page


def test_body_over_64_kib_refused(daraja):
    body = b'{"a": "' + b"x" * (64 * 1024) + b'"}'
    r = daraja.http.post(
        f"{daraja.base}/mpesa/stkpush/v1/processrequest",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {daraja.token()}"},
        timeout=5,
    )
    assert r.status_code == 400
    assert r.json()["errorCode"] == "400.002.05"
    r = daraja.http.post(f"{daraja.base}/__sim__/c2b/pay", data=body, timeout=5)
    assert r.status_code == 400


def test_chunked_body_refused(daraja):
    r = daraja.http.post(f"{daraja.base}/__sim__/reset", data=iter([b"{}"]), timeout=5)
    assert r.status_code == 400


def test_unknown_path(daraja):
    r = daraja.http.post(f"{daraja.base}/mpesa/b2c/v1/paymentrequest", json={}, timeout=5)
    assert r.status_code == 404
    assert (r.json()["errorCode"], r.json()["errorMessage"]) == ("404.001.01", "Resource not found")
    assert daraja.http.get(f"{daraja.base}/mpesa/c2b/v3/registerurl", timeout=5).status_code == 404


def test_stop_frees_port_and_threads():
    before = set(threading.enumerate())
    sim = SimulatorServer()
    with pytest.raises(RuntimeError):
        sim.base_url  # noqa: B018 - not started yet
    sim.start()
    assert sim.host == "127.0.0.1"
    with pytest.raises(RuntimeError):
        sim.start()
    requests.get(f"{sim.base_url}/__sim__/transactions", timeout=5)
    port = sim.port
    sim.stop()
    sim.stop()  # idempotent
    assert set(threading.enumerate()) == before
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_stop_with_a_pending_delayed_callback():
    with SimulatorServer(callback_delay=30) as sim:
        Daraja(sim.base_url).push("254712345600")
    # leaving the block must not wait 30 s, and no thread is left (checked by the autouse fixture)


def test_command_line_starts_and_stops():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "daraja_simulator", "--port", "0", "--callback-delay", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        banner = ""
        while "Ctrl-C" not in banner:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            banner += line
        base = re.search(r"Base URL.*: (http://127\.0\.0\.1:[0-9]+)", banner).group(1)
        assert "sim-consumer-key" in banner and "sim-consumer-secret" in banner
        assert "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919" in banner
        assert requests.get(f"{base}/", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()
        proc.stderr.close()


def run_cli(*args):
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "daraja_simulator", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=20,
    )


def test_command_line_refuses_bad_port():
    r = run_cli("--port", "99999")
    assert r.returncode == 2
    assert "a port is 0..65535" in r.stderr


def test_command_line_port_in_use():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = run_cli("--port", str(busy.getsockname()[1]))
    assert r.returncode == 1
    assert "cannot start" in r.stderr


def test_deeply_nested_json_is_a_payload_error(daraja):
    r = daraja.http.post(
        f"{daraja.base}/mpesa/stkpush/v1/processrequest",
        data=b"[" * 60000,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {daraja.token()}"},
        timeout=5,
    )
    assert (r.status_code, r.json()["errorCode"]) == (400, "400.002.05")
