"""The bench's clients (stdlib only): timed HTTP/JSON-RPC calls, a websocket bus client subscribed like
the POS, a recording proxy in front of the Daraja simulator, percentiles and process memory."""

import base64
import contextlib
import hashlib
import http.client
import json
import os
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

TIMEOUT = 60  # seconds: any single request of the bench


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------------------------- HTTP


def request(url, body=None, headers=None, method="POST", timeout=TIMEOUT):
    """One request on a fresh connection (as Safaricom and a till's browser tab do):
    (status, body bytes, response headers, seconds from connect to the last byte)."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        elapsed = time.perf_counter() - t0
        return resp.status, data, resp.headers, elapsed
    finally:
        conn.close()


def post_json(url, payload, headers=None):
    body = json.dumps(payload).encode()
    return request(url, body, {"Content-Type": "application/json", **(headers or {})})


class Session:
    """A logged-in Odoo user (session cookie) calling type='jsonrpc' routes."""

    def __init__(self, base_url, db, login, password):
        self.base_url, self.db, self.login = base_url, db, login
        status, data, headers, _ = post_json(
            f"{base_url}/web/session/authenticate",
            {"jsonrpc": "2.0", "method": "call", "params": {"db": db, "login": login, "password": password}},
        )
        answer = json.loads(data or b"{}")
        if status != 200 or answer.get("error") or not (answer.get("result") or {}).get("uid"):
            raise BenchError(f"login {login} failed: HTTP {status} {data[:300]!r}")
        self.uid = answer["result"]["uid"]
        cookies = headers.get_all("Set-Cookie") or []
        sid = [c.split(";", 1)[0] for c in cookies if c.startswith("session_id=")]
        if not sid:
            raise BenchError(f"login {login}: no session cookie")
        self.cookie = sid[-1]
        self.session_id = self.cookie.split("=", 1)[1]

    def call(self, path, params=None, headers=None):
        """(result, seconds); a JSON-RPC error raises."""
        payload = {"jsonrpc": "2.0", "method": "call", "id": 1, "params": params or {}}
        headers = {"Cookie": self.cookie, **(headers or {})}
        status, data, _h, elapsed = post_json(f"{self.base_url}{path}", payload, headers)
        if status != 200:
            raise BenchError(f"{path}: HTTP {status} {data[:300]!r}")
        answer = json.loads(data)
        if "error" in answer:
            error = answer["error"]
            detail = (error.get("data") or {}).get("message") or error.get("message")
            raise BenchError(f"{path}: {detail}")
        return answer.get("result"), elapsed


# ----------------------------------------------------------------------------------------- websocket


class BusClient:
    """Odoo's bus over a websocket, subscribed like the POS (its pos.config access token as channel).

    A minimal RFC 6455 client: text frames, ping/pong, close. Every notification is kept with the
    time.time() it arrived: [(received_at, notification)]."""

    def __init__(self, ws_url, cookie, channels, last=0, origin=None, timeout=TIMEOUT):
        parts = urlsplit(ws_url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        host = f"{parts.hostname}:{parts.port}"
        lines = [
            f"GET {parts.path}?{parts.query} HTTP/1.1",
            f"Host: {host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            f"Origin: {origin or f'http://{host}'}",
            f"Cookie: {cookie}",
            "",
            "",
        ]
        self.sock.sendall("\r\n".join(lines).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise BenchError("websocket: connection closed during the handshake")
            head += chunk
        head, self._buffer = head.split(b"\r\n\r\n", 1)
        status_line = head.split(b"\r\n", 1)[0].decode()
        if " 101 " not in status_line + " ":
            raise BenchError(f"websocket handshake refused: {status_line}")
        expected = base64.b64encode(
            hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()  # noqa: S324
        ).decode()
        if expected.encode() not in head:
            raise BenchError("websocket: bad Sec-WebSocket-Accept")
        self.sock.settimeout(None)
        self.messages: list[tuple[float, dict]] = []
        self.cond = threading.Condition()
        self.closed = False
        self._reader = threading.Thread(target=self._read_loop, name="bench-bus", daemon=True)
        self._reader.start()
        self.send({"event_name": "subscribe", "data": {"channels": list(channels), "last": last}})

    def send(self, obj, opcode=1):
        data = json.dumps(obj).encode() if opcode == 1 else obj
        mask = os.urandom(4)
        length = len(data)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(header + mask + masked)

    def _recv_exact(self, n):
        while len(self._buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _read_loop(self):
        fragments = b""
        try:
            while True:
                b1, b2 = self._recv_exact(2)
                opcode, length = b1 & 0x0F, b2 & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", self._recv_exact(2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", self._recv_exact(8))
                mask = self._recv_exact(4) if b2 & 0x80 else None
                payload = self._recv_exact(length)
                if mask:
                    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                if opcode == 8:
                    break
                if opcode == 9:
                    self.send(payload, opcode=10)
                    continue
                if opcode in (0, 1):
                    fragments += payload
                    if not b1 & 0x80:
                        continue
                    received = time.time()
                    text, fragments = fragments, b""
                    notifications = json.loads(text)
                    with self.cond:
                        for notif in notifications if isinstance(notifications, list) else [notifications]:
                            self.messages.append((received, notif))
                        self.cond.notify_all()
        except (EOFError, OSError, ValueError):
            pass
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    def wait_for(self, predicate, timeout):
        """The first (received_at, notification) matching predicate(notification), or None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for item in self.messages:
                    if predicate(item[1]):
                        return item
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    return None
                self.cond.wait(remaining)

    def close(self):
        with contextlib.suppress(OSError):
            self.send(struct.pack("!H", 1000), opcode=8)
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._reader.join(5)


