"""Test helpers: a callback receiver on loopback and a small raw Daraja caller (no client package)."""

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from daraja_simulator import CONSUMER_KEY, CONSUMER_SECRET, SANDBOX_PASSKEY

TIMESTAMP = "20261126101500"


def password(shortcode="174379", passkey=SANDBOX_PASSKEY, timestamp=TIMESTAMP):
    return base64.b64encode(f"{shortcode}{passkey}{timestamp}".encode()).decode()


class Receiver:
    """A loopback HTTP server that records every POST (with its arrival time) and answers with a
    configurable reply, after holding each request ``hold`` seconds (to see deliveries overlap)."""

    def __init__(self, hold=0.0):
        self.requests = []
        self.replies = {}  # path -> (status, body bytes)
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._cond:
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers.items()),
                            "raw": body,
                            "at": time.monotonic(),
                        }
                    )
                    receiver._cond.notify_all()
                time.sleep(hold)
                status, reply = receiver.replies.get(
                    self.path, (200, b'{"ResultCode":0,"ResultDesc":"Accepted"}')
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,))
        self.thread.start()

    def wait_for(self, count, timeout=5.0, path=None):
        """The first `count` requests (to `path` if given); fails if they do not arrive in time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self.requests if path is None or r["path"] == path]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} callback(s) on {path or 'any path'}, got {len(got)}"
                    )
                self._cond.wait(left)

    def json(self, index=0, path=None):
        return json.loads(self.wait_for(index + 1, path=path)[index]["raw"])

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class Daraja:
    """Speaks raw Daraja to the simulator (independent of the client package)."""

    def __init__(self, base_url):
        self.base = base_url
        self.http = requests.Session()
        self._token = None

    def oauth(self, key=CONSUMER_KEY, secret=CONSUMER_SECRET, grant="client_credentials"):
        return self.http.get(
            f"{self.base}/oauth/v1/generate", params={"grant_type": grant}, auth=(key, secret), timeout=5
        )

    def token(self):
        if self._token is None:
            self._token = self.oauth().json()["access_token"]
        return self._token

    def post(self, path, body, token=None, **kwargs):
        headers = {"Authorization": f"Bearer {token or self.token()}"}
        return self.http.post(f"{self.base}{path}", json=body, headers=headers, timeout=5, **kwargs)

    def stk_body(self, phone="254712345600", callback_url="http://127.0.0.1:9/cb", **overrides):
        body = {
            "BusinessShortCode": 174379,
            "Password": password(),
            "Timestamp": TIMESTAMP,
            "TransactionType": "CustomerPayBillOnline",
            "Amount": "10",
            "PartyA": phone,
            "PartyB": "174379",
            "PhoneNumber": phone,
            "CallBackURL": callback_url,
            "AccountReference": "INV001",
            "TransactionDesc": "Payment",
        }
        body.update(overrides)
        return body

    def push(self, phone="254712345600", callback_url="http://127.0.0.1:9/cb", **overrides):
        return self.post("/mpesa/stkpush/v1/processrequest", self.stk_body(phone, callback_url, **overrides))

    def query(self, checkout_request_id, shortcode="174379"):
        body = {
            "BusinessShortCode": shortcode,
            "Password": password(shortcode),
            "Timestamp": TIMESTAMP,
            "CheckoutRequestID": checkout_request_id,
        }
        return self.post("/mpesa/stkpushquery/v1/query", body)

    def control(self, path, body=None):
        if body is None and path in (
            "transactions",
            "callbacks",
            "accounts",
            "scenario",
            "options",
            "faults",
            "stats",
            "qr",
        ):
            return self.http.get(f"{self.base}/__sim__/{path}", timeout=5)
        return self.http.post(f"{self.base}/__sim__/{path}", json=body or {}, timeout=10)

    def register(self, version="v2", shortcode="600984", confirmation=None, validation=None, **overrides):
        body = {
            "ShortCode": shortcode,
            "ResponseType": "Completed",
            "ConfirmationURL": confirmation or "http://127.0.0.1:9/c2b/confirm",
            "ValidationURL": validation or "http://127.0.0.1:9/c2b/validate",
        }
        body.update(overrides)
        return self.post(f"/mpesa/c2b/{version}/registerurl", body)

    def simulate(self, version="v2", shortcode="600984", **overrides):
        body = {
            "ShortCode": shortcode,
            "CommandID": "CustomerPayBillOnline",
            "Amount": 150,
            "Msisdn": 254708374149,
            "BillRefNumber": "Order 42",
        }
        body.update(overrides)
        return self.post(f"/mpesa/c2b/{version}/simulate", body)


def register_receiver(daraja, receiver, shortcode="600984"):
    """Register the receiver's /c2b/confirm and /c2b/validate as the shortcode's C2B URLs."""
    r = daraja.register(
        shortcode=shortcode,
        confirmation=f"{receiver.url}/c2b/confirm",
        validation=f"{receiver.url}/c2b/validate",
    )
    assert r.status_code == 200, r.text


def wait_until(predicate, timeout=5.0):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)
