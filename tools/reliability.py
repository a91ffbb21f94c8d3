"""`make reliability`: races, replays, fuzz, forgeries and Daraja faults over HTTP against a real server.

Starts Odoo with pos_mpesa (tools/live_server.py: fresh database, prefork workers, a cron worker) and
the Daraja simulator, sets up 20 tills through `odoo-bin shell`, then drives everything over HTTP from
concurrent clients (threads; POS users logged in with /web/session/authenticate, JSON-RPC to the
/mpesa/* routes; raw POSTs to the callback URLs, whose tokens are read from the database). Prints
one table (scenario | figure | value | target | ok), then `N passed, N failed` on the last line;
exits 1 when a figure is off. See README, "Reliability".

    tools/run reliability            # full counts (1,133 s on 2 shared cores; outage alone: 7 min)
    tools/run reliability --quick    # small counts (318 s on 2 shared cores; several 9 s, results 3 s)
    options: --only twins,fuzz (scenarios: replay twins race several fuzz forgery results outage
             lost_confirmations faults; they run in this order whatever the order given; the log scan
             always runs)
             --workers N (0 = threaded server), --source head (install HEAD's module, not the work tree),
             --keep-db, --seed N

results: receipt lookups (Transaction Status) whose result M-Pesa posts twice, as a queue timeout or
once, then results nobody asked for (unknown ids, garbage) and results with a wrong token. several:
tills ticking overlapping sets of C2B payments for one order each (/mpesa/reconcile_callbacks), all
or none. outage: the stored OAuth tokens expire while Daraja is down, so its return needs new ones.

Scenarios run one after the other (the server sees one scenario's traffic at a time), every load loop
is bounded in count and time, and everything listens and talks on 127.0.0.1 only.
"""

import argparse
import concurrent.futures as cf
import contextlib
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from common import REPO, fail, main_guard, say


def _ensure_requests():
    """The HTTP clients use requests: run in the Odoo venv's Python, which has it."""
    try:
        import requests  # noqa: F401
    except ImportError:
        import runtime as rt

        python = str(rt.ensure().python)
        os.execv(python, [python, str(Path(__file__).resolve()), *sys.argv[1:]])  # noqa: S606


PASSWORD = "rel-cashier-pw"  # noqa: S105 (throwaway users of a throwaway database)
PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
EAT = timezone(timedelta(hours=3))
MAX_RAW = 64 * 1024  # README: bodies over 64 KiB are refused with 413
STK_PATH, CONFIRM_PATH, VALIDATE_PATH = (
    "/pos_lipa/cb/%s/stk",
    "/pos_lipa/cb/%s/c2b/confirm",
    "/pos_lipa/cb/%s/c2b/validate",
)
RESULT_PATH, TIMEOUT_PATH = "/pos_lipa/cb/%s/result", "/pos_lipa/cb/%s/timeout"
PUBLIC_PATH = "/mpesa/callback"
REVIEW_AFTER_MINUTES = 30  # the STK review deadline (no final answer after 30 min: needs review)
LIVE = ("success", "needs_review")
# What the till's search takes for a receipt code (models/mpesa_pos_request.py RECEIPT_RE): letters AND
# digits; the simulator's receipts are 10 random letters and digits, so about 1 in 20 has no digit and
# would be searched as a payer's name
TILL_RECEIPT_RE = re.compile(r"^(?=.*[A-Za-z])(?=.*[0-9])[A-Za-z0-9]{8,12}$")

# outage_*: seconds of normal traffic before, of Daraja hung (no answer), of Daraja down (connections
# refused), of normal traffic after (the window in which OAuth requests are counted); the product asks
# for 10 minutes of outage, the full run does 2 + 3 (the suite stays under half an hour)
FULL = dict(
    payments=1000, deliveries=10, senders=16, twins=200, tills=20, rounds=50, fuzz=10000, big=20,
    forgeries=10, fault_pushes=10, outage_before=10, outage_hung=120, outage_down=180, outage_after=60,
    pull_lost=100, pull_delivered=10, lookups=20, forged_results=40, several_rounds=25, several_tills=10,
)  # fmt: skip
QUICK = dict(
    payments=60, deliveries=10, senders=8, twins=20, tills=20, rounds=5, fuzz=600, big=3,
    forgeries=2, fault_pushes=2, outage_before=5, outage_hung=10, outage_down=30, outage_after=15,
    pull_lost=10, pull_delivered=3, lookups=4, forged_results=6, several_rounds=4, several_tills=6,
)  # fmt: skip
# The order they run in: outage and lost_confirmations before faults, which moves the simulator's clock
# an hour on (Pull Transactions lists payments by that clock).
SCENARIOS = (
    "replay", "twins", "race", "several", "fuzz", "forgery", "results", "outage", "lost_confirmations",
    "faults",
)  # fmt: skip
# The Daraja client's timeouts (daraja/client.py: timeout=(5, 30), connect and read; the models use
# the default): an STK push with a valid token waits at most 5 + 30 s for Daraja.
DARAJA_CONNECT_TIMEOUT, DARAJA_READ_TIMEOUT = 5, 30
OUTAGE_SENDERS = 3  # = the prefork workers: a push holding a worker 30 s does not queue the others
OUTAGE_PAUSE = 1.0  # seconds between two pushes of one till

SETUP_SCRIPT = r"""
import json
company = env.company
env.ref("base.KES").active = True
n_tills = int(N_TILLS)

def account(name, **vals):
    base = {
        "name": name, "company_id": company.id, "consumer_key": "sim-consumer-key",
        "consumer_secret": "sim-consumer-secret", "passkey": PASSKEY, "callback_base_url": ODOO_URL,
        "match_window": 120,
    }
    base.update(vals)
    return env["mpesa.config"].create(base)

sim = dict(environment="simulator", simulator_url=SIM_URL)
main = account("REL paybill", account_type="paybill", business_shortcode="174379",
               c2b_shortcode="600984", confirm_stk_with_query=False, **sim)
faults = account("REL till", account_type="till", business_shortcode="174380", till_number="174381",
                 confirm_stk_with_query=True, **sim)
# a sandbox account and a production account on one C2B shortcode (the sandbox one sorts first)
twin_sandbox = account("REL twin sandbox", environment="sandbox", account_type="paybill",
                       business_shortcode="600111", c2b_shortcode="600111", sequence=1)
twin_prod = account("REL twin production", environment="production", account_type="paybill",
                    business_shortcode="600111", c2b_shortcode="600111", sequence=2,
                    callback_base_url="https://pos.example.com")
prod_ip = account("REL production allowlist", environment="production", account_type="paybill",
                  business_shortcode="600222", c2b_shortcode="600222",
                  callback_base_url="https://pos.example.com", allowed_ips="196.201.214.200")
company.mpesa_config_id = main

counter = [0]
def method(name, config):
    counter[0] += 1
    journal = env["account.journal"].create(
        {"name": name, "type": "bank", "code": "RL%03d" % counter[0], "company_id": company.id})
    return env["pos.payment.method"].create({
        "name": name, "journal_id": journal.id, "company_id": company.id,
        "payment_method_type": "terminal", "use_payment_terminal": "mpesa", "mpesa_config_id": config.id,
    })

groups = [env.ref("base.group_user").id, env.ref("point_of_sale.group_pos_user").id]
group_field = "group_ids" if "group_ids" in env["res.users"]._fields else "groups_id"
tills = []
for i in range(n_tills + 1):  # the last till is the faults till (account REL till)
    login = "rel_cashier_%02d" % i
    user = env["res.users"].create({
        "name": "REL cashier %02d" % i, "login": login, "password": PASSWORD,
        "company_id": company.id, "company_ids": [(6, 0, [company.id])], group_field: [(6, 0, groups)],
    })
    cfg = faults if i == n_tills else main
    pm = method("REL M-Pesa %02d" % i, cfg)
    pos = env["pos.config"].create({"name": "REL till %02d" % i, "payment_method_ids": [(4, pm.id)]})
    session = env["pos.session"].create({"config_id": pos.id, "user_id": user.id})
    tills.append({"login": login, "pos_config_id": pos.id, "payment_method_id": pm.id,
                  "session_id": session.id, "session_state": session.state})
others = {key: method("REL M-Pesa " + key, cfg).id
          for key, cfg in (("twin_sandbox", twin_sandbox), ("twin_prod", twin_prod), ("prod_ip", prod_ip))}
env.cr.commit()
print("RELIABILITY-SETUP " + json.dumps({
    "tills": tills, "methods": others,
    "accounts": {"main": main.id, "faults": faults.id, "twin_sandbox": twin_sandbox.id,
                 "twin_prod": twin_prod.id, "prod_ip": prod_ip.id},
}))
"""

CRON_SCRIPT = r"""
crons = env["ir.cron"].search([("model_id.model", "=", "mpesa.callback")])
for cron in crons:
    cron.method_direct_trigger()
    env.cr.commit()
print("RELIABILITY-CRON %d" % len(crons))
"""

# The same, for two runs at once: Odoo refuses a job that is already running ("Job '...' already
# executing", a UserError): that refusal is the no-pile-up, counted, not a failure.
CRON_AT_ONCE_SCRIPT = r"""
from odoo.exceptions import UserError
ran = busy = 0
for cron in env["ir.cron"].search([("model_id.model", "=", "mpesa.callback")]):
    try:
        cron.method_direct_trigger()
        env.cr.commit()
        ran += 1
    except UserError as error:
        if "already executing" not in str(error):
            raise
        env.cr.rollback()
        busy += 1
print("RELIABILITY-CRON-AT-ONCE %d %d" % (ran, busy))
"""