# -------------------------------------------------------------------------------- Daraja recording tap


class DarajaTap:
    """A loopback proxy in front of the Daraja simulator, one per M-Pesa account: every call the
    account's Daraja client makes (OAuth, STK push, STK query...) is forwarded and recorded."""

    def __init__(self, label):
        self.label = label
        self.upstream = None  # "http://127.0.0.1:<sim port>", set once the simulator runs
        self.calls: list[tuple[float, str, str, int, object]] = []  # (time, method, path, status, JSON)
        self.lock = threading.Lock()
        tap = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                if not tap.upstream:
                    status, data, ctype = 503, b"", "text/plain"
                else:
                    try:
                        status, data, rheaders, _ = request(
                            tap.upstream + self.path, body, headers, method=self.command
                        )
                        ctype = rheaders.get("Content-Type", "")
                    except OSError as exc:
                        status, data, ctype = 502, str(exc).encode(), "text/plain"
                try:
                    sent = json.loads(body) if body else None
                except ValueError:
                    sent = None
                with tap.lock:
                    tap.calls.append((time.time(), self.command, self.path.split("?")[0], status, sent))
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward

            def log_message(self, format, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.1,), daemon=True)
        self.thread.start()

    def count(self, path_part):
        with self.lock:
            return sum(1 for _t, _m, path, _s, _b in self.calls if path_part in path)

    def bodies(self, path_part):
        """JSON bodies sent to paths containing path_part (e.g. each STK push, each STK query)."""
        with self.lock:
            return [body or {} for _t, _m, path, _s, body in self.calls if path_part in path]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


# ------------------------------------------------------------------------------------------- numbers


def percentile(values, q):
    """Linear interpolation between closest ranks (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values):
    return percentile(values, 50)


# ------------------------------------------------------------------------------------------- memory


def _children_map():
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def process_tree(root_pid):
    """[(pid, role, rss_bytes)] of root_pid and its descendants (Odoo: main, workers, gevent, cron)."""
    children = _children_map()
    out, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as handle:
                status = dict(line.split(":", 1) for line in handle if ":" in line)
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        rss = int(status.get("VmRSS", "0 kB").split()[0]) * 1024
        if pid == root_pid:
            role = "main"
        elif " gevent" in cmdline:
            role = "gevent"
        else:
            role = "worker"
        out.append((pid, role, rss))
    return sorted(out)
