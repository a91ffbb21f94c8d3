"""HTTP layer: routing Daraja's paths, the control API and the phone page; start/stop.

An outage (POST /__sim__/down {"seconds": N}, see SimulatorServer.go_down): the answer to that request is
sent, then the listening socket is closed, so new connections are refused (ECONNREFUSED); a request that
arrives meanwhile on a connection opened before gets no answer (the connection is closed). After N
seconds the simulator listens again on the same host and port by itself. Its state (transactions,
payments, tokens, options) is kept, and scheduled callbacks and results are still delivered meanwhile.
"""

import contextlib
import html
import logging
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from .c2b import C2BService
from .control import ControlApi
from .delivery import Deliverer, Scheduler
from .http_types import ApiError, Request, Response
from .oauth import C2B_FAMILY, STK_FAMILY, generate
from .qr import QrService
from .records import RecordsService
from .state import Options, SimulatorState
from .stk import StkService

_logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
_DRAIN_LIMIT = 1024 * 1024
_C2B_PATH = re.compile(r"^/mpesa/c2b/(v1|v2)/(registerurl|simulate)$")
_PAGE = Path(__file__).with_name("phone_page.html")


class _HttpServer(ThreadingHTTPServer):
    # Non-daemon request threads are tracked, so server_close() joins them: stop() leaks nothing.
    daemon_threads = False