PULL_REGISTER_SCRIPT = r"""
config = env["mpesa.config"].browse(int(ACCOUNT))
config.pull_nominated_number = "254722000000"
config.action_register_pull()
env.cr.commit()
print("RELIABILITY-PULL-REGISTERED %s" % config.pull_registered)
"""

PULL_CRON_SCRIPT = r"""
env["mpesa.config"]._cron_pull_c2b()
env.cr.commit()
print("RELIABILITY-PULL-CRON")
"""


# ------------------------------------------------------------------------------------------- results


@dataclass
class Figure:
    scenario: str
    figure: str
    value: object
    target: object
    ok: bool
    note: str = ""


class Report:
    def __init__(self):
        self.rows: list[Figure] = []

    def add(self, scenario, figure, value, target, ok=None, note=""):
        ok = (value == target) if ok is None else ok
        self.rows.append(Figure(scenario, figure, value, target, bool(ok), note))
        say(f"  {scenario}: {figure} = {value} (target {target}) {'ok' if ok else 'FAILED'} {note}".rstrip())

    def error(self, scenario, exc):
        self.rows.append(Figure(scenario, "scenario ran to the end", f"error: {exc}"[:80], "yes", False))
        say(f"  {scenario}: ERROR {exc!r}")

    def table(self) -> str:
        head = ("scenario", "figure", "value", "target", "ok")
        rows = [
            (r.scenario, r.figure, str(r.value), str(r.target), "ok" if r.ok else "FAIL") for r in self.rows
        ]
        widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=False)]
        line = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
        out = [line.format(*head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        out += [line.format(*row) for row in rows]
        return "\n".join(out)

    def counts(self):
        passed = sum(r.ok for r in self.rows)
        return passed, len(self.rows) - passed


# ------------------------------------------------------------------------------------------- HTTP


class Http:
    """Thread-local requests sessions; POS sessions share one server-side login per till."""

    # The POS waits for its server without a deadline; the client here waits 150 s, long enough for
    # the "push timeout" faults run, where 10 pushes each hold one of 3 workers for Daraja's 30 s.
    def __init__(self, base, db, timeout=150):
        import requests

        self.requests = requests
        self.base, self.db, self.timeout = base, db, timeout
        self.local = threading.local()
        self.cookies: dict[str, str] = {}
        self.lock = threading.Lock()
        self.rpc_failures = 0  # HTTP >= 500, transport errors, JSON-RPC errors on the /mpesa/* routes
        self.rpc_calls = 0
        self.rpc_samples: list[str] = []  # the first few failures, for the report

    def _session(self, login=None):
        sessions = getattr(self.local, "sessions", None)
        if sessions is None:
            sessions = self.local.sessions = {}
        if login not in sessions:
            session = self.requests.Session()
            session.trust_env = False  # loopback only: never a proxy from the environment
            if login and not login.startswith("__"):
                session.cookies.set("session_id", self.cookie(login))
            sessions[login] = session
        return sessions[login]

    def cookie(self, login):
        with self.lock:
            if login in self.cookies:
                return self.cookies[login]
        session = self.requests.Session()
        session.trust_env = False
        password = "admin" if login == "admin" else PASSWORD
        r = session.post(
            f"{self.base}/web/session/authenticate",
            json={
                "jsonrpc": "2.0",
                "method": "call",
                "params": {"db": self.db, "login": login, "password": password},
            },
            timeout=self.timeout,
        )
        data = r.json()
        if "error" in data or not (data.get("result") or {}).get("uid"):
            fail(f"login {login} failed: {str(data)[:300]}")
        with self.lock:
            self.cookies[login] = session.cookies["session_id"]
            return self.cookies[login]

    def rpc(self, login, route, **params):
        """JSON-RPC to a POS route as `login`; a server error becomes {"success": False, "rpc_error": ...}."""
        with self.lock:
            self.rpc_calls += 1
        try:
            r = self._session(login).post(
                f"{self.base}{route}",
                json={"jsonrpc": "2.0", "method": "call", "id": 1, "params": params},
                timeout=self.timeout,
            )
            if r.status_code >= 500:
                raise ValueError(f"HTTP {r.status_code}")
            data = r.json()
        except (self.requests.RequestException, ValueError) as exc:
            return self._rpc_failed(route, f"{type(exc).__name__}: {exc}")
        if "error" in data:
            error = data["error"]
            detail = (
                (error.get("data") or {}).get("name") or error.get("message")
                if isinstance(error, dict)
                else error
            )
            return self._rpc_failed(route, str(detail))
        return data.get("result") or {}

    def _rpc_failed(self, route, detail):
        with self.lock:
            self.rpc_failures += 1
            if len(self.rpc_samples) < 3:
                self.rpc_samples.append(f"{route}: {detail[:120]}")
        return {"success": False, "rpc_error": detail[:300]}

    def post_raw(self, path, body: bytes, headers=None):
        """POST bytes to the server; (status or None when no answer, response text)."""
        try:
            r = self._session().post(
                f"{self.base}{path}",
                data=body,
                headers={"Content-Type": "application/json;charset=UTF-8", **(headers or {})},
                timeout=self.timeout,
            )
            return r.status_code, r.text[:500]
        except self.requests.RequestException as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300]

    def sim(self, sim_url, path, body=None):
        session = self._session("__sim__")
        if body is None:
            r = session.get(f"{sim_url}/__sim__/{path}", timeout=30)
        else:
            r = session.post(f"{sim_url}/__sim__/{path}", json=body, timeout=30)
        if r.status_code != 200:
            fail(f"simulator {path}: HTTP {r.status_code} {r.text[:300]}")
        return r.json()


def parallel(func, items, workers, timeout=900):
    """func(item) for every item on `workers` threads; results in order. Bounded by len(items) and timeout."""
    items = list(items)
    with cf.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(func, item) for item in items]
        _done, pending = cf.wait(futures, timeout=timeout)
        for future in pending:
            future.cancel()
        if pending:
            fail(f"{len(pending)} of {len(items)} tasks still running after {timeout} s")
        return [f.result() for f in futures]


# ------------------------------------------------------------------------------------------- payloads


def _dumps(payload) -> bytes:
    sys.path.insert(0, str(REPO))
    from daraja_simulator.jsonutil import dumps  # Decimal verbatim: Daraja's "Amount": 10.00

    return dumps(payload).encode()


def eat_now() -> str:
    return datetime.now(EAT).strftime("%Y%m%d%H%M%S")


class Ids:
    """Unique receipts (10 upper-case alphanumerics, like Daraja's) and phone numbers for this run."""

    def __init__(self, rng):
        self.rng = rng
        self.lock = threading.Lock()
        self.seen = set()
        self.phone_seq = 0

    def receipt(self, prefix="T"):
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
        with self.lock:
            while True:
                value = prefix + "".join(self.rng.choice(alphabet) for _ in range(10 - len(prefix)))
                if value not in self.seen:
                    self.seen.add(value)
                    return value

    def phone(self, suffix):
        """254 7XX XXX XSS: unique middle digits, the simulator's scenario suffix SS at the end."""
        with self.lock:
            self.phone_seq += 1
            return f"2547{self.phone_seq:06d}{suffix}"


def stk_body(checkout_id, merchant_id, amount, receipt, phone, result_code=0) -> dict:
    body = {
        "MerchantRequestID": merchant_id,
        "CheckoutRequestID": checkout_id,
        "ResultCode": result_code,
        "ResultDesc": "The service request is processed successfully.",
    }
    if result_code == 0:
        body["CallbackMetadata"] = {
            "Item": [
                {"Name": "Amount", "Value": Decimal(amount).quantize(Decimal("0.01"))},
                {"Name": "MpesaReceiptNumber", "Value": receipt},
                {"Name": "Balance"},
                {"Name": "TransactionDate", "Value": int(eat_now())},
                {"Name": "PhoneNumber", "Value": int(phone)},
            ]
        }
    return {"Body": {"stkCallback": body}}


def c2b_body(trans_id, amount, shortcode="600984", msisdn="254708374149") -> dict:
    return {
        "TransactionType": "Pay Bill",
        "TransID": trans_id,
        "TransTime": eat_now(),
        "TransAmount": f"{amount}.00",
        "BusinessShortCode": shortcode,
        "BillRefNumber": "REL",
        "InvoiceNumber": "",
        "OrgAccountBalance": "1000.00",
        "ThirdPartyTransID": "",
        "MSISDN": hashlib.sha256(msisdn.encode()).hexdigest(),
        "FirstName": "JOHN",
        "MiddleName": "",
        "LastName": "DOE",
    }


# ------------------------------------------------------------------------------------------- the fuzz oracle

_RECEIPT_RE = re.compile(r"[A-Za-z0-9]{6,20}")
_AMOUNT_RE = re.compile(r"[0-9]{1,6}(\.[0-9]{1,2})?")


def _no_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, dict):
        return all(_no_nul(k) and _no_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_no_nul(v) for v in value)
    return True


def well_formed_c2b(body: bytes) -> str | None:
    """The TransID when `body` is a well-formed C2B notification per Daraja's documented shape, else None.

    Well-formed: at most 64 KiB, strict UTF-8 JSON object, no NUL in any string, TransID 6-20 letters
    and digits, TransAmount a positive number (string or number, at most 2 decimals), BusinessShortCode
    5-7 digits. Other fields are not judged (Daraja is loosely typed)."""
    if len(body) > MAX_RAW:
        return None
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not _no_nul(data):
        return None
    trans_id, amount, shortcode = data.get("TransID"), data.get("TransAmount"), data.get("BusinessShortCode")
    if not isinstance(trans_id, str) or not _RECEIPT_RE.fullmatch(trans_id):
        return None
    if isinstance(amount, bool) or not isinstance(amount, (str, int, float)):
        return None
    if not _AMOUNT_RE.fullmatch(str(amount)) or Decimal(str(amount)) <= 0:
        return None
    if (
        isinstance(shortcode, bool)
        or not isinstance(shortcode, (str, int))
        or not re.fullmatch(r"[0-9]{5,7}", str(shortcode))
    ):
        return None
    return trans_id


