"""Fixtures: a simulator on a loopback port, a callback receiver, a raw Daraja caller; no thread leaks."""

import sys
import threading
import time
import types
from pathlib import Path

import pytest
from sim_helpers import Daraja, Receiver

from daraja_simulator import SimulatorServer

# The repo root is the Odoo module: pytest imports its __init__.py (which imports odoo) as the parent
# package of daraja_simulator. Stand in an empty package for it so this suite runs without Odoo.
_ROOT = Path(__file__).resolve().parents[2]
if (_ROOT / "__init__.py").exists() and _ROOT.name not in sys.modules:
    _stub = types.ModuleType(_ROOT.name)
    _stub.__file__ = str(_ROOT / "__init__.py")
    _stub.__path__ = [str(_ROOT)]
    sys.modules[_ROOT.name] = _stub


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not set(threading.enumerate()) - before, "threads leaked"


@pytest.fixture
def receiver():
    rec = Receiver()
    yield rec
    rec.stop()


@pytest.fixture
def sim():
    server = SimulatorServer(callback_delay=0).start()
    yield server
    server.stop()


@pytest.fixture
def daraja(sim):
    client = Daraja(sim.base_url)
    yield client
    client.http.close()
