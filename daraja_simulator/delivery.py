"""Delayed jobs (callbacks, prompt expiry) on one worker thread, and the callback POSTer."""

import heapq
import http.client
import itertools
import logging
import threading
import time
from urllib.parse import urlsplit

from .jsonutil import dumps

_logger = logging.getLogger(__name__)

_MAX_RESPONSE = 64 * 1024


class Scheduler:
    """Runs callables after a delay, in order, on a single thread that stop() joins."""

    def __init__(self):
        self._heap: list = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="daraja-sim-scheduler", daemon=True)
        self._thread.start()

    def call_later(self, delay: float, func, *args) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + max(delay, 0.0), next(self._seq), func, args))
            self._cond.notify()

    def clear(self) -> None:
        with self._cond:
            self._heap.clear()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._heap.clear()
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopping:
                    return
                _, _, func, args = heapq.heappop(self._heap)
            try:
                func(*args)
            except Exception:  # one failing job must not stop the others
                _logger.exception("simulator job failed")


def post_json(url: str, payload: dict, headers: dict, timeout: float) -> tuple[int | None, str, str]:
    """POST payload as Daraja does; returns (http_status, response_text, error).

    http.client rather than urllib: urllib re-cases header names, and Daraja sends "BusinessShortCode".
    No proxy from the environment is used: callbacks go straight to the merchant.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None, "", f"Not an http(s) URL: {url}"
    conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    data = dumps(payload).encode("utf-8")
    try:
        conn = conn_class(parts.hostname, parts.port, timeout=timeout)
        try:
            conn.request("POST", target, body=data, headers=headers)
            resp = conn.getresponse()
            body = resp.read(_MAX_RESPONSE).decode("utf-8", "replace")
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ValueError) as exc:  # refused, timeout, bad port
        return None, "", f"{type(exc).__name__}: {exc}"
    return resp.status, body, "" if 200 <= resp.status < 300 else f"HTTP {resp.status}"


class Deliverer:
    """Posts callbacks and records every attempt in the state's delivery log."""

    CONTENT_TYPE = "application/json;charset=UTF-8"

    def __init__(self, state, timeout: float = 10.0):
        self.state = state
        self.timeout = timeout

    def deliver(self, kind: str, reference: str, url: str, payload: dict, extra_headers=None, timeout=None):
        headers = {"Content-Type": self.CONTENT_TYPE, **(extra_headers or {})}
        forwarded_for = self.state.options.callback_forwarded_for
        if forwarded_for and "X-Forwarded-For" not in headers:
            headers["X-Forwarded-For"] = forwarded_for
        record = self.state.add_delivery(kind, reference, url, headers, payload)
        status, body, error = post_json(url, payload, headers, timeout or self.timeout)
        with self.state.lock:
            record.http_status, record.response_body, record.error = status, body[:2000], error
        return record

    def replay(self, number: int):
        with self.state.lock:
            if not 1 <= number <= len(self.state.deliveries):
                return None
            old = self.state.deliveries[number - 1]
        extra = {k: v for k, v in old.headers.items() if k != "Content-Type"}
        return self.deliver(old.kind, old.reference, old.url, old.payload, extra)