def mutate(rng, raw: bytes, kind: str) -> tuple[bytes, str]:
    """One malformation of a valid body (the fuzz scenario's kinds); (body, what was done)."""
    if kind in ("retype_key", "retype_other"):
        return _retype(rng, raw, kind)
    return _mutate(rng, raw, kind), kind


def _mutate(rng, raw: bytes, kind: str) -> bytes:
    if kind == "flip":
        data = bytearray(raw)
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(data))
            data[pos] ^= 1 << rng.randrange(8)
        return bytes(data)
    if kind == "truncate":
        return raw[: rng.randrange(len(raw))]
    if kind == "nul_raw":
        pos = rng.randrange(len(raw) + 1)
        return raw[:pos] + b"\x00" + raw[pos:]
    if kind == "nul_escaped":  # valid JSON, a NUL in a value: PostgreSQL text cannot hold it
        key = rng.choice(
            [b'"TransID": "', b'"FirstName": "', b'"BillRefNumber": "', b'"MerchantRequestID": "']
        )
        if key in raw:
            return raw.replace(key, key + b"\\u0000", 1)
        return raw.replace(b'": "', b'": "\\u0000', 1)
    if kind == "invalid_utf8":
        bad = rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])
        pos = rng.randrange(len(raw) + 1)
        return raw[:pos] + bad + raw[pos:]
    if kind == "deep":
        depth = rng.choice([2000, 10000, 50000])
        nest = (b"[" * depth) + b"1" + (b"]" * depth)
        if rng.random() < 0.5:
            return nest
        return raw[:-1] + b', "Extra": ' + nest + b"}"
    if kind == "big":
        return raw[:-1] + b', "Padding": "' + b"A" * (1024 * 1024 + rng.randrange(65536)) + b'"}'
    raise ValueError(kind)


def _retype(rng, raw: bytes, kind: str) -> tuple[bytes, str]:
    """A documented field given a type Daraja never sends (key fields, or any other field)."""
    data = json.loads(raw)
    target = data["Body"]["stkCallback"] if "Body" in data else data
    keys = (
        ["TransID", "TransAmount", "BusinessShortCode"]
        if "TransID" in target
        else ["CheckoutRequestID", "ResultCode", "CallbackMetadata"]
    )
    if kind == "retype_other":
        keys = [k for k in target if k not in keys] or keys
    key = rng.choice(keys)
    value = rng.choice([None, True, [], {}, [target.get(key)], {"value": target.get(key)}, -1, 1e309])
    target[key] = value
    return json.dumps(data).encode(), f"{kind} {key}={json.dumps(value)[:20]}"


# ------------------------------------------------------------------------------------------- results, several


def forged_results(rng, n: int, marker: str) -> list[tuple[str, bytes]]:
    """n results nobody asked for, as M-Pesa's Result envelope with an unknown OriginatorConversationID
    (kind "unknown") or as garbage that is not a Result at all (kind "garbage"); every body non-empty
    and under 64 KiB, and carrying `marker` so its row can be found."""
    out = []
    for i in range(n):
        if i % 2 == 0:
            result = {
                "ResultType": 0, "ResultCode": 0, "ResultDesc": f"{marker} forged {i}",
                "OriginatorConversationID": f"{marker}-{i}-{rng.randrange(10**9)}",
                "ConversationID": f"AG_20260101_{marker}{i:04d}",
                "TransactionID": f"F{i:09d}"[:10],
            }  # fmt: skip
            out.append(("unknown", json.dumps({"Result": result}).encode()))
        else:
            garbage = rng.choice(
                [
                    b"{not json " + marker.encode(),
                    json.dumps([marker, i]).encode(),
                    json.dumps({"Result": marker}).encode(),
                    json.dumps({"Result": {"ResultDesc": marker, "ResultCode": "x"}}).encode(),
                    b"\xff\xfe " + marker.encode(),
                ]
            )
            out.append(("garbage", garbage))
    return out


def overlapping_sets(n_tills: int, rng) -> list[list[int]]:
    """For one round of "several": payment indexes 0..n_tills-1 on a ring, till i takes 2 or 3
    consecutive ones from i, so every payment is wanted by two or three tills."""
    return [[(i + k) % n_tills for k in range(rng.choice((2, 3)))] for i in range(n_tills)]


def several_verdict(orders: list[dict], claimed_by: dict) -> dict:
    """Figures of one "several" round. orders: {"key", "ids", "success"}; claimed_by: callback id ->
    claim_order_key in the database ("" when unclaimed). Returns counts: orders with part of their set
    (some but not all of its payments claimed for it), orders told success without all of them,
    payments claimed for an order that was refused, payments claimed for two orders told success."""
    partial = told_wrong = for_refused = 0
    winners = {}
    for order in orders:
        mine = [claimed_by.get(cid) == order["key"] for cid in order["ids"]]
        partial += any(mine) and not all(mine)
        if order["success"]:
            told_wrong += not all(mine)
            for cid in order["ids"]:
                winners[cid] = winners.get(cid, 0) + 1
        else:
            for_refused += sum(mine)
    return {
        "partial": partial,
        "told_wrong": told_wrong,
        "for_refused": for_refused,
        "twice": sum(1 for n in winners.values() if n > 1),
        "won": sum(1 for order in orders if order["success"]),
    }


# ------------------------------------------------------------------------------------------- the suite


def _by_kind(counts: dict) -> str:
    return ", ".join(f"{kind}: {n}" for kind, n in sorted(counts.items()))


