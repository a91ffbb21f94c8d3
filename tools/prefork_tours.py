"""`make prefork-tours`: the POS M-Pesa tours in real Chromium against a prefork Odoo server.

The tours of static/tests/tours/ normally run inside HttpCase's threaded test server. Here the same
tours run against `odoo-bin --workers N --gevent-port P` (tools/live_server.py: a fresh database
without demo data, the Daraja simulator calling back into that server), behind a small front proxy
that sends /websocket to the gevent worker and everything else to the HTTP workers, as nginx does in
production, so the bus messages reach the till over the gevent worker's websocket.

    tools/run prefork-tours            # 12 of the 13 tours, 2.5-3.5 minutes on 2 shared cores
    tools/run prefork-tours --quick    # 2 STK and 2 C2B tours (make test), about 1.5 minutes
    options: --only PosMpesaStkPaidTour,... --workers N (default 2) --step-timeout S (default 30)
             --source head (install HEAD's module, not the work tree) --keep-db

Fixtures (odoo-bin shell, before the servers start; like TestPointOfSaleHttpCommon and
TestPosMpesaTours.setUpClass): a POS user with a password, one POS config per tour (each tour opens
its own register), the M-Pesa method (simulator account, C2B shortcode 600984, callback base URL =
the server) and a Bank method, the products M-Pesa Soap 100.0 and M-Pesa Sugar 99.5, the customer
Wanjiru Kamau. Each tour: simulator reset, the C2B confirmations posted over HTTP to the account's
confirmation URL as Safaricom posts them, a login over /web/session/authenticate, then Odoo's own
browser driver (odoo.tests.common.ChromeBrowser, headless) loads /pos/ui/<config>?debug=tests and
runs `odoo.startTour(name)` until "tour succeeded" or an error, as HttpCase.start_tour does; the
tour's default step timeout is raised (--step-timeout, 30 s) without touching the tour files. The
outcome is then checked in the database (order paid, one M-Pesa payment linked to its mpesa.callback
row, row claimed for that order and payment, receipt number...), so a tour that passes with the
money wrong fails. Controls: at least one websocket upgraded by the gevent worker, and no
"Couldn't bind the websocket" in the server log.

Prints `PASS name (Xs)` / `FAIL name: reason` per tour, then `N passed, N failed` (`, N skipped`
without Chromium); exits 1 on a failure. Runs in the Odoo venv's Python (re-executed into it): it
imports Odoo's browser driver from the runtime's source. Logs: .local/logs/live-prefork_tours-*.log
(server, simulator), prefork-tours-browser.log (the browser console), screenshots of failures in
.local/logs/prefork-tours-screenshots/.
"""

import argparse
import contextlib
import http.cookiejar
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

from common import REPO, fail, main_guard, say, which_browser

LOGIN, PASSWORD = "pos_user", "pos-user-pw"  # a throwaway user of a throwaway database
PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"  # Daraja's public sandbox one
C2B_SHORTCODE = "600984"
NAIROBI = timezone(timedelta(hours=3))
READY_TIMEOUT = 240  # s: the first tour waits for the POS and test bundles to be generated
TOUR_TIMEOUT = 180  # s: a whole tour (HttpCase.start_tour: 60 s in the threaded test server)

