"""Pure parts of tools/prefork_tours.py: the front proxy's routing, the tour selection and code, the
skip without Chromium.
PYTHONPATH=tools ~/.cache/pos_mpesa/dev-venv/bin/pytest tools/tests -p pytest_repo_root"""

import argparse
import contextlib
import json
import socket
import threading

import prefork_tours as pt
import pytest
from common import REPO, ToolError

WS_HEAD = (
    b"GET /websocket?version=19.0-2 HTTP/1.1\r\nHost: 127.0.0.1:8069\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: x\r\n\r\n"
)


def test_websocket_upgrade_detected():
    assert pt.is_websocket_upgrade(WS_HEAD)
    assert pt.is_websocket_upgrade(WS_HEAD.replace(b"Upgrade: websocket", b"upgrade:  WebSocket"))
    assert not pt.is_websocket_upgrade(b"GET /websocket/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert not pt.is_websocket_upgrade(WS_HEAD.replace(b"GET /websocket", b"GET /web/websocket"))
    assert not pt.is_websocket_upgrade(b"POST /mpesa/stk_push HTTP/1.1\r\nUpgrade: websocket\r\n\r\n")
    assert not pt.is_websocket_upgrade(b"garbage\r\n\r\n")


class Backend:
    """A one-answer-per-connection server that says who it is (and 101 to an upgrade)."""

    def __init__(self, name):
        self.name = name
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.heads = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                self.heads.append(head)
                status = b"101 Switching Protocols" if b"Upgrade" in head else b"200 OK"
                body = self.name.encode()
                conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    def close(self):
        self.sock.close()


def _ask(port, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        return answer


def test_front_proxy_routes_websocket_to_gevent():
    http, gevent = Backend("http"), Backend("gevent")
    try:
        with pt.FrontProxy(http.port, gevent.port) as proxy:
            assert _ask(proxy.port, b"GET /pos/ui/1 HTTP/1.1\r\nHost: h\r\n\r\n").endswith(b"http")
            answer = _ask(proxy.port, WS_HEAD)
            assert answer.startswith(b"HTTP/1.1 101") and answer.endswith(b"gevent")
            assert _ask(proxy.port, b"GET /websocket/health HTTP/1.1\r\nHost: h\r\n\r\n").endswith(b"http")
            # an idle pre-connection opens nothing upstream
            with contextlib.closing(socket.create_connection(("127.0.0.1", proxy.port))):
                pass
            assert proxy.counts == {"http": 2, "websocket": 1, "upgraded": 1}
        assert gevent.heads == [WS_HEAD]  # forwarded untouched (Host and Origin kept)
    finally:
        http.close()
        gevent.close()


def _args(**kw):
    return argparse.Namespace(**{"quick": False, "only": "", **kw})


def test_tour_selection_keeps_the_safe_order():
    names = [t.name for t in pt.select_tours(_args())]
    assert len(names) == len(pt.TOURS) == len(set(names))
    # no unclaimed 100 KES payment may be left before NoneFound; WithoutMatching leaves one: last
    assert names.index("PosMpesaC2bNoneFoundTour") < names.index("PosMpesaC2bWithoutMatchingTour")
    assert names[-1] == "PosMpesaC2bWithoutMatchingTour"
    quick = [t.name for t in pt.select_tours(_args(quick=True))]
    assert set(quick) == set(pt.QUICK) and any("Stk" in n for n in quick) and any("C2b" in n for n in quick)
    only = pt.select_tours(_args(only="PosMpesaC2bOneFoundTour, PosMpesaStkPaidTour"))
    assert [t.name for t in only] == ["PosMpesaStkPaidTour", "PosMpesaC2bOneFoundTour"]
    with pytest.raises(ToolError, match="unknown tour"):
        pt.select_tours(_args(only="NoSuchTour"))


def test_tours_exist_in_the_tour_files():
    sources = "".join(p.read_text() for p in (REPO / "static" / "tests" / "tours").glob("*.js"))
    for tour in pt.TOURS:
        assert f'.add("{tour.name}"' in sources


def test_tour_code_raises_the_default_step_timeout():
    code = pt.tour_code("PosMpesaStkPaidTour", "/pos/ui/3", 30000)
    assert '.get("PosMpesaStkPaidTour").timeout = 30000;' in code
    options = json.loads(code.split('odoo.startTour("PosMpesaStkPaidTour", ', 1)[1].split(");", 1)[0])
    assert options["startUrl"] == "/pos/ui/3" and options["stepDelay"] == 0


def test_c2b_body_like_the_python_test():
    body = pt.c2b_body("RKL51ZDR4F", "CAROL WANJIKU", msisdn="254722000003")
    assert (body["TransID"], body["TransAmount"]) == ("RKL51ZDR4F", "100.00")
    assert body["BusinessShortCode"] == "600984"
    assert (body["FirstName"], body["LastName"], body["MSISDN"]) == ("CAROL", "WANJIKU", "254722000003")
    assert len(body["TransTime"]) == 14 and body["TransTime"].isdigit()


def test_skipped_without_chromium(monkeypatch, capsys):
    monkeypatch.setattr(pt, "which_browser", lambda: None)
    monkeypatch.setattr("sys.argv", ["prefork_tours.py", "--quick"])
    assert pt.main() == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"0 passed, 0 failed, {len(pt.QUICK)} skipped"
    assert all(line.startswith("SKIP ") for line in out[:-1])