class Suite:
    def __init__(self, live, setup, counts, report, rng, log):
        self.live, self.counts, self.report, self.rng = live, counts, report, rng
        self.http = Http(live.odoo_url, live.db)
        self.ids = Ids(rng)
        self.tills = setup["tills"][:-1]
        self.fault_till = setup["tills"][-1]
        self.methods = setup["methods"]
        self.accounts = setup["accounts"]
        self.log = log
        rows = live.sql("SELECT id, callback_token FROM mpesa_config")
        self.tokens = {int(i): tok for i, tok in rows}
        self.senders = counts["senders"]

    # -- helpers -------------------------------------------------------------------------------

    def token(self, account):
        return self.tokens[self.accounts[account]]

    def sim(self, path, body=None):
        return self.http.sim(self.live.sim_url, path, body)

    def options(self, **options):
        return self.sim("options", options)

    def rows(self, where="TRUE"):
        """mpesa.callback rows as dicts (a few columns; raw payloads are not read)."""
        cols = [
            "id", "callback_type", "status", "checkout_request_id", "mpesa_receipt_number", "duplicate_count",
            "is_claimed", "duplicate_of_id", "config_id", "amount", "stk_abandoned",
        ]  # fmt: skip
        out = []
        for values in self.live.sql(
            f"SELECT {', '.join(cols)} FROM mpesa_callback WHERE {where} ORDER BY id"
        ):
            row = dict(zip(cols, values, strict=True))
            row["id"] = int(row["id"])
            row["duplicate_count"] = int(row["duplicate_count"] or 0)
            row["is_claimed"] = row["is_claimed"] == "t"
            row["stk_abandoned"] = row["stk_abandoned"] == "t"
            out.append(row)
        return out

    def tally(self):
        """(rows, sum of duplicate_count, rejections the server counts): see README "accounted for"."""
        rows, dups = self.live.sql("SELECT count(*), COALESCE(sum(duplicate_count), 0) FROM mpesa_callback")[
            0
        ]
        return int(rows), int(dups), self.counted_rejections()

    def counted_rejections(self) -> int:
        """Rejections the server counts: `count` of mpesa_*reject* tables, *reject*count* columns."""
        found = self.live.sql(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_name LIKE 'mpesa%' AND data_type IN ('integer', 'bigint') AND "
            "(column_name LIKE '%reject%count%' OR (table_name LIKE '%reject%' AND column_name = 'count'))"
        )
        total = 0
        for table, column in found:
            total += int(self.live.sql(f'SELECT COALESCE(sum("{column}"), 0) FROM "{table}"')[0][0])
        return total

    def push(self, till, phone, amount, reference=None):
        return self.http.rpc(
            till["login"],
            "/mpesa/stk_push",
            phone_number=phone,
            amount=amount,
            order_reference=reference or f"REL-{uuid.uuid4().hex[:8]}",
            payment_method_id=till["payment_method_id"],
            pos_config_id=till["pos_config_id"],
        )

    def search(self, till, amount, method_id=None):
        answer = self.http.rpc(
            till["login"],
            "/mpesa/search_unreconciled_callbacks",
            amount=amount,
            payment_method_id=method_id or till["payment_method_id"],
            pos_config_id=None if method_id else till["pos_config_id"],
        )
        return answer.get("callbacks") or [] if answer.get("success") else []

    def claim(self, till, callback_id):
        answer = self.http.rpc(
            till["login"],
            "/mpesa/reconcile_callback",
            callback_id=callback_id,
            order_id=str(uuid.uuid4()),
            payment_method_id=till["payment_method_id"],
            pos_config_id=till["pos_config_id"],
        )
        return bool(answer.get("success"))

    def wait_status(self, till, checkout_id, limit=90.0, every=2.0):
        """Poll check_status like the till (bounded): the last answer."""
        deadline = time.monotonic() + limit
        answer = {}
        while time.monotonic() < deadline:
            answer = self.http.rpc(till["login"], "/mpesa/check_status", checkout_request_id=checkout_id)
            if answer.get("status") != "pending" and not answer.get("rpc_error"):
                return answer
            time.sleep(every)
        return answer

    def money(self, payments):
        """Payments M-Pesa made, as (label, CheckoutRequestID or None, receipt): ({label: lost},
        {label: counted twice}). Lost: no row of its CheckoutRequestID or receipt is success or needs
        review. Counted twice: more than one such row that is not marked a duplicate of another."""
        keys = {cid for _label, cid, _receipt in payments if cid}
        receipts = {receipt for _label, _cid, receipt in payments if receipt}
        if not payments:
            return {}, {}
        cids_sql = ", ".join(f"'{c}'" for c in keys) or "''"
        receipts_sql = ", ".join(f"'{r}'" for r in receipts) or "''"
        by_cid, by_receipt = {}, {}
        for row in self.rows(
            f"checkout_request_id IN ({cids_sql}) OR mpesa_receipt_number IN ({receipts_sql})"
        ):
            if row["checkout_request_id"]:
                by_cid.setdefault(row["checkout_request_id"], []).append(row)
            if row["mpesa_receipt_number"]:
                by_receipt.setdefault(row["mpesa_receipt_number"], []).append(row)
        lost, twice = {}, {}
        for label, cid, receipt in payments:
            found = {r["id"]: r for r in [*by_cid.get(cid, []), *by_receipt.get(receipt, [])]}.values()
            live = [r for r in found if r["status"] in LIVE]
            if not live:
                lost[label] = lost.get(label, 0) + 1
            if len([r for r in live if not r["duplicate_of_id"]]) > 1:
                twice[label] = twice.get(label, 0) + 1
        return lost, twice

    def register_c2b(self, account):
        answer = self.http.rpc("admin", "/mpesa/register_c2b_urls", mpesa_config_id=self.accounts[account])
        if not answer.get("success"):
            fail(f"registering the C2B URLs of {account} failed: {answer}")

    # -- 1. replays ----------------------------------------------------------------------------

    def replay(self):
        """N payments (half STK, half C2B), each delivered D times, all shuffled, S concurrent senders."""
        name = f"{self.counts['payments']:,} payments x {self.counts['deliveries']} deliveries"
        n = self.counts["payments"]
        n_stk, deliveries = n // 2, self.counts["deliveries"]
        self.options(prompt_timeout=3600.0, stk_c2b_twin="off")
        tills = self.tills

        def do_push(i):
            till = tills[i % len(tills)]
            phone, amount = self.ids.phone("77"), 1000 + i  # 77: the prompt waits (we answer it ourselves)
            answer = self.push(till, phone, amount)
            return till, phone, amount, answer

        pushed = parallel(do_push, range(n_stk), self.senders)
        payments = []  # (kind, key, amount, till, body, path, headers)
        for till, phone, amount, answer in pushed:
            if not answer.get("success"):
                continue
            receipt = self.ids.receipt("S")
            body = stk_body(
                answer["checkout_request_id"], answer["merchant_request_id"], amount, receipt, phone
            )
            payments.append(
                {"kind": "stk", "cid": answer["checkout_request_id"], "receipt": receipt, "amount": amount,
                 "till": till, "raw": _dumps(body), "path": STK_PATH % self.token("main"),
                 "headers": {"BusinessShortCode": "174379"}}
            )  # fmt: skip
        self.report.add(name, "STK pushes accepted (setup)", len(payments), n_stk)
        for j in range(n - n_stk):
            receipt, amount = self.ids.receipt("C"), 1000 + n_stk + j
            payments.append(
                {
                    "kind": "c2b",
                    "cid": None,
                    "receipt": receipt,
                    "amount": amount,
                    "till": tills[j % len(tills)],
                    "raw": _dumps(c2b_body(receipt, amount)),
                    "path": CONFIRM_PATH % self.token("main"),
                    "headers": {},
                }
            )
        shots = [p for p in payments for _ in range(deliveries)]
        self.rng.shuffle(shots)
        cids = ", ".join(f"'{p['cid']}'" for p in payments if p["cid"]) or "''"
        pending_sql = "SELECT count(*) FROM mpesa_callback WHERE status = 'pending' AND "
        pending_sql += f"checkout_request_id IN ({cids})"
        before, pending_before = self.tally(), int(self.live.sql(pending_sql)[0][0])
        results = parallel(
            lambda p: self.http.post_raw(p["path"], p["raw"], p["headers"]), shots, self.senders
        )
        after, pending_after = self.tally(), int(self.live.sql(pending_sql)[0][0])
        refused = sum(1 for status, _ in results if status != 200)
        self.report.add(name, "deliveries not answered 200", refused, 0)
        # a row per new payment, the completion of each pending STK row, duplicate_count for the rest
        accounted = sum(a - b for a, b in zip(after, before, strict=True)) + pending_before - pending_after
        self.report.add(name, "deliveries not accounted for", abs(len(shots) - accounted), 0)

        by_cid, by_receipt = {}, {}
        for row in self.rows("status <> 'invalid'"):
            if row["checkout_request_id"]:
                by_cid.setdefault(row["checkout_request_id"], set()).add(row["id"])
            if row["mpesa_receipt_number"]:
                by_receipt.setdefault(row["mpesa_receipt_number"], set()).add(row["id"])
        counts = [len(by_cid.get(p["cid"], set()) | by_receipt.get(p["receipt"], set())) for p in payments]
        self.report.add(name, "rows per payment (min/max)", f"{min(counts)}/{max(counts)}", "1/1")

        def claims(p):
            """How many times the tills get this payment: the pushing till's check_status, then two
            other tills searching its (unique) amount and claiming whatever is offered, twice."""
            got = 0
            if p["kind"] == "stk":
                answer = self.wait_status(p["till"], p["cid"], limit=20)
                got += answer.get("status") == "completed"
            others = [t for t in tills if t is not p["till"]][:2]
            for other in others:
                for offered in self.search(other, p["amount"]):
                    got += self.claim(other, offered["id"])
                    got += self.claim(others[-1], offered["id"])  # the same row once more
            return got

        got = parallel(claims, payments, self.senders)
        self.report.add(name, "payments claimable twice", sum(1 for g in got if g >= 2), 0)
        self.report.add(
            name, "payments claimable once (control)", sum(1 for g in got if g >= 1), len(payments)
        )

    # -- 2. STK payments and their C2B twin at the same moment ---------------------------------

    def twins(self):
        name = f"{self.counts['twins']} STK payments + C2B twin at once"
        self.register_c2b("main")
        self.options(stk_c2b_twin="same_moment", callback_delay=0.5, prompt_timeout=45.0)
        tills = self.tills

        def one(i):
            till, amount = tills[i % len(tills)], 5000 + i
            answer = self.push(till, self.ids.phone("00"), amount)  # 00: paid at once
            if not answer.get("success"):
                return None
            status = self.wait_status(till, answer["checkout_request_id"], limit=40, every=1.0)
            return {"till": till, "amount": amount, "cid": answer["checkout_request_id"], "status": status}

        taken = [r for r in parallel(one, range(self.counts["twins"]), self.senders) if r]
        taken = [r for r in taken if r["status"].get("status") == "completed"]
        self.report.add(name, "taken by the pushing till (control)", len(taken), self.counts["twins"])
        # the simulator delivers the pairs one race at a time: wait (bounded) until every twin is answered
        deadline = time.monotonic() + 120
        while True:
            sent = [c for c in self.sim("callbacks")["callbacks"] if c["kind"] == "c2b_confirmation"]
            answered = [c for c in sent if c["http_status"] is not None or c["error"]]
            if len(answered) >= len(taken) or time.monotonic() > deadline:
                break
            time.sleep(1)
        self.report.add(
            name,
            "C2B twins answered 200 (control)",
            sum(1 for c in sent if c["http_status"] == 200),
            len(taken),
        )

        def offered_again(r):
            other = tills[(tills.index(r["till"]) + 1) % len(tills)]
            offers = self.search(other, r["amount"])
            claimed = any(self.claim(other, offer["id"]) for offer in offers)
            return bool(offers) or claimed

        again = parallel(offered_again, taken, self.senders)
        self.report.add(name, "payments offered again after the STK till took them", sum(again), 0)
        self.options(stk_c2b_twin="after")

    # -- 3. 20 tills racing for one payment ----------------------------------------------------

    def race(self):
        tills = self.tills
        name = f"{len(tills)} tills racing x {self.counts['rounds']} rounds"
        bad = 0
        for r in range(self.counts["rounds"]):
            receipt, amount = self.ids.receipt("R"), 9000 + r
            status, _ = self.http.post_raw(
                CONFIRM_PATH % self.token("main"), _dumps(c2b_body(receipt, amount))
            )
            offers = self.search(tills[0], amount) if status == 200 else []
            if len(offers) != 1:
                bad += 1
                continue
            barrier = threading.Barrier(len(tills))

            def claim(till, callback_id=offers[0]["id"], barrier=barrier):
                # every till logged in already (cookie), then all ask at the same moment
                self.http.cookie(till["login"])
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait(timeout=30)
                return self.claim(till, callback_id)

            winners = sum(parallel(claim, tills, len(tills)))
            bad += winners != 1
        self.report.add(name, "rounds with != 1 winner", bad, 0)

    # -- 3b. several payments for one order, tills racing for overlapping sets ------------------

    def several(self):
        """Each round: one C2B payment per till on a ring; every till ticks 2 or 3 neighbouring payments
        for an order of its own (`/mpesa/reconcile_callbacks`, their exact sum), all behind one barrier.
        Every payment is wanted by two or three tills: each order must get all of its set or none."""
        rounds, n = self.counts["several_rounds"], self.counts["several_tills"]
        tills = self.tills[:n]
        name = f"{n} tills, overlapping sets x {rounds} rounds"
        failures_before = self.http.rpc_failures
        totals = {"partial": 0, "told_wrong": 0, "for_refused": 0, "twice": 0, "won": 0}
        rounds_without_winner = stored = 0
        for r in range(rounds):
            receipts = [self.ids.receipt("V") for _ in range(n)]
            amounts = [41000 + 100 * r + i for i in range(n)]
            for receipt, amount in zip(receipts, amounts, strict=True):
                status, _ = self.http.post_raw(
                    CONFIRM_PATH % self.token("main"), _dumps(c2b_body(receipt, amount))
                )
                stored += status == 200
            quoted = ", ".join(f"'{x}'" for x in receipts)
            ids = {
                row["mpesa_receipt_number"]: row["id"]
                for row in self.rows(f"mpesa_receipt_number IN ({quoted}) AND status = 'success'")
            }
            if len(ids) != n:
                rounds_without_winner += 1
                continue
            sets = overlapping_sets(n, self.rng)
            barrier = threading.Barrier(n)

            def tick(i, sets=sets, ids=ids, receipts=receipts, amounts=amounts, barrier=barrier):
                till = tills[i]
                key = str(uuid.uuid4())
                chosen = [ids[receipts[j]] for j in sets[i]]
                self.http.cookie(till["login"])
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait(timeout=30)
                answer = self.http.rpc(
                    till["login"], "/mpesa/reconcile_callbacks", callback_ids=chosen,
                    amount=sum(amounts[j] for j in sets[i]), order_id=key,
                    payment_method_id=till["payment_method_id"], pos_config_id=till["pos_config_id"],
                )  # fmt: skip
                return {"key": key, "ids": chosen, "success": bool(answer.get("success"))}

            orders = parallel(tick, range(n), n)
            claimed_by = {
                int(cid): key
                for cid, key in self.live.sql(
                    "SELECT id, COALESCE(claim_order_key, '') FROM mpesa_callback "
                    f"WHERE id IN ({', '.join(str(i) for i in ids.values())})"
                )
            }
            verdict = several_verdict(orders, claimed_by)
            for key, value in verdict.items():
                totals[key] += value
            rounds_without_winner += verdict["won"] == 0
        self.report.add(name, "payments stored (setup)", stored, rounds * n)
        self.report.add(
            name, "orders with part of their payments", totals["partial"], 0,
            note=f"{totals['won']} orders got their set",
        )  # fmt: skip
        self.report.add(name, "orders told success without all of their set", totals["told_wrong"], 0)
        self.report.add(name, "payments claimed for an order that was refused", totals["for_refused"], 0)
        self.report.add(name, "payments claimed by two orders", totals["twice"], 0)
        self.report.add(name, "rounds with no order served (control)", rounds_without_winner, 0)
        self.report.add(name, "HTTP 5xx / JSON-RPC errors", self.http.rpc_failures - failures_before, 0)

    # -- 4. fuzz ------------------------------------------------------------------------------

    def fuzz(self):
        total, big = self.counts["fuzz"], self.counts["big"]
        name = f"{total:,} fuzzed bodies"
        kinds = [
            "flip",
            "truncate",
            "nul_raw",
            "nul_escaped",
            "invalid_utf8",
            "deep",
            "retype_key",
            "retype_other",
        ]
        main_token = self.token("main")
        targets = [
            (CONFIRM_PATH % main_token, "c2b", 45),
            (PUBLIC_PATH, "c2b", 20),
            (STK_PATH % main_token, "stk", 20),
            (VALIDATE_PATH % main_token, "c2b", 10),
            (CONFIRM_PATH % secrets.token_hex(24), "c2b", 5),  # nobody's token
        ]
        weights = [w for _, _, w in targets]
        requests_, valid_receipts, controls, seed_kind = [], set(), [], {}
        for i in range(total):
            path, shape, _ = self.rng.choices(targets, weights)[0]
            amount, seed = 20000 + i, self.ids.receipt("F")
            if shape == "c2b":
                raw = _dumps(c2b_body(seed, amount))
            else:  # an STK result for a CheckoutRequestID nobody created: never a payment
                cid = f"ws_CO_{eat_now()}{i:08d}"
                raw = _dumps(stk_body(cid, f"{i}-REL-1", amount, seed, "254708374149"))
            if i < big:
                kind = "big"
            elif i % 20 == 0:
                kind = "none"  # an untouched control body
            else:
                kind = kinds[i % len(kinds)]
            body, label = (raw, kind) if kind == "none" else mutate(self.rng, raw, kind)
            seed_kind[seed] = label
            if shape == "c2b":
                trans_id = well_formed_c2b(body)
                if trans_id:
                    valid_receipts.add(trans_id)
                    seed_kind.setdefault(trans_id, label)
                    if kind == "none" and path == CONFIRM_PATH % main_token:
                        controls.append(trans_id)
            requests_.append((path, body, kind))
        first_id = int(self.live.sql("SELECT COALESCE(max(id), 0) FROM mpesa_callback")[0][0])
        before = self.tally()
        results = parallel(lambda item: self.http.post_raw(item[0], item[1]), requests_, self.senders)
        after = self.tally()
        errors = {}
        for (_path, _body, kind), (status, _text) in zip(requests_, results, strict=True):
            if status is None or status >= 500:
                errors[kind] = errors.get(kind, 0) + 1
        self.report.add(name, "HTTP 5xx or no answer", sum(errors.values()), 0, note=_by_kind(errors))
        accounted = sum(a - b for a, b in zip(after, before, strict=True))
        self.report.add(name, "requests not accounted for", abs(total - accounted), 0)
        made = self.rows(f"id > {first_id} AND status = 'success'")
        wrong = {}
        for row in made:
            if row["mpesa_receipt_number"] not in valid_receipts:
                kind = seed_kind.get(row["mpesa_receipt_number"], "mutated id")
                wrong[kind] = wrong.get(kind, 0) + 1
        self.report.add(
            name, "payments made from malformed bodies", sum(wrong.values()), 0, note=_by_kind(wrong)
        )
        paid = {r["mpesa_receipt_number"] for r in made}
        self.report.add(
            name, "untouched control bodies paid (control)", sum(c in paid for c in controls), len(controls)
        )

    # -- 5. forgeries --------------------------------------------------------------------------

    def forgery(self):
        name = "forgeries"
        k = self.counts["forgeries"]
        till = self.tills[0]
        prod_ip, twin_prod = self.methods["prod_ip"], self.methods["twin_prod"]
        amount_seq = iter(range(40000, 41000))
        cases = []  # (label, receipt, amount, search method ids to look in)

        def c2b(label, path, shortcode, look_in, headers=None, target=None):
            """A forged confirmation; accepted when a till of look_in is offered it, or it became a
            successful row (of the target account when given, else of any account)."""
            receipt, amount = self.ids.receipt("X"), next(amount_seq)
            self.http.post_raw(path, _dumps(c2b_body(receipt, amount, shortcode)), headers)
            cases.append((label, receipt, amount, look_in, target))

        for _ in range(k):
            c2b("no token, production account", PUBLIC_PATH, "600222", [prod_ip])
            c2b("twin-shortcode account", PUBLIC_PATH, "600111", [twin_prod])
            c2b("wrong token", CONFIRM_PATH % secrets.token_hex(24), "600984", [None])
            sandbox_url = CONFIRM_PATH % self.token("twin_sandbox")
            c2b("another account's token", sandbox_url, "600222", [prod_ip], target=self.accounts["prod_ip"])
            c2b("another account's token", sandbox_url, "600984", [None], target=self.accounts["main"])
            c2b("IP not allowed", PUBLIC_PATH, "600222", [prod_ip], {"X-Forwarded-For": "196.201.214.200"})
        accepted = {}
        for label, receipt, amount, look_in, target in cases:
            rows = self.rows(f"mpesa_receipt_number = '{receipt}'")
            paid = any(r["status"] == "success" and target in (None, int(r["config_id"] or 0)) for r in rows)
            offered = any(
                offer.get("mpesa_receipt_number") == receipt or offer.get("trans_id") == receipt
                for method in look_in
                for offer in self.search(till, amount, method)
            )
            accepted[label] = accepted.get(label, 0) + (paid or offered)

        # forged STK results for a real pending push (the prompt waits): wrong token, another account's
        self.options(prompt_timeout=3600.0)
        for label, path in (
            ("wrong token (STK)", STK_PATH % secrets.token_hex(24)),
            ("another account's token (STK)", STK_PATH % self.token("twin_sandbox")),
        ):
            for _ in range(k):
                phone, amount = self.ids.phone("77"), next(amount_seq)
                answer = self.push(till, phone, amount)
                if not answer.get("success"):
                    accepted[label] = accepted.get(label, 0) + 1  # cannot test: counted against
                    continue
                cid = answer["checkout_request_id"]
                body = stk_body(cid, answer["merchant_request_id"], amount, self.ids.receipt("X"), phone)
                self.http.post_raw(path, _dumps(body), {"BusinessShortCode": "174379"})
                rows = self.rows(f"checkout_request_id = '{cid}'")
                accepted[label] = accepted.get(label, 0) + any(r["status"] == "success" for r in rows)

        # a cashier gives up another till's push
        label = "cancel of another till's push"
        for _ in range(k):
            answer = self.push(self.tills[1], self.ids.phone("77"), next(amount_seq))
            if not answer.get("success"):
                accepted[label] = accepted.get(label, 0) + 1
                continue
            cid = answer["checkout_request_id"]
            cancel = self.http.rpc(till["login"], "/mpesa/cancel_stk", checkout_request_id=cid)
            row = self.rows(f"checkout_request_id = '{cid}'")
            accepted[label] = accepted.get(label, 0) + bool(
                cancel.get("success") or (row and row[0]["stk_abandoned"])
            )

        for label, count in accepted.items():
            self.report.add(name, f"accepted: {label}", count, 0)
        # the control: the same notification with the right token is accepted
        ok = 0
        for _ in range(k):
            receipt, amount = self.ids.receipt("X"), next(amount_seq)
            self.http.post_raw(
                CONFIRM_PATH % self.token("prod_ip"), _dumps(c2b_body(receipt, amount, "600222"))
            )
            ok += any(o.get("mpesa_receipt_number") == receipt for o in self.search(till, amount, prod_ip))
        self.report.add(name, "right token on production offered (control)", ok, k)

    # -- 6a. results of receipt lookups: twice, timed out, forged -------------------------------

    def _deliveries(self, kinds, references, expected, limit=60.0):
        """The simulator's deliveries of these kinds for these references, once `expected` of them are
        done (an HTTP status or an error), or when `limit` seconds have passed."""
        deadline = time.monotonic() + limit
        while True:
            found = [
                c
                for c in self.sim("callbacks")["callbacks"]
                if c["kind"] in kinds and c["reference"] in references
            ]
            done = [c for c in found if c["http_status"] is not None or c["error"]]
            if len(done) >= expected or time.monotonic() > deadline:
                return done
            time.sleep(0.5)

    def results(self):
        """Receipt codes Odoo never received (C2B delivery "lost") searched by tills: each search asks
        M-Pesa (Transaction Status), whose result comes twice, or as a queue timeout, or once; then
        results nobody asked for are posted to the account's result and timeout URLs (unknown
        OriginatorConversationID, garbage), and results for real requests with a wrong token."""
        n, n_forged = self.counts["lookups"], self.counts["forged_results"]
        name = "lookup results: twice, timeout, forged"
        account = self.accounts["main"]
        self.register_c2b("main")
        # any non-empty initiator works with the simulator (it checks presence only)
        self.live.sql(
            "UPDATE mpesa_config SET initiator_name = 'testapi', security_credential = 'c2ltdWxhdG9y' "
            f"WHERE id = {account} RETURNING id"
        )
        self.options(callback_delay=0.5, c2b_delivery="once", async_outcome="result")
        first_id = int(self.live.sql("SELECT COALESCE(max(id), 0) FROM mpesa_daraja_request")[0][0])
        failures_before = self.http.rpc_failures
        phases = ("twice", "timeout", "result")
        made = {}  # receipt -> the async outcome of its lookup
        for k, phase in enumerate(phases):
            for i in range(n):
                body = {"shortcode": "600984", "amount": 52000 + 100 * k + i, "delivery": "lost"}
                for _ in range(20):  # bounded: about 1 receipt in 20 has no digit
                    receipt = self.sim("c2b/pay", body)["trans_id"]
                    if TILL_RECEIPT_RE.match(receipt):
                        made[receipt] = phase
                        break
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = [t for t in self.sim("transactions")["transactions"] if t.get("trans_id") in made]
            if sum(t["status"] == "lost" for t in rows) == len(made):
                break
            time.sleep(0.5)
        lookups = {}  # receipt -> lookup_id

        def ask(receipt):
            till = self.tills[len(receipt) % len(self.tills)]
            answer = self.http.rpc(
                till["login"], "/mpesa/search_unreconciled_callbacks", query=receipt,
                payment_method_id=till["payment_method_id"], pos_config_id=till["pos_config_id"],
            )  # fmt: skip
            return receipt, till, answer

        asked = []
        for phase in phases:  # M-Pesa decides the outcome when it takes the request
            self.options(async_outcome=phase)
            asked += parallel(ask, [r for r, ph in made.items() if ph == phase], self.senders)
        self.options(async_outcome="result")
        for receipt, _till, answer in asked:
            if answer.get("lookup_id"):
                lookups[receipt] = answer["lookup_id"]
        self.report.add(name, "lookups sent to M-Pesa (control)", len(lookups), len(made))
        kinds = ("transaction_status_result", "transaction_status_timeout")
        sent = self._deliveries(kinds, set(made), 4 * n)
        self.report.add(
            name, "results M-Pesa posted (control)", len(sent), 4 * n, note="n twice, n timeout, n once"
        )
        requests = self.live.sql(
            "SELECT receipt, state, duplicate_count, COALESCE(originator_conversation_id, '') "
            f"FROM mpesa_daraja_request WHERE id > {first_id} AND kind = 'status' AND state != 'unmatched'"
        )
        ours = [r for r in requests if r[0] in made]
        stored = sum((state in ("done", "timeout")) + int(dups or 0) for _r, state, dups, _o in ours)
        self.report.add(name, "results stored on their request (all)", stored, len(sent))
        waiting = sum(state in ("sending", "sent") for _r, state, _d, _o in ours)
        self.report.add(name, "requests left waiting after their result or timeout came", waiting, 0)
        found = [(ph, None, r) for r, ph in made.items() if ph != "timeout"]
        lost, twice = self.money(found)
        self.report.add(
            name, "payments found by M-Pesa but not stored", sum(lost.values()), 0, note=_by_kind(lost)
        )
        self.report.add(name, "results applied twice (payment stored twice)", sum(twice.values()), 0)
        timed_out = [r for r, ph in made.items() if ph == "timeout"]
        quoted = ", ".join(f"'{r}'" for r in timed_out) or "''"
        stored_anyway = len(self.rows(f"mpesa_receipt_number IN ({quoted})"))
        self.report.add(name, "payments stored from a queue timeout", stored_anyway, 0)
        wrong_answer = 0
        for receipt, lookup_id in lookups.items():
            till = next(t for r, t, _a in asked if r == receipt)
            answer = self.http.rpc(
                till["login"], "/mpesa/lookup_status", lookup_id=lookup_id,
                payment_method_id=till["payment_method_id"], pos_config_id=till["pos_config_id"],
            )  # fmt: skip
            wrong_answer += answer.get("status") != ("failed" if made[receipt] == "timeout" else "found")
        self.report.add(name, "lookups not answered as M-Pesa said", wrong_answer, 0)

        # results nobody asked for, to the right token; then real requests' ids with a wrong token
        marker, wrong_marker = f"RELX{secrets.token_hex(4)}", f"RELW{secrets.token_hex(4)}"
        token = self.token("main")
        statuses = []
        for i, (_kind, body) in enumerate(forged_results(self.rng, n_forged, marker)):
            statuses.append(self.http.post_raw((RESULT_PATH if i % 3 else TIMEOUT_PATH) % token, body)[0])
        rejected_before = self.counted_rejections()
        bad_token = secrets.token_hex(max(8, len(token) // 2))
        for i, (_r, _s, _d, originator) in enumerate(o for o in ours if o[0] in timed_out):
            body = {"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": f"{wrong_marker} {i}",
                               "OriginatorConversationID": originator, "ConversationID": "AG_X",
                               "TransactionID": f"W{i:09d}"}}  # fmt: skip
            statuses.append(self.http.post_raw(RESULT_PATH % bad_token, _dumps(body))[0])
        n_wrong = len(statuses) - n_forged
        rejected = self.counted_rejections() - rejected_before
        kept = int(
            self.live.sql(
                f"SELECT count(*) FROM mpesa_daraja_request WHERE id > {first_id} AND state = 'unmatched' "
                f"AND result_payload LIKE '%{marker}%'"
            )[0][0]
        )
        self.report.add(
            name,
            "results nobody asked for kept as rows",
            kept,
            n_forged,
            note="half unknown ids, half garbage",
        )
        leaked = int(
            self.live.sql(
                f"SELECT count(*) FROM mpesa_daraja_request WHERE result_payload LIKE '%{wrong_marker}%'"
            )[0][0]
        )
        self.report.add(name, "wrong-token results stored", leaked, 0)
        self.report.add(name, "wrong-token results refused and counted (control)", rejected, n_wrong)
        after = self.live.sql(
            f"SELECT receipt, state, duplicate_count FROM mpesa_daraja_request WHERE id > {first_id} "
            "AND kind = 'status' AND state != 'unmatched'"
        )
        changed = sum(1 for row in after if row[0] in timed_out and row[1] != "timeout")
        self.report.add(name, "timed-out requests changed by a wrong-token result", changed, 0)
        server_errors = sum(1 for st in statuses if st is None or st >= 500)
        server_errors += sum(1 for c in sent if c["http_status"] is None or c["http_status"] >= 500)
        self.report.add(
            name, "HTTP 5xx or no answer", server_errors, 0,
            note=f"{len(sent)} results from M-Pesa, {n_forged} forged, {n_wrong} wrong token",
        )  # fmt: skip
        self.report.add(name, "POS HTTP 5xx / JSON-RPC errors", self.http.rpc_failures - failures_before, 0)

    # -- 6. Daraja hung, then down, in the middle of a burst -----------------------------------

    def _sim_back(self, limit):
        """Wait (bounded) until the simulator answers again after POST /__sim__/down; the moment it did."""
        session = self.http.requests.Session()
        session.trust_env = False
        deadline = time.monotonic() + limit
        try:
            while time.monotonic() < deadline:
                try:
                    if session.get(f"{self.live.sim_url}/__sim__/stats", timeout=2).status_code == 200:
                        return time.monotonic()
                except self.http.requests.RequestException:
                    pass
                time.sleep(0.2)
        finally:
            session.close()
        fail(f"the simulator did not listen again within {limit:.0f} s")

    def outage(self):
        """Tills keep pushing (each one push a second) while Daraja first hangs (no answer at all, the
        pushes reach M-Pesa), then is down (connections refused), then comes back; C2B payments arrive
        while it hangs and the STK recovery cron runs twice at once while it is down."""
        c = self.counts
        before, hung, down, after = (
            c[k] for k in ("outage_before", "outage_hung", "outage_down", "outage_after")
        )
        name = "Daraja hung, then down"
        client_timeout = DARAJA_CONNECT_TIMEOUT + DARAJA_READ_TIMEOUT
        margin = 15
        self.register_c2b("main")
        base = {"fault": "none", "fault_every": 1, "fault_limit": 0, "fault_processed": False,
                "fault_apis": "stk_push,stk_query", "push_response_delay": 0.0, "callback_delay": 1.0,
                "prompt_timeout": 45.0, "stk_c2b_twin": "off"}  # fmt: skip
        self.options(**base)
        stop = threading.Event()
        lock = threading.Lock()
        sent = []  # (phase, reference, elapsed seconds, answer)
        phase = ["before"]
        seq = iter(range(20000, 10**6))

        def sender(k):
            till = self.tills[k % len(self.tills)]
            while not stop.is_set():
                with lock:
                    amount, current = next(seq), phase[0]
                reference = f"REL-{uuid.uuid4().hex[:8]}"  # 12 characters: Daraja's AccountReference
                t0 = time.monotonic()
                answer = self.push(till, self.ids.phone("00"), amount, reference)  # 00: paid at once
                with lock:
                    sent.append((current, reference, time.monotonic() - t0, answer))
                stop.wait(OUTAGE_PAUSE)

        c2b_paid = []

        def c2b_during_hang():
            """C2B payments while the APIs hang: M-Pesa still posts their confirmations."""
            for i in range(5):
                body = {"shortcode": "600984", "amount": 30000 + i, "msisdn": "0712345678"}
                c2b_paid.append(self.sim("c2b/pay", body)["trans_id"])
                time.sleep(hung / 6)

        with cf.ThreadPoolExecutor(max_workers=OUTAGE_SENDERS + 1) as pool:
            senders = [pool.submit(sender, k) for k in range(OUTAGE_SENDERS)]
            try:
                time.sleep(before)
                # hung: the request reaches M-Pesa (the prompt is sent), the answer never comes
                phase[0] = "hung"
                hung_from = time.monotonic()
                self.options(fault="no_answer", fault_apis="oauth,stk_push,stk_query", fault_processed=True)
                c2b_during_hang()
                time.sleep(max(0.0, hung_from + hung - time.monotonic()))
                self.options(fault="none", fault_processed=False)
                # down: connections refused; the recovery cron runs twice at once meanwhile
                phase[0] = "down"
                # counted from here: nothing reaches the simulator while it is down
                oauth_back = self.sim("stats")["oauth_requests"]
                self.sim("down", {"seconds": float(down)})
                went_down = time.monotonic()
                # the stored tokens expire meanwhile: on Daraja's return every worker needs one
                expired = len(
                    self.live.sql("UPDATE mpesa_oauth_token SET expires_at = 0 RETURNING config_id")
                )
                crons = parallel(lambda _: self._timed_cron(), range(2), 2, timeout=down + 600)
                back = self._sim_back(down + 60)
                phase[0] = "after"
                time.sleep(after)
                oauth_after = self.sim("stats")["oauth_requests"]
            finally:
                stop.set()
                with contextlib.suppress(Exception):  # after an error: no fault left behind (unless down)
                    self.options(**base)
                for future in senders:
                    future.result(timeout=client_timeout + margin + 150)
        time.sleep(5)  # the callbacks of the last pushes
        self.live.shell(CRON_SCRIPT)

        unanswered = [s for s in sent if s[3].get("rpc_error") or s[2] > client_timeout + margin]
        by_phase = {}
        for s in unanswered:
            by_phase[s[0]] = by_phase.get(s[0], 0) + 1
        counts = {}
        for s in sent:
            counts[s[0]] = counts.get(s[0], 0) + 1
        self.report.add(
            name, f"till pushes not answered within {client_timeout + margin} s", len(unanswered), 0,
            note=f"of {len(sent)} ({_by_kind(counts)}); unanswered: {_by_kind(by_phase)}; "
            f"outage: {hung} s hung + {down} s down",
        )  # fmt: skip
        longest = max((s[2] for s in sent), default=0.0)
        self.report.add(
            name, "longest till push (s)", f"{longest:.1f}", f"< {client_timeout}",
            ok=longest < client_timeout,
            note=f"Daraja client timeout: {DARAJA_CONNECT_TIMEOUT} s connect + {DARAJA_READ_TIMEOUT} s read",
        )  # fmt: skip
        references = {s[1] for s in sent}
        truth = self.sim("transactions")["transactions"]
        received = {}
        for t in truth:
            if t["kind"] == "stk" and t["account_reference"] in references:
                received[t["account_reference"]] = received.get(t["account_reference"], 0) + 1
        self.report.add(
            name, "STK pushes received twice for one till push", sum(1 for n in received.values() if n > 1), 0
        )
        n_accounts = 2  # the paybill and the till on the simulator
        oauth = oauth_after - oauth_back
        self.report.add(
            name, "stored OAuth tokens expired during the outage (control)", expired, ">= 1", ok=expired >= 1
        )
        self.report.add(
            name, f"OAuth requests in the {after} s after Daraja returned", oauth,
            f"1 to {2 * n_accounts}", ok=1 <= oauth <= 2 * n_accounts,
            note="every token expired while Daraja was down: the first push after its return needs one; "
            "one refresh per account at a time (advisory lock)",
        )  # fmt: skip
        finished = [run for run in crons if run is not None]
        while_down = [run for run in finished if went_down + run[0] < back]
        ran, busy = sum(r[1] for r in finished), sum(r[2] for r in finished)
        self.report.add(
            name, "two recovery cron runs at once while down: returned", len(finished), 2,
            note=f"{', '.join(f'{r[0]:.0f} s' for r in finished)}; {len(while_down)} before Daraja returned; "
            f"jobs run: {ran}, refused as already running: {busy}",
        )  # fmt: skip
        phase_of = {s[1]: s[0] for s in sent}
        paid = [
            (f"STK {phase_of[t['account_reference']]}", t["checkout_request_id"], t["receipt_number"])
            for t in truth
            if t["kind"] == "stk" and t["account_reference"] in references and t["result_code"] == "0"
        ]
        paid += [("C2B hung", None, receipt) for receipt in c2b_paid]
        lost, twice = self.money(paid)
        self.report.add(
            name, f"payments lost (of {len(paid)} made)", sum(lost.values()), 0, note=_by_kind(lost)
        )
        self.report.add(name, "payments counted twice", sum(twice.values()), 0, note=_by_kind(twice))
        self.options(**{**base, "stk_c2b_twin": "after"})

    def _timed_cron(self):
        """The recovery crons in `odoo-bin shell` (CRON_AT_ONCE_SCRIPT): (seconds, jobs run, jobs refused
        as already running), or None when it failed."""
        t0 = time.monotonic()
        try:
            out = self.live.shell(CRON_AT_ONCE_SCRIPT, timeout=600)
        except Exception as exc:  # counted: a failed run is a figure, not the end of the scenario
            say(f"  recovery cron failed: {exc}")
            return None
        found = re.search(r"RELIABILITY-CRON-AT-ONCE (\d+) (\d+)", out)
        return (time.monotonic() - t0, int(found[1]), int(found[2])) if found else None

    # -- 7. confirmations lost while Odoo was down, recovered by Pull Transactions -------------

    def lost_confirmations(self):
        """C2B payments whose confirmation never arrives (the simulator's delivery "lost": Safaricom gave
        up after its retries while Odoo was down), next to delivered ones; then the account registers
        for Pull Transactions and the pull cron runs twice."""
        n_lost, n_delivered = self.counts["pull_lost"], self.counts["pull_delivered"]
        name = "confirmations lost, then pulled"
        account = self.accounts["main"]
        self.register_c2b("main")
        self.options(callback_delay=0.5, c2b_delivery="once")
        made = {}  # receipt -> "lost" | "delivered"
        for i in range(n_lost + n_delivered):
            delivery = "lost" if i < n_lost else "once"
            body = {"shortcode": "600984", "amount": 31000 + i, "msisdn": "0712345678", "delivery": delivery}
            made[self.sim("c2b/pay", body)["trans_id"]] = "lost" if delivery == "lost" else "delivered"
        deadline = time.monotonic() + 60
        while True:  # M-Pesa completes them (and posts the delivered ones) after the callback delay
            rows = [t for t in self.sim("transactions")["transactions"] if t.get("trans_id") in made]
            done = [t for t in rows if t["status"] in ("confirmed", "lost")]
            if len(done) == len(made) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.report.add(
            name, "payments made (control)", len(done), len(made),
            note=f"{n_lost} with delivery 'lost' (stands in for Odoo down: tools/live_server.py cannot "
            "stop and restart Odoo), the rest delivered",
        )  # fmt: skip
        acked = {}
        for c in self.sim("callbacks")["callbacks"]:
            if c["kind"] == "c2b_confirmation" and c["reference"] in made and c["http_status"] == 200:
                acked[made[c["reference"]]] = acked.get(made[c["reference"]], 0) + 1
        self.report.add(name, "confirmations acknowledged: lost ones", acked.get("lost", 0), 0)
        self.report.add(
            name,
            "confirmations acknowledged: delivered ones (control)",
            acked.get("delivered", 0),
            n_delivered,
        )

        def stored(kind=None, source=None):
            receipts = [r for r, k in made.items() if kind in (None, k)]
            quoted = ", ".join(f"'{r}'" for r in receipts)
            where = f"mpesa_receipt_number IN ({quoted}) AND status IN ('success', 'needs_review')"
            if source:
                where += f" AND source = '{source}'"
            return len({row["mpesa_receipt_number"] for row in self.rows(where)})

        self.report.add(name, "lost ones stored before the pull (control)", stored("lost"), 0)
        out = self.live.shell(f"ACCOUNT = {account}\n" + PULL_REGISTER_SCRIPT)
        if "RELIABILITY-PULL-REGISTERED True" not in out:
            fail(f"registering account {account} for Pull Transactions failed: {out[-500:]}")
        pulled = []
        for _ in range(2):
            before = stored(source="pull")
            out = self.live.shell(PULL_CRON_SCRIPT)
            if "RELIABILITY-PULL-CRON" not in out:
                fail(f"the pull cron failed: {out[-500:]}")
            pulled.append(stored(source="pull") - before)
        self.report.add(name, "recovered by the first pull", pulled[0], n_lost)
        self.report.add(name, "recovered by the second pull", pulled[1], 0)
        lost, twice = self.money([(kind, None, receipt) for receipt, kind in made.items()])
        self.report.add(
            name, f"payments lost (of {len(made)} made)", sum(lost.values()), 0, note=_by_kind(lost)
        )
        self.report.add(name, "payments counted twice", sum(twice.values()), 0, note=_by_kind(twice))

    # -- 8. Daraja faults ----------------------------------------------------------------------

    def faults(self):
        name = "Daraja faults (simulator)"
        k = self.counts["fault_pushes"]
        till = self.fault_till
        base = {"fault": "none", "fault_every": 1, "fault_limit": 0, "fault_processed": False,
                "fault_apis": "stk_push,stk_query", "push_response_delay": 0.0, "callback_delay": 1.0,
                "prompt_timeout": 45.0}  # fmt: skip
        runs = [
            # (label, options, phone suffix, scenario override)
            ("no callback", {}, "08", None),
            ("two callbacks", {}, "09", None),
            ("query contradicting callback", {}, "78", {"result_code": 0, "query_result_code": 1032}),
            ("push timeout", {"push_response_delay": 35.0}, "00", None),
            (
                "5xx (JSON 500)",
                {"fault": "http_500", "fault_processed": True, "fault_apis": "stk_push"},
                "00",
                None,
            ),
            ("5xx (HTML 503)", {"fault": "http_503", "fault_every": 2, "fault_processed": True}, "00", None),
            ("spike arrest", {"fault": "spike_arrest", "fault_every": 2}, "00", None),
            ("token invalidated", {"fault": "token_invalidated", "fault_every": 3}, "00", None),
            ("empty body", {"fault": "empty_body", "fault_every": 2, "fault_processed": True}, "00", None),
            ("HTML body", {"fault": "html_body", "fault_every": 2, "fault_processed": True}, "00", None),
        ]
        phones = {}

        def one(args):
            label, suffix, override = args
            phone = self.ids.phone(suffix)
            if override:
                self.sim("scenario", {"phone": phone, "callback": "once", **override})
            phones[phone] = label
            answer = self.push(till, phone, 100 + len(phones))
            if answer.get("success"):
                self.wait_status(till, answer["checkout_request_id"], limit=80, every=3.0)

        # the per-phone faults together, then the global ones one after the other
        self.options(**base)
        parallel(
            one,
            [(label, suffix, o) for label, opts, suffix, o in runs if not opts for _ in range(k)],
            self.senders,
        )
        for label, opts, suffix, override in runs:
            if not opts:
                continue
            self.options(**{**base, **opts})
            parallel(one, [(label, suffix, override)] * k, self.senders)
        self.options(**base)
        time.sleep(3)  # late callbacks of the last run

        # time passes: the review deadline is behind every push; the recovery cron runs (bounded)
        account = self.accounts["faults"]
        shift = f"interval '{REVIEW_AFTER_MINUTES + 5} minutes'"
        self.live.sql(
            f"UPDATE mpesa_callback SET request_date = request_date - {shift}, "
            f"received_date = received_date - {shift}, create_date = create_date - {shift}, "
            f"last_query_date = last_query_date - {shift} "
            f"WHERE callback_type = 'stk' AND (config_id = {account} OR config_id IS NULL) RETURNING id"
        )
        self.sim("clock", {"advance": 3600})
        for _ in range(3):
            self.live.shell(CRON_SCRIPT)

        truth = [
            t for t in self.sim("transactions")["transactions"] if t["kind"] == "stk" and t["phone"] in phones
        ]
        paid = [t for t in truth if t["result_code"] == "0"]
        lost, _twice = self.money(
            [(phones[t["phone"]], t["checkout_request_id"], t["receipt_number"]) for t in paid]
        )
        self.report.add(
            name, f"payments lost (of {len(paid)} made)", sum(lost.values()), 0, note=_by_kind(lost)
        )
        cutoff = (datetime.now(timezone.utc) - timedelta(minutes=REVIEW_AFTER_MINUTES)).strftime(
            "%Y-%m-%d %H:%M:%S"
        )
        pending = self.live.sql(
            "SELECT count(*) FROM mpesa_callback WHERE callback_type = 'stk' AND status = 'pending' "
            f"AND config_id = {account} AND request_date < '{cutoff}'"
        )[0][0]
        self.report.add(name, "rows left pending past the review deadline", int(pending), 0)

    # -- the log ------------------------------------------------------------------------------

    def log_scan(self):
        rows = self.live.sql("SELECT callback_token FROM mpesa_config WHERE callback_token IS NOT NULL")
        tokens = [t for (t,) in rows if t]
        text = Path(self.live.log_path).read_text(errors="replace")
        hits = sum(text.count(token) for token in tokens)
        self.report.add("server log of the whole run", "occurrences of any callback token", hits, 0)
        self.report.add(
            "POS endpoints (all scenarios)", "HTTP 5xx / JSON-RPC errors", self.http.rpc_failures, 0,
            note=f"of {self.http.rpc_calls} calls; " + "; ".join(self.http.rpc_samples),
        )  # fmt: skip


def _export_head(dest: Path) -> Path:
    """HEAD's files (the committed module) in dest, to run the suite against them."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def main():
    parser = argparse.ArgumentParser(prog="tools/run reliability", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts (a few minutes)")
    parser.add_argument("--only", default="", help=f"comma-separated: {', '.join(SCENARIOS)}")
    parser.add_argument("--workers", type=int, default=3, help="Odoo prefork workers (0: threaded)")
    parser.add_argument("--source", choices=("worktree", "head"), default="worktree")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    chosen = {s.strip() for s in args.only.split(",") if s.strip()} or set(SCENARIOS)
    unknown = chosen - set(SCENARIOS)
    only = [s for s in SCENARIOS if s in chosen]  # their own order (see SCENARIOS)
    if unknown:
        fail(f"unknown scenario(s) {', '.join(sorted(unknown))}; choose among {', '.join(SCENARIOS)}")
    _ensure_requests()
    from live_server import LiveServer

    counts = dict(QUICK if args.quick else FULL)
    rng = random.Random(args.seed)  # noqa: S311 (reproducible test data, not secrets)
    report = Report()
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="pos_mpesa-reliability-"))
    try:
        module_path = _export_head(tmp) if args.source == "head" else None
        script = (
            f"N_TILLS = {counts['tills']}\nPASSKEY = {PASSKEY!r}\nPASSWORD = {PASSWORD!r}\n" + SETUP_SCRIPT
        )
        with LiveServer(
            "reliability",
            setup_script=script,
            workers=args.workers,
            max_cron_threads=1,
            callback_delay=0.5,
            keep_db=args.keep_db,
            module_path=module_path,
            odoo_args=["--limit-time-real=300", "--limit-time-cpu=120"],
        ) as live:
            line = next(
                (x for x in live.setup_output.splitlines() if x.startswith("RELIABILITY-SETUP ")), None
            )
            if not line:
                fail(f"the setup script printed no result: {live.setup_output[-2000:]}")
            setup = json.loads(line.split(" ", 1)[1])
            suite = Suite(live, setup, counts, report, rng, live.log_path)
            for scenario in only:
                t0 = time.monotonic()
                say(f"scenario {scenario} ...")
                try:
                    getattr(suite, scenario)()
                except Exception as exc:  # one broken scenario must not hide the others' figures
                    report.error(scenario, exc)
                say(f"scenario {scenario}: {time.monotonic() - t0:.0f} s")
            suite.log_scan()
            log_copy = live.log_path
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(report.table())
    for row in report.rows:
        if row.note and not row.ok:
            print(f"  {row.figure}: {row.note}")
    print()
    print(f"{'quick' if args.quick else 'full'} counts, {time.monotonic() - started:.0f} s; log: {log_copy}")
    passed, failed = report.counts()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    main_guard(main)