SETUP_SCRIPT = r"""
import json
company = env.company
groups = [env.ref(x).id for x in ("base.group_user", "point_of_sale.group_pos_user", "stock.group_stock_user")
          if env.ref(x, raise_if_not_found=False)]
group_field = "group_ids" if "group_ids" in env["res.users"]._fields else "groups_id"
user = env["res.users"].with_context(no_reset_password=True).create({
    "name": "A simple PoS man!", "login": LOGIN, "password": PASSWORD, "tz": "America/New_York",
    "company_id": company.id, "company_ids": [(6, 0, [company.id])], group_field: [(6, 0, groups)],
})
if "tour_enabled" in user._fields:
    user.tour_enabled = False  # no onboarding tour (HttpCase.start_tour patches it off)
bank_journal = env["account.journal"].create(
    {"name": "Bank Test", "type": "bank", "code": "TBNK", "company_id": company.id})
bank = env["pos.payment.method"].create(
    {"name": "Bank", "journal_id": bank_journal.id, "company_id": company.id})
account = env["mpesa.config"].create({
    "name": "Tour Paybill", "company_id": company.id, "environment": "simulator",
    "simulator_url": SIM_URL, "account_type": "paybill", "business_shortcode": "174379",
    "c2b_shortcode": C2B_SHORTCODE, "consumer_key": "sim-consumer-key",
    "consumer_secret": "sim-consumer-secret", "passkey": PASSKEY, "callback_base_url": ODOO_URL,
})
mpesa = env["pos.payment.method"].create({
    "name": "M-Pesa", "payment_method_type": "terminal", "use_payment_terminal": "mpesa",
    "mpesa_config_id": account.id, "journal_id": bank_journal.id, "company_id": company.id,
})
configs = {}
for name in TOURS:  # one register per tour: every tour starts with "Open Register"
    configs[name] = env["pos.config"].create(
        {"name": name, "payment_method_ids": [(6, 0, [mpesa.id, bank.id])]}).id
product_vals = {"available_in_pos": True, "taxes_id": [(5, 0, 0)], "type": "consu"}
env["product.template"].create([
    {**product_vals, "name": "M-Pesa Soap", "list_price": 100.0},
    {**product_vals, "name": "M-Pesa Sugar", "list_price": 99.5},
])
env["res.partner"].create({"name": "Wanjiru Kamau", "phone": "0712 345 600"})
env.cr.commit()
print("PREFORK-TOURS-SETUP " + json.dumps({
    "configs": configs, "mpesa_method_id": mpesa.id, "bank_method_id": bank.id,
    "c2b_confirmation_url": account.c2b_confirmation_url,
}))
"""


# ------------------------------------------------------------------------------------ the front proxy