class _Handler(BaseHTTPRequestHandler):
    server_version = "DarajaSimulator/1.0"
    timeout = 15  # a silent client cannot hold a thread (or stop()) for long

    def do_GET(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def do_PUT(self):
        self._serve()

    def do_DELETE(self):
        self._serve()

    def log_message(self, format, *args):
        _logger.debug("%s " + format, self.address_string(), *args)

    def _serve(self):
        app = self.server.app
        response = self._read_request()
        if app.state.down.is_set():  # a connection opened before the outage: no answer either
            response = None
        elif isinstance(response, Request):
            try:
                response = app.dispatch(response)
            except ApiError as exc:
                response = exc.response()
            except Exception:
                _logger.exception("simulator request failed")
                response = ApiError(500, "500.003.1001", "Internal Server Error").response()
        if response is None:  # no answer at all ("no_answer", or the simulator is down)
            self.close_connection = True
            return
        self._write(response)
        if response.after is not None:
            self.close_connection = True
            self.wfile.flush()
            response.after()

    def _read_request(self):
        """The parsed request, or an error Response when the body is refused (too big, chunked)."""
        payload_error = ApiError(400, "400.002.05", "Invalid Request Payload").response()
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            return payload_error
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            if 0 < length <= _DRAIN_LIMIT:  # read it, so the client sees the 400 rather than a reset
                self.rfile.read(length)
            return payload_error
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        return Request(self.command, parts.path, dict(parse_qsl(parts.query)), headers, body)

    def _write(self, response: Response):
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


class _App:
    """Wires the services together and routes a Request to one of them."""

    def __init__(self, state: SimulatorState, odoo_url: str | None):
        self.state = state
        self.odoo_url = odoo_url
        self.scheduler = Scheduler()
        self.deliverer = Deliverer(state)
        self.c2b = C2BService(state, self.scheduler, self.deliverer)
        self.stk = StkService(state, self.scheduler, self.deliverer, self.c2b)
        self.records = RecordsService(state, self.scheduler, self.deliverer)
        self.qr = QrService(state, self.c2b)
        self.routes = {
            "/mpesa/stkpush/v1/processrequest": ("stk_push", self.stk.push),
            "/mpesa/stkpushquery/v1/query": ("stk_query", self.stk.query),
            "/mpesa/transactionstatus/v1/query": ("transaction_status", self.records.transaction_status),
            "/mpesa/reversal/v1/request": ("reversal", self.records.reversal),
            "/pulltransactions/v1/register": ("pull_register", self.records.pull_register),
            "/pulltransactions/v1/query": ("pull_query", self.records.pull_query),
            "/mpesa/qrcode/v1/generate": ("qr", self.qr.generate),
        }
        self.control = ControlApi(state, self.stk, self.c2b, self.deliverer, self.scheduler, self.qr)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/__sim__/"):
            return self.control.handle(request, path[len("/__sim__/") :])
        if path in ("/", "/phone"):
            if request.method != "GET":
                raise ApiError(405, "405.001", "Method Not Allowed")
            return self.phone_page()
        if path == "/oauth/v1/generate":
            return self._with_fault("oauth", request, lambda req: generate(self.state, req))
        api, handler = self.routes.get(path, (None, None))
        if handler is None:
            match = _C2B_PATH.match(path)
            if match:
                version, action = match.groups()
                service = self.c2b.register if action == "registerurl" else self.c2b.simulate
                api = "c2b_register" if action == "registerurl" else "c2b_simulate"
                return self._post_only(
                    request, lambda req: self._with_fault(api, req, lambda r: service(r, version))
                )
        if handler is None:
            raise ApiError(404, "404.001.01", "Resource not found")
        return self._post_only(request, lambda req: self._with_fault(api, req, handler))

    def _with_fault(self, api: str, request: Request, handler) -> Response | None:
        """The handler's answer, unless the fault options (state.FAULTS) say this request fails
        (None: no answer at all)."""
        self.state.count_request(api)
        fault = self.state.take_fault(api)
        if fault is None:
            return handler(request)
        options = self.state.options
        if fault == "no_answer":
            return self._no_answer(request, handler, options.fault_processed)
        if fault == "hang":
            response = handler(request)
            self.state.stopping.wait(options.fault_hang_seconds)
            return response
        if fault == "spike_arrest":  # refused before any work, like a rate limit
            return ApiError(500, "500.003.02", "Error Occurred: Spike Arrest Violation").response()
        if fault == "token_invalidated":
            with self.state.lock:
                self.state.tokens.clear()
            family = STK_FAMILY if api.startswith("stk") else C2B_FAMILY
            if api == "oauth":  # a fresh token is issued, then dies at once
                return handler(request)
            return family.response()
        if options.fault_processed:
            # the work is done (a prompt sent, URLs registered), only the answer is lost: ambiguous
            with contextlib.suppress(ApiError):
                handler(request)
        return _FAULT_RESPONSES[fault]()

    def _no_answer(self, request: Request, handler, processed: bool) -> None:
        """Hold this request (its own thread) until "no_answer" is switched off or the simulator stops."""
        if processed:
            with contextlib.suppress(ApiError):
                handler(request)
        with self.state.lock:
            self.state.held += 1
        try:
            while not self.state.no_answer_over():
                self.state.stopping.wait(0.05)
        finally:
            with self.state.lock:
                self.state.held -= 1

    @staticmethod
    def _post_only(request, handler) -> Response:
        # Every M-Pesa API is POST; only OAuth is GET (docs/daraja.md, "Hosts and paths").
        if request.method != "POST":
            raise ApiError(405, "405.001", "Method Not Allowed")
        return handler(request)

    def phone_page(self) -> Response:
        link = ""
        if self.odoo_url:
            url = html.escape(self.odoo_url, quote=True)
            link = f'<a class="odoo" href="{url}" target="_blank" rel="noopener">Open Odoo</a>'
        page = _PAGE.read_text(encoding="utf-8").replace("<!--ODOO_LINK-->", link)
        return Response(200, page.encode("utf-8"), content_type="text/html; charset=utf-8")


def _html(status: int, title: str) -> Response:
    page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
    return Response(status, page.encode(), content_type="text/html")


_FAULT_RESPONSES = {
    "http_500": lambda: ApiError(500, "500.003.1001", "Internal Server Error").response(),
    "http_503": lambda: _html(503, "503 Service Unavailable"),
    "empty_body": lambda: Response(200, b"", content_type="application/json"),
    "html_body": lambda: _html(200, "Apigee SPA Proxy"),
}


class SimulatorServer:
    """A local Daraja: `SimulatorServer(port=0).start()`, then use `.base_url`; `.stop()` joins everything."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        callback_delay: float = 0.0,
        *,
        odoo_url: str | None = None,
        clock=None,
        **options,
    ):
        opts = Options(callback_delay=float(callback_delay), **options)
        opts.check()
        self.host = host
        self.port = port
        self.state = SimulatorState(opts, clock=clock or time.time)
        self._app = _App(self.state, odoo_url)
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        # the outage: a lock for going down and up, and the thread that listens again
        self._outage_lock = threading.Lock()
        self._reopen_at = 0.0
        self._reopener: threading.Thread | None = None
        self._app.control.go_down = self.go_down

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("The simulator is not started")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    @property
    def options(self) -> Options:
        return self.state.options

    def start(self) -> "SimulatorServer":
        if self._httpd is not None:
            raise RuntimeError("The simulator is already started")
        httpd = _HttpServer((self.host, self.port), _Handler)
        httpd.app = self._app
        self.state.stopping.clear()
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self.state.down.clear()
        self._app.scheduler.start()
        self._serve()
        return self

    def _serve(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="daraja-sim-http", daemon=True
        )
        self._thread.start()

    @property
    def is_down(self) -> bool:
        return self.state.down.is_set()

    def go_down(self, seconds: float) -> None:
        """Close the listening socket now and listen again on the same port after `seconds`; while it is
        closed, connections are refused. Called again while down: the port reopens `seconds` from now."""
        with self._outage_lock:
            if self._httpd is None or self.state.stopping.is_set():
                return
            self._reopen_at = time.monotonic() + seconds
            if self.state.down.is_set():
                return
            self._httpd.shutdown()  # the accept loop ends (never called from its own thread)
            self._thread.join()
            self._httpd.socket.close()
            self.state.down.set()  # is_down: connections are refused from now on
            self._reopener = threading.Thread(
                target=self._reopen_later, name="daraja-sim-reopen", daemon=True
            )
            self._reopener.start()

    def up(self) -> None:
        """End an outage now (the port is listening again within a tenth of a second)."""
        with self._outage_lock:
            self._reopen_at = 0.0

    def _reopen_later(self) -> None:
        while True:
            with self._outage_lock:
                if self.state.stopping.is_set():
                    return
                left = self._reopen_at - time.monotonic()
                if left <= 0:
                    try:
                        self._listen_again()
                    except OSError as exc:  # the port is taken meanwhile: try again shortly
                        _logger.warning("simulator: cannot listen again on port %s: %s", self.port, exc)
                        left = 0.5
                    else:
                        self.state.down.clear()
                        self._reopener = None
                        return
            self.state.stopping.wait(min(max(left, 0.01), 0.1))

    def _listen_again(self) -> None:
        httpd = self._httpd
        sock = socket.socket(httpd.address_family, httpd.socket_type)
        httpd.socket = sock
        try:
            httpd.server_bind()  # SO_REUSEADDR: the same host and port at once
            httpd.server_activate()
        except OSError:
            sock.close()
            raise
        self._serve()

    def stop(self) -> None:
        if self._httpd is None:
            return
        self.state.stopping.set()  # ends any deliberately slow answer now, and any outage
        with self._outage_lock:  # a going down or up in progress ends first
            reopener = self._reopener
        if reopener is not None:
            reopener.join()
            self._reopener = None
        self._app.scheduler.stop()
        self._httpd.shutdown()  # returns at once when down (the accept loop already ended)
        self._httpd.server_close()  # joins the request threads
        self._thread.join()
        self._httpd = None
        self._thread = None
        self.state.down.clear()

    def reset(self) -> None:
        self._app.scheduler.clear()
        self.state.reset()

    def __enter__(self) -> "SimulatorServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