class FrontProxy:
    """127.0.0.1:<port> in front of a prefork Odoo, as nginx in production: a request for /websocket
    asking for an upgrade goes to the gevent port, everything else to the HTTP workers. One
    connection = one upstream connection (Odoo's HTTP workers close after each answer); the upstream
    is only opened once the request's head arrived, so idle pre-connections hold no worker."""

    def __init__(self, http_port: int, gevent_port: int):
        self.http_port, self.gevent_port = http_port, gevent_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.counts = {"http": 0, "websocket": 0, "upgraded": 0}
        self.closed = False

    def __enter__(self):
        threading.Thread(target=self._accept, name="front proxy", daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.closed = True
        with contextlib.suppress(OSError):
            self.server.close()
        return False

    def _count(self, key):
        with self.lock:
            self.counts[key] += 1

    def _accept(self):
        while not self.closed:
            try:
                client, _addr = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        upstream = None
        try:
            client.settimeout(300)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk or len(head) > 1 << 20:
                    return
                head += chunk
            websocket = is_websocket_upgrade(head)
            self._count("websocket" if websocket else "http")
            port = self.gevent_port if websocket else self.http_port
            upstream = socket.create_connection(("127.0.0.1", port), timeout=300)
            upstream.sendall(head)
            back = threading.Thread(target=self._pipe, args=(upstream, client, websocket), daemon=True)
            back.start()
            self._pipe(client, upstream, False)
            back.join()
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()

    def _pipe(self, src, dst, watch_upgrade):
        first = watch_upgrade
        with contextlib.suppress(OSError):
            while True:
                try:
                    data = src.recv(65536)
                except TimeoutError:
                    continue  # a quiet websocket: the peers' own pings keep it alive
                if not data:
                    break
                if first:
                    first = False
                    if data.startswith((b"HTTP/1.1 101", b"HTTP/1.0 101")):
                        self._count("upgraded")
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def is_websocket_upgrade(head: bytes) -> bool:
    """Whether a request head asks for a websocket on /websocket (the bus's route)."""
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2 or not parts[1].startswith("/websocket"):
        return False
    headers = {}
    for line in lines[1:]:
        key, _sep, value = line.partition(":")
        headers[key.strip().lower()] = value.strip().lower()
    return headers.get("upgrade") == "websocket"


# ------------------------------------------------------------------------------------------- HTTP


def http_json(url: str, payload: dict, opener=None, timeout=60) -> dict:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with (opener or urllib.request.build_opener()).open(request, timeout=timeout) as resp:
        return json.loads(resp.read() or b"{}")


def login(odoo_url: str, db: str) -> str:
    """The session id of a fresh login of the POS user (POST /web/session/authenticate)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    body = {"jsonrpc": "2.0", "method": "call", "params": {"db": db, "login": LOGIN, "password": PASSWORD}}
    data = http_json(f"{odoo_url}/web/session/authenticate", body, opener)
    if "error" in data or not (data.get("result") or {}).get("uid"):
        raise TourError(f"login {LOGIN} failed: {str(data)[:300]}")
    sid = next((c.value for c in jar if c.name == "session_id"), None)
    if not sid:
        raise TourError("login answered without a session_id cookie")
    return sid


def nairobi_timestamp() -> str:
    return datetime.now(NAIROBI).strftime("%Y%m%d%H%M%S")


def c2b_body(trans_id, full_name, msisdn="254708374149", amount="100.00") -> dict:
    """A C2B confirmation as Safaricom posts it (tests/test_pos_mpesa_tours.py post_c2b)."""
    names = full_name.split(" ")
    return {
        "TransactionType": "Pay Bill",
        "TransID": trans_id,
        "TransTime": nairobi_timestamp(),
        "TransAmount": amount,
        "BusinessShortCode": C2B_SHORTCODE,
        "BillRefNumber": "Till 1",
        "InvoiceNumber": "",
        "OrgAccountBalance": "",
        "ThirdPartyTransID": "",
        "MSISDN": msisdn,
        "FirstName": names[0],
        "MiddleName": "",
        "LastName": " ".join(names[1:]),
    }


# ------------------------------------------------------------------------------------------ tours


class TourError(Exception):
    """A tour did not run to its end, or its outcome in the database is wrong."""


@dataclass(frozen=True)
class C2b:
    trans_id: str
    name: str
    msisdn: str = "254708374149"
    amount: str = "100.00"


@dataclass(frozen=True)
class Tour:
    name: str
    check: Callable  # check(Outcome) -> list of problems ([] = the money is right)
    c2b: tuple = ()  # confirmations posted before the tour


class Outcome:
    """What one tour left in the database: its register's last order, the M-Pesa rows it made."""

    def __init__(self, live, setup, config_id: int, first_row: int):
        self.live, self.setup, self.config_id, self.first_row = live, setup, config_id, first_row
        self.mpesa_method = setup["mpesa_method_id"]
        self.bank_method = setup["bank_method_id"]
        self.problems: list[str] = []

    def expect(self, ok, problem: str) -> bool:
        if not ok:
            self.problems.append(problem)
        return bool(ok)

    def order(self) -> dict | None:
        rows = self.live.sql(
            "SELECT o.id, o.state FROM pos_order o JOIN pos_session s ON s.id = o.session_id "
            f"WHERE s.config_id = {int(self.config_id)} ORDER BY o.id DESC LIMIT 1"
        )
        return {"id": int(rows[0][0]), "state": rows[0][1]} if rows else None

    def payments(self, order_id: int) -> list[dict]:
        cols = ("id", "method", "receipt", "phone", "callback", "checkout")
        rows = self.live.sql(
            "SELECT id, payment_method_id, COALESCE(mpesa_receipt_number, ''), "
            "COALESCE(mpesa_phone_number, ''), COALESCE(mpesa_callback_id, 0), "
            "COALESCE(mpesa_checkout_request_id, '') "
            f"FROM pos_payment WHERE pos_order_id = {int(order_id)} ORDER BY id"
        )
        return [dict(zip(cols, row, strict=True)) for row in rows]

    ROW_COLS = (
        "id", "callback_type", "status", "reason", "receipt", "order", "payment", "claimed",
        "abandoned", "request_phone", "by_query", "checkout", "claimed_for",
    )  # fmt: skip

    def rows(self, where="TRUE", new_only=True) -> list[dict]:
        """mpesa_callback rows (this tour's, unless new_only=False)."""
        scope = f"id > {int(self.first_row)}" if new_only else "TRUE"
        rows = self.live.sql(
            "SELECT id, callback_type, status, COALESCE(reason, ''), COALESCE(mpesa_receipt_number, ''), "
            "COALESCE(pos_order_id, 0), COALESCE(pos_payment_id, 0), COALESCE(is_claimed, false), "
            "COALESCE(stk_abandoned, false), COALESCE(request_phone, ''), "
            "COALESCE(confirmed_by_query, false), COALESCE(checkout_request_id, ''), "
            "COALESCE(claim_order_key, '') "
            f"FROM mpesa_callback WHERE {scope} AND ({where}) ORDER BY id"
        )
        return [dict(zip(self.ROW_COLS, row, strict=True)) for row in rows]

    def stk_rows(self) -> list[dict]:
        return self.rows("callback_type = 'stk'")

    def paid_order(self) -> tuple[dict | None, list[dict]]:
        order = self.order()
        if not self.expect(order, "no order was saved for this register"):
            return None, []
        self.expect(order["state"] == "paid", f"order {order['id']} is {order['state']!r}, not 'paid'")
        return order, self.payments(order["id"])

    def paid_by_mpesa(self, receipt=None, with_receipt=True) -> dict | None:
        """tests/test_pos_mpesa_tours.py assert_paid_by_mpesa, in SQL."""
        order, payments = self.paid_order()
        if order is None:
            return None
        mpesa = [p for p in payments if p["method"] == str(self.mpesa_method)]
        if not self.expect(len(mpesa) == 1, f"{len(mpesa)} M-Pesa payment(s) on order {order['id']}, not 1"):
            return None
        payment = mpesa[0]
        if with_receipt:
            self.expect(payment["receipt"], "the M-Pesa payment has no receipt number")
        if receipt:
            got = payment["receipt"]
            self.expect(got == receipt, f"receipt {got!r}, expected {receipt!r}")
        if not self.expect(payment["callback"] != "0", "the payment is not linked to its M-Pesa row"):
            return payment
        row = self.rows(f"id = {int(payment['callback'])}", new_only=False)[0]
        self.expect(row["receipt"] == payment["receipt"], "the row's receipt differs from the payment's")
        self.expect(row["order"] == str(order["id"]), f"the row is claimed by order {row['order']}")
        self.expect(row["payment"] == str(payment["id"]), f"the row points to payment {row['payment']}")
        self.expect(row["claimed"] == "t", "the M-Pesa row is not claimed")
        return payment

    def paid_by_bank(self):
        _order, payments = self.paid_order()
        methods = sorted({p["method"] for p in payments})
        self.expect(methods == [str(self.bank_method)], f"paid by methods {methods}, expected only Bank")


def check_stk_paid(o: Outcome):
    payment = o.paid_by_mpesa()
    if payment:
        o.expect(payment["phone"] == "254712345600", f"payment phone {payment['phone']!r}")
    o.expect(len(o.stk_rows()) == 1, f"{len(o.stk_rows())} STK rows, expected 1")


def check_stk_cancelled(o: Outcome):
    o.paid_by_mpesa()
    statuses = sorted(r["status"] for r in o.stk_rows())
    o.expect(statuses == ["cancelled", "success"], f"STK rows {statuses}, expected cancelled + success")


def check_stk_insufficient(o: Outcome):
    o.paid_by_bank()
    reasons = [r["reason"] for r in o.stk_rows()]
    o.expect(reasons == ["insufficient_balance"], f"STK reasons {reasons}")


def check_stk_timeout(o: Outcome):
    statuses = [r["status"] for r in o.stk_rows()]
    o.expect(statuses == ["timeout"], f"STK rows {statuses}, expected one timeout")


def check_cancel_at_till(o: Outcome):
    rows = o.stk_rows()
    if o.expect(len(rows) == 1, f"{len(rows)} STK rows, expected 1"):
        o.expect(rows[0]["abandoned"] == "t", "the server does not know the till gave up")
        o.expect(rows[0]["claimed"] == "f", "the abandoned push is claimed")
    o.paid_by_bank()


def check_bad_phone(o: Outcome):
    phones = [r["request_phone"] for r in o.stk_rows()]
    o.expect(phones == ["254112345600"], f"pushes sent to {phones}, expected only the corrected number")
    o.paid_by_mpesa()


def check_cents_refused(o: Outcome):
    o.expect(not o.rows(), "something was sent to M-Pesa for an amount with cents")
    o.paid_by_bank()


def check_stk_reload(o: Outcome):
    payment = o.paid_by_mpesa(with_receipt=False)
    rows = o.stk_rows()
    if o.expect(len(rows) == 1, f"{len(rows)} STK rows, expected 1"):
        o.expect(rows[0]["by_query"] == "t", "the payment was not confirmed by the STK query")
        if payment:
            o.expect(payment["checkout"] == rows[0]["checkout"], "the payment has another CheckoutRequestID")


def check_c2b_one_found(o: Outcome):
    o.paid_by_mpesa("RKL51ZDR4F")


def check_c2b_none_found(o: Outcome):
    _order, payments = o.paid_order()
    o.expect(not any(p["receipt"] for p in payments), "a payment line got an M-Pesa receipt")
    o.expect(not any(p["callback"] != "0" for p in payments), "a payment line is linked to an M-Pesa row")
    other = o.rows("mpesa_receipt_number = 'ROTHER0001'")
    o.expect(other and other[0]["claimed"] == "f", "the 250 KES payment was claimed (or is missing)")


def check_c2b_without_matching(o: Outcome):
    _order, payments = o.paid_order()
    o.expect(not any(p["receipt"] for p in payments), "a payment line got an M-Pesa receipt")
    left = o.rows("mpesa_receipt_number = 'RWM0000001'")
    o.expect(left and left[0]["claimed"] == "f", "the customer's payment was not left for its own order")


def check_c2b_already_taken(o: Outcome):
    o.paid_by_mpesa("RFREE00002")
    taken = o.rows("mpesa_receipt_number = 'RTAKEN0001'")
    claimed = taken[0]["claimed_for"] if taken else None
    o.expect(claimed == "0b0e6c1e-0000-4000-8000-00000000a11a", f"RTAKEN0001 claimed for {claimed!r}")


# Order matters where C2B payments of 100 KES stay unclaimed: every tour before NoneFound leaves
# none (they are claimed), WithoutMatching leaves one on purpose and runs last. Its TransID differs
# from OneFound's (the Python test reuses RKL51ZDR4F in a database of its own).
TOURS = (
    Tour("PosMpesaStkPaidTour", check_stk_paid),
    Tour("PosMpesaC2bOneFoundTour", check_c2b_one_found, (C2b("RKL51ZDR4F", "JOHN DOE"),)),
    Tour("PosMpesaStkCancelledTour", check_stk_cancelled),
    Tour("PosMpesaC2bNoneFoundTour", check_c2b_none_found, (C2b("ROTHER0001", "JOHN DOE", amount="250.00"),)),
    Tour("PosMpesaStkInsufficientTour", check_stk_insufficient),
    Tour("PosMpesaStkTimeoutTour", check_stk_timeout),
    Tour("PosMpesaStkCancelAtTillTour", check_cancel_at_till),
    Tour("PosMpesaBadPhoneTour", check_bad_phone),
    Tour("PosMpesaCentsRefusedTour", check_cents_refused),
    Tour("PosMpesaStkReloadTour", check_stk_reload),
    Tour(
        "PosMpesaC2bAlreadyTakenTour",
        check_c2b_already_taken,
        (C2b("RTAKEN0001", "JOHN DOE"), C2b("RFREE00002", "JANE DOE", msisdn="254733000002")),
    ),
    Tour("PosMpesaC2bWithoutMatchingTour", check_c2b_without_matching, (C2b("RWM0000001", "JOHN DOE"),)),
)
# Not here: PosMpesaC2bSeveralFoundTour needs a payment to land while its popup is open, which the
# Python test arranges by patching the search inside the server.
# make test (--quick): two STK and two C2B tours, about a minute once the server is up
QUICK = (
    "PosMpesaStkPaidTour",
    "PosMpesaC2bOneFoundTour",
    "PosMpesaStkCancelledTour",
    "PosMpesaC2bNoneFoundTour",
)


def select_tours(args) -> list[Tour]:
    by_name = {t.name: t for t in TOURS}
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        fail(f"unknown tour(s) {', '.join(unknown)}; choose among {', '.join(by_name)}")
    if not names:
        names = QUICK if args.quick else list(by_name)
    return [t for t in TOURS if t.name in names]  # always in the order of TOURS (see above)


def tour_code(name: str, start_url: str, step_timeout_ms: int) -> str:
    """HttpCase.start_tour's odoo.startTour call, after raising the tour's default step timeout
    (TourAutomatic: step.timeout || tour.timeout || 10000) on the page's registry entry."""
    options = {
        "stepDelay": 0,
        "keepWatchBrowser": False,
        "debug": False,
        "startUrl": start_url,
        "delayToCheckUndeterminisms": 0,
    }
    return (
        "(() => {"
        ' const {registry} = odoo.loader.modules.get("@web/core/registry");'
        f' registry.category("web_tour.tours").get({json.dumps(name)}).timeout = {int(step_timeout_ms)};'
        f" return odoo.startTour({json.dumps(name)}, {json.dumps(options)});"
        "})()"
    )


class Runner:
    def __init__(self, live, proxy, setup, step_timeout, log):
        self.live, self.proxy, self.setup, self.step_timeout, self.log = live, proxy, setup, step_timeout, log
        self.first_load = True
        from odoo.tests import common as odoo_tests  # the runtime's source is on sys.path (main)

        self.odoo_tests = odoo_tests

    def sim_reset(self):
        http_json(f"{self.live.sim_url}/__sim__/reset", {})

    def post_c2b(self, c2b: C2b):
        path = urlsplit(self.setup["c2b_confirmation_url"]).path
        body = c2b_body(c2b.trans_id, c2b.name, c2b.msisdn, c2b.amount)
        try:
            data = http_json(self.live.odoo_url + path, body)
        except urllib.error.HTTPError as exc:
            raise TourError(f"C2B confirmation {c2b.trans_id}: HTTP {exc.code} (see the server log)") from exc
        if data.get("ResultCode") != 0:
            raise TourError(f"C2B confirmation {c2b.trans_id} answered {data}")

    def max_row(self) -> int:
        return int(self.live.sql("SELECT COALESCE(MAX(id), 0) FROM mpesa_callback")[0][0])

    def run(self, tour: Tour) -> list[str]:
        """[] when the tour ran to its end and its outcome is right; else the problems."""
        config_id = self.setup["configs"][tour.name]
        first_row = self.max_row()
        self.sim_reset()
        for c2b in tour.c2b:
            self.post_c2b(c2b)
        sid = login(self.live.odoo_url, self.live.db)
        self.browse(tour.name, f"/pos/ui/{config_id}", sid)
        outcome = Outcome(self.live, self.setup, config_id, first_row)
        tour.check(outcome)
        return outcome.problems

    def browse(self, name: str, path: str, sid: str):
        """HttpCase.browser_js/start_tour with Odoo's ChromeBrowser, against the real server."""
        t = self.odoo_tests
        case = type(name, (BrowserCase,), {})(self.log)  # the class name names the screenshots
        try:
            browser = t.ChromeBrowser(case, success_signal="tour succeeded", headless=True)
        except Exception as exc:  # unittest.SkipTest: Chromium did not start
            raise TourError(f"Chromium did not start: {exc}") from exc
        try:
            browser.set_cookie("session_id", sid, "/", t.HOST)
            # debug=tests: the page loads web.assets_tests (the tours) outside test mode
            url = f"{self.proxy.url}{path}?debug=tests"
            browser.navigate_to(url, wait_stop=False)
            ready_timeout = READY_TIMEOUT if self.first_load else 90
            if not browser._wait_ready(f"odoo.isTourReady({json.dumps(name)})", timeout=ready_timeout):
                raise TourError(f"the tour was not ready within {ready_timeout} s at {url}")
            self.first_load = False
            code = tour_code(name, path, self.step_timeout * 1000)
            try:
                browser._wait_code_ok(code, TOUR_TIMEOUT)
            except t.ChromeBrowserException as exc:
                raise TourError(first_lines(str(exc))) from exc
        finally:
            browser.stop()
            # Chromium's children may still write to the profile when stop() removes it
            for _ in range(10):
                if not os.path.exists(browser.user_data_dir):
                    break
                time.sleep(0.5)
                shutil.rmtree(browser.user_data_dir, ignore_errors=True)


class BrowserCase:
    """What odoo.tests.common.ChromeBrowser reads from its HttpCase (Odoo 19.0)."""

    browser_size = "1366x768"
    touch_enabled = False

    def __init__(self, logger):
        self._logger = logger

    def fetch_proxy(self, url):
        """Requests outside 127.0.0.1 (fonts, CDNs) get an empty 404, as in HttpCase."""
        return {"body": "", "responseCode": 404, "responseHeaders": []}


def first_lines(text: str, n=6) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[:n])[:800]


# ------------------------------------------------------------------------------------------- main


def _reexec_in_odoo_venv(runtime):
    """Odoo's browser driver and websocket-client live in the Odoo venv: run with its Python."""
    if Path(sys.prefix).resolve() == Path(runtime.venv).resolve():
        return
    python = str(runtime.python)
    os.execv(python, [python, str(Path(__file__).resolve()), *sys.argv[1:]])  # noqa: S606


def _browser_logging(log_path: Path) -> logging.Logger:
    handler = logging.FileHandler(log_path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return logging.getLogger("prefork_tours")


def wait_http(url, timeout):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (loopback)
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            fail(f"{url} did not answer within {timeout} s")
        time.sleep(0.5)


def log_problems(log_path: Path, start: int) -> list[str]:
    """Server-log lines of the tours' time (after byte `start`) that mean the prefork set-up is wrong."""
    with open(log_path, errors="replace") as log:
        log.seek(start)
        text = log.read()
    return [line for line in text.splitlines() if "Couldn't bind the websocket" in line]


def main():
    parser = argparse.ArgumentParser(prog="tools/run prefork-tours", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--only", default="", help="comma-separated tour names")
    parser.add_argument("--workers", type=int, default=2, help="Odoo HTTP workers (at least 1)")
    parser.add_argument("--step-timeout", type=int, default=30, help="default step timeout (s, tour: 10)")
    parser.add_argument(
        "--source",
        choices=("worktree", "head"),
        default="worktree",
        help="install the work tree's module (default) or HEAD's (git archive)",
    )
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if args.workers < 1:
        fail("--workers must be at least 1: this suite is about the prefork server")
    tours = select_tours(args)
    if not which_browser():
        for tour in tours:
            print(f"SKIP {tour.name}: no chromium/google-chrome on PATH (apt-get install chromium)")
        print(f"0 passed, 0 failed, {len(tours)} skipped")
        return 0

    import runtime as rt

    runtime = rt.ensure()
    _reexec_in_odoo_venv(runtime)
    sys.path.insert(0, str(runtime.src))
    from odoo_exec import logs_dir

    log = _browser_logging(logs_dir() / "prefork-tours-browser.log")
    started = time.monotonic()
    passed = failed = 0
    tmp = Path(tempfile.mkdtemp(prefix="pos_mpesa-prefork-tours-"))
    try:
        module_path = _export_head(tmp) if args.source == "head" else None
        passed, failed, log_path = run_tours(args, tours, module_path, log)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(
        f"prefork ({args.workers} workers + gevent), {len(tours)} tours, "
        f"{time.monotonic() - started:.0f} s; logs: {log_path}, {logs_dir() / 'prefork-tours-browser.log'}"
    )
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def _export_head(dest: Path) -> Path:
    """HEAD's files (the committed module) in dest, to run the tours against them."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def run_tours(args, tours, module_path, log) -> tuple[int, int, Path]:
    from live_server import LiveServer
    from odoo_exec import logs_dir

    passed = failed = 0
    script = (
        f"TOURS = {[t.name for t in tours]!r}\nLOGIN = {LOGIN!r}\nPASSWORD = {PASSWORD!r}\n"
        f"PASSKEY = {PASSKEY!r}\nC2B_SHORTCODE = {C2B_SHORTCODE!r}\n" + SETUP_SCRIPT
    )
    with LiveServer(
        "prefork_tours",
        setup_script=script,
        workers=args.workers,
        callback_delay=3.0,  # as the Python tours: the till shows the waiting state first
        keep_db=args.keep_db,
        module_path=module_path,
        odoo_args=["--limit-time-real=300", "--limit-time-cpu=120"],
    ) as live:
        line = next((x for x in live.setup_output.splitlines() if x.startswith("PREFORK-TOURS-SETUP ")), None)
        if not line:
            fail(f"the setup script printed no result: {live.setup_output[-2000:]}")
        setup = json.loads(line.split(" ", 1)[1])
        import odoo.tools

        odoo.tools.config["db_name"] = [live.db]  # ChromeBrowser and its screenshots read it
        shots = logs_dir() / "prefork-tours-screenshots"  # this run's failures only
        shutil.rmtree(shots, ignore_errors=True)
        odoo.tools.config["screenshots"] = str(shots)
        # the gevent worker starts after the HTTP workers answer /web/health
        wait_http(f"http://127.0.0.1:{live.gevent_port}/websocket/health", 90)
        log_start = live.log_path.stat().st_size
        with FrontProxy(live.odoo_port, live.gevent_port) as proxy:
            say(f"prefork tours: browser -> {proxy.url} (/websocket -> gevent :{live.gevent_port})")
            runner = Runner(live, proxy, setup, args.step_timeout, log)
            for tour in tours:
                t0 = time.monotonic()
                try:
                    problems = runner.run(tour)
                except TourError as exc:
                    problems = [str(exc)]
                except Exception as exc:  # one broken tour must not hide the others
                    problems = [f"{type(exc).__name__}: {exc}"]
                took = time.monotonic() - t0
                if problems:
                    failed += 1
                    print(f"FAIL {tour.name}: {'; '.join(problems)} ({took:.0f}s)", flush=True)
                else:
                    passed += 1
                    print(f"PASS {tour.name} ({took:.0f}s)", flush=True)
            counts = dict(proxy.counts)
        # controls: the tours really ran on the prefork server's bus (gevent worker)
        bad_lines = log_problems(live.log_path, log_start)
        if counts["upgraded"] and not bad_lines:
            passed += 1
            print(f"PASS bus websocket on the gevent worker ({counts['upgraded']} upgraded)", flush=True)
        else:
            failed += 1
            why = bad_lines[0][-200:] if bad_lines else f"no websocket upgraded ({counts})"
            print(f"FAIL bus websocket on the gevent worker: {why}", flush=True)
        return passed, failed, live.log_path


if __name__ == "__main__":
    main_guard(main)
