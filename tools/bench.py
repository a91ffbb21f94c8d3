"""`make bench`: pos_mpesa against bare Odoo on one machine, in one run, side by side.

Starts its own database and Odoo server (prefork: --workers 2 and the gevent port, as in production;
--threaded for one process) with pos_mpesa, the Daraja simulator and the bench-only helper addon
tools/bench_addons/pos_mpesa_bench (bare routes: never shipped), loads N mpesa_callback rows by SQL
(tools/bench_load.py; 1,000,000 by default, 10,000 with --quick), then measures, every pair
interleaved in the same run:

 a. callback acknowledged (STK, C2B) vs a bare type='http' route parsing the same JSON and storing one
    row in a plain table; p50/p95 at 1 and at 20 concurrent senders;
 b. the C2B search vs a bare type='jsonrpc' route with auth='user'; p50/p95;
 c. EXPLAIN (ANALYZE, BUFFERS) of the SQL the search really sends (captured in the server) vs the bare
    partial-index lookup of the same rows (index created in a transaction that is rolled back);
 p. the popup's search by receipt code and by phone digits (any amount) vs the same jsonrpc route
    running the same statement in bare SQL; p50/p95; EXPLAIN of the SQL each sends (captured): an
    index scan, no Seq Scan on mpesa_callback;
 s. the daily statement (this month, its default filter): the pivot's read as the web client sends it
    (formatted_read_grouping_sets) vs the same aggregate over the view in bare SQL; the time to open
    the list (web_search_read) and the pivot; EXPLAIN of their SQL, also with a candidate index on the
    Nairobi day (STATEMENT_INDEX, in a transaction that is rolled back);
 d. STK result on the till: from the simulator's callback POST to the bus message received by a
    websocket client subscribed like the POS, vs a bare bus notification; p50/p95;
 e. Daraja calls per STK payment and OAuth token requests per account (a recording proxy per
    account in front of the simulator, across all workers);
 f. RSS of the server's processes after warm-up and at the end.
Queries per call come from the server log: Odoo's request line ends with the request's query count.

Prints one table (figure, floor, ratio, goal, met) and `N passed, N failed`. With --quick the same
table is printed but not judged: a check passes when its figure was measured.
    tools/run bench [--quick] [--rows N] [--workers N | --threaded] [--keep-log]
"""

import argparse
import concurrent.futures
import json
import os
import random
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import bench_client as bc
import bench_load
from bench_server import BenchServer
from common import fail, main_guard, say

SIZES = {
    # rounds: each round sends every kind once, in a shuffled order
    "full": {
        "a1": 150,
        "a20": 25,
        "b": 250,
        "p": 250,
        "s": 30,
        "k": 120,
        "explain": 7,
        "d": 30,
        "d_burst": 8,
        "warm": 30,
    },
    "quick": {
        "a1": 8,
        "a20": 2,
        "b": 10,
        "p": 10,
        "s": 4,
        "k": 6,
        "explain": 2,
        "d": 6,
        "d_burst": 4,
        "warm": 6,
    },
}
# pos_mpesa's per-worker caches, each turned off for one request by pos_mpesa_bench (cache_switch.py):
# name -> the measured kind it serves (a C2B callback, or the till's C2B search)
CACHES = {
    "callback_tokens": "c2b",
    "callback_facts": "c2b",
    "till_facts": "search",
    "method_facts": "search",
    "search_accounts": "search",
}
CACHE_OFF = "bench_cache_off"
CONCURRENCY = 20
ACCOUNTS = ("A1", "A2", "B1", "B2")
CASHIER = ("bench_cashier", "bench-cashier-pw")
ACCOUNTANT = ("bench_accountant", "bench-accountant-pw")  # reads the daily statement
SEARCH = "/mpesa/search_unreconciled_callbacks"
STATEMENT = "mpesa.daily.statement"
STATEMENT_KW = f"/web/dataset/call_kw/{STATEMENT}"
# the daily statement's pivot as Odoo 19's pivot model asks for it (pivot_model.js _getMeasureSpecs: a
# monetary measure also brings its currency's array_agg_distinct and sum_currency; __count always),
# for rows day:day and columns config_id (views/mpesa_daily_statement_views.xml)
PIVOT_AGGREGATES = [
    spec
    for measure in ("received_amount", "pos_amount", "unclaimed_amount")
    for spec in (f"{measure}:sum", "currency_id:array_agg_distinct", f"{measure}:sum_currency")
] + ["__count"]
PIVOT_GROUPING_SETS = [[], ["config_id"], ["day:day"], ["day:day", "config_id"]]
# the list's fields (getFieldsSpec: a many2one reads its display_name)
LIST_SPEC = {
    "day": {},
    "config_id": {"fields": {"display_name": {}}},
    "company_id": {"fields": {"display_name": {}}},
    "currency_id": {"fields": {}},
    **{
        name: {}
        for name in (
            "received_count",
            "received_amount",
            "pos_amount",
            "outside_amount",
            "unclaimed_count",
            "unclaimed_amount",
            "reversed_amount",
            "recovered_count",
        )
    },
}
# what the daily statement would need at a million rows: the live payments by Nairobi day, built by
# the bench in a transaction that is rolled back (section s)
STATEMENT_INDEX = (
    "CREATE INDEX bench_statement_day ON mpesa_callback "
    "(((received_date AT TIME ZONE 'UTC' AT TIME ZONE 'Africa/Nairobi')::date), config_id) "
    "WHERE status = 'success' AND duplicate_of_id IS NULL"
)
STK_WAIT_FOR_BUS = 30  # seconds a payment may take end to end before the bench gives up on it
POLL_DELAYS = (3, 3, 5, 5, 8, 10)  # the till's check_status back-off (payment_mpesa.js POLL_DELAYS_MS)
MEMORY_NOISE = (16 * 2**20, 0.05)  # growth allowed: max(16 MiB, 5 % of the workers' RSS)
NAIROBI = timezone(timedelta(hours=3))
CAPTURE = {"X-Bench-Capture-Sql": "1"}  # pos_mpesa_bench logs the SQL of such a request

SETUP = r"""
import json
from odoo import Command

TAPS = %(taps)r
PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
kes = env.ref("base.KES")
kes.active = True
company_a = env.ref("base.main_company")
company_b = env["res.company"].create({"name": "Bench Branch B", "currency_id": kes.id})
env.user.company_ids = [Command.link(company_b.id)]

def account(label, company, kind):
    vals = {
        "name": "Bench " + label, "company_id": company.id, "environment": "simulator",
        "simulator_url": TAPS[label], "account_type": kind, "consumer_key": "sim-consumer-key",
        "consumer_secret": "sim-consumer-secret", "passkey": PASSKEY, "callback_base_url": ODOO_URL,
    }
    if kind == "paybill":
        vals.update(business_shortcode="174379", c2b_shortcode="600984")
    else:
        vals.update(business_shortcode="174380", till_number="174381", c2b_shortcode="174381")
    return env["mpesa.config"].with_company(company).create(vals)

configs = {
    "A1": account("A1", company_a, "paybill"), "A2": account("A2", company_a, "till"),
    "B1": account("B1", company_b, "paybill"), "B2": account("B2", company_b, "till"),
}
company_a.mpesa_config_id = configs["A1"]
company_b.mpesa_config_id = configs["B1"]
cashier = env["res.users"].create({
    "name": "Bench Cashier", "login": %(login)r, "password": %(password)r,
    "company_id": company_a.id, "company_ids": [Command.set([company_a.id])],
    "group_ids": [Command.set([env.ref("base.group_user").id, env.ref("point_of_sale.group_pos_user").id])],
})
env["res.users"].create({
    "name": "Bench Accountant", "login": %(acc_login)r, "password": %(acc_password)r,
    "company_id": company_a.id, "company_ids": [Command.set([company_a.id, company_b.id])],
    "group_ids": [Command.set([env.ref("base.group_user").id, env.ref("account.group_account_readonly").id])],
})
admin = env.ref("base.user_admin")
admin.group_ids = [Command.link(env.ref("point_of_sale.group_pos_manager").id)]
out = {"company_a": company_a.id, "company_b": company_b.id, "cashier_uid": cashier.id,
       "currency_id": kes.id, "accounts": {}}
for n, label in enumerate(("A1", "A2"), start=1):
    journal = env["account.journal"].create(
        {"name": "M-Pesa Bench %%s" %% n, "type": "bank", "code": "MPB%%s" %% n, "company_id": company_a.id})
    method = env["pos.payment.method"].create({
        "name": "M-Pesa %%s" %% label, "journal_id": journal.id, "company_id": company_a.id,
        "use_payment_terminal": "mpesa", "mpesa_config_id": configs[label].id,
    })
    pos_config = env["pos.config"].create(
        {"name": "Bench Till %%s" %% n, "payment_method_ids": [Command.link(method.id)]})
    pos_config.with_user(admin).open_ui()
    out["accounts"][label] = {"payment_method_id": method.id, "pos_config_id": pos_config.id,
                              "pos_access_token": pos_config.access_token}
for label, config in configs.items():
    config = config.sudo()
    out["accounts"].setdefault(label, {}).update({
        "config_id": config.id, "company_id": config.company_id.id, "kind": config.account_type,
        "shortcode": config._get_c2b_shortcode(), "stk_shortcode": config.business_shortcode,
        "c2b_transaction_type": "Pay Bill" if config.account_type == "paybill" else "Buy Goods",
        "stk_callback_url": config.stk_callback_url, "c2b_confirmation_url": config.c2b_confirmation_url,
        "match_window": config.match_window,
    })
env["ir.config_parameter"].set_param("pos_mpesa_bench.capture_sql", "1")
env.cr.commit()
print("BENCH_SETUP " + json.dumps(out))
"""

# Shares of the loaded rows per account: the busy paybill, its till, the other branch.
ACCOUNT_WEIGHTS = {"A1": 40, "A2": 25, "B1": 20, "B2": 15}

LOG_LINE = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) \S+ (?P<queries>\d+) '
    r"(?P<qtime>[\d.]+) (?P<rest>[\d.]+)"
)


def nairobi_stamp(when=None) -> str:
    return (when or datetime.now(NAIROBI)).astimezone(NAIROBI).strftime("%Y%m%d%H%M%S")


class Counter:
    def __init__(self, prefix):
        self.prefix, self.n, self.lock = prefix, 0, threading.Lock()

    def next(self) -> int:
        with self.lock:
            self.n += 1
            return self.n


class Bench:
    def __init__(self, live, ctx, taps, sizes, quick):
        self.live, self.ctx, self.taps, self.sizes, self.quick = live, ctx, taps, sizes, quick
        self.url = live.odoo_url
        self.rng = random.Random(19)  # noqa: S311 (a reproducible workload, not a secret)
        self.receipts = Counter("receipt")
        self.errors: list[str] = []
        self.results: dict = {}
        self.run_tag = f"{int(time.time()) % 100000:05d}"
        a1 = ctx["accounts"]["A1"]
        self.a1 = a1
        self.bare_token = "0" * 48

    # ------------------------------------------------------------------ payloads

    def _receipt(self) -> str:
        # 10 characters like an M-Pesa receipt, unique in this run and never in the loaded rows ("T...")
        return f"B{self.run_tag}{self.receipts.next():04d}"[:10].upper()

    def stk_payload(self, pending) -> dict:
        return {
            "Body": {
                "stkCallback": {
                    "MerchantRequestID": pending["merchant_request_id"],
                    "CheckoutRequestID": pending["checkout_request_id"],
                    "ResultCode": 0,
                    "ResultDesc": "The service request is processed successfully.",
                    "CallbackMetadata": {
                        "Item": [
                            {"Name": "Amount", "Value": pending["amount"]},
                            {"Name": "MpesaReceiptNumber", "Value": self._receipt()},
                            {"Name": "Balance"},
                            {"Name": "TransactionDate", "Value": int(nairobi_stamp())},
                            {"Name": "PhoneNumber", "Value": 254708374149},
                        ]
                    },
                }
            }
        }

    def c2b_payload(self) -> dict:
        amount = self.rng.choice(bench_load.POPULAR_AMOUNTS) + self.rng.randrange(0, 3)
        return {
            "TransactionType": "Pay Bill",
            "TransID": self._receipt(),
            "TransTime": nairobi_stamp(),
            "TransAmount": f"{amount}.00",
            "BusinessShortCode": self.a1["shortcode"],
            "BillRefNumber": "Till 1",
            "InvoiceNumber": "",
            "OrgAccountBalance": "25000.00",
            "ThirdPartyTransID": "",
            "MSISDN": "2547 ***** 149",
            "FirstName": "NICHOLAS",
            "MiddleName": "",
            "LastName": "",
        }

    # ------------------------------------------------------------------ senders

    def _ack(self, kind, url, payload):
        status, data, _h, elapsed = bc.post_json(url, payload)
        try:
            code = json.loads(data).get("ResultCode")
        except (ValueError, AttributeError):
            code = None
        if status != 200 or str(code) != "0":
            self.errors.append(f"{kind} callback: HTTP {status} {data[:120]!r}")
        return elapsed

    def callback_kinds(self, pending):
        """{kind: callable() -> seconds}; pending: an iterator of pending STK requests."""
        bare = f"{self.url}/pos_mpesa_bench/bare/{self.bare_token}"
        lock = threading.Lock()

        def next_pending():
            with lock:
                return next(pending)

        return {
            "stk": lambda: self._ack("STK", self.a1["stk_callback_url"], self.stk_payload(next_pending())),
            "bare_stk": lambda: self._ack("bare STK", f"{bare}/stk", self.stk_payload(next_pending())),
            "c2b": lambda: self._ack("C2B", self.a1["c2b_confirmation_url"], self.c2b_payload()),
            "bare_c2b": lambda: self._ack("bare C2B", f"{bare}/c2b", self.c2b_payload()),
        }

    def interleaved(self, kinds, rounds, concurrency):
        """Every sender runs `rounds` rounds; a round calls every kind once in a random order.
        Returns {kind: [seconds]}."""
        samples = {name: [] for name in kinds}
        lock = threading.Lock()

        def sender(seed):
            rng = random.Random(seed)  # noqa: S311 (a reproducible workload, not a secret)
            names = list(kinds)
            for _ in range(rounds):
                rng.shuffle(names)
                for name in names:
                    try:
                        elapsed = kinds[name]()
                    except (OSError, bc.BenchError) as exc:
                        self.errors.append(f"{name}: {exc}")
                        continue
                    with lock:
                        samples[name].append(elapsed)

        if concurrency == 1:
            sender(1)
        else:
            with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(sender, range(concurrency)))
        return samples

    # ------------------------------------------------------------------ phases

    def pending_rows(self, count, tag):
        rows = bench_load.insert_pending_stk(self.live.pg, self.live.db, self.ctx, self.a1, count, tag)
        return iter(rows)

    def warm_up(self, cashier):
        n = self.sizes["warm"]
        kinds = self.callback_kinds(self.pending_rows(2 * n * CONCURRENCY // 4 + 4, f"w{self.run_tag}"))
        kinds.update(self.search_kinds(cashier))
        kinds.update(self.popup_kinds(cashier))
        rounds = max(1, n * 2 // CONCURRENCY)
        self.interleaved(kinds, rounds, CONCURRENCY)
        self.interleaved(kinds, 2, 1)

    def search_config_ids(self) -> list[int]:
        """The accounts whose payments A1's till is offered: same company and C2B shortcode."""
        return [
            a["config_id"]
            for a in self.ctx["accounts"].values()
            if a["company_id"] == self.a1["company_id"] and a["shortcode"] == self.a1["shortcode"]
        ]

    def search_kinds(self, cashier):
        amounts = list(bench_load.POPULAR_AMOUNTS)
        method = self.a1["payment_method_id"]
        rng = random.Random(7)  # noqa: S311 (a reproducible workload, not a secret)

        def search():
            params = {"amount": rng.choice(amounts), "payment_method_id": method}
            result, elapsed = cashier.call("/mpesa/search_unreconciled_callbacks", params)
            if not (result or {}).get("success"):
                self.errors.append(f"search: {result}")
            return elapsed

        def bare():
            params = {"amount": rng.choice(amounts), "payment_method_id": method}
            _result, elapsed = cashier.call("/pos_mpesa_bench/bare_jsonrpc", params)
            return elapsed

        bare_params = {"config_ids": self.search_config_ids(), "window": self.a1["match_window"]}

        def bare_sql():
            params = {**bare_params, "amount": rng.choice(amounts)}
            result, elapsed = cashier.call("/pos_mpesa_bench/bare_search", params)
            if not (result or {}).get("success"):
                self.errors.append(f"bare search: {result}")
            return elapsed

        return {"search": search, "bare_rpc": bare, "bare_sql": bare_sql}

    def phase_callbacks(self):
        s = self.sizes
        say(f"a. callbacks acknowledged vs bare http route: 1 sender x {s['a1']} rounds")
        need = s["a1"] * 2 + 4
        kinds = self.callback_kinds(self.pending_rows(need, f"a1{self.run_tag}"))
        self.results["a1"] = self.interleaved(kinds, s["a1"], 1)
        say(f"a. the same with {CONCURRENCY} concurrent senders x {s['a20']} rounds")
        need = s["a20"] * CONCURRENCY * 2 + 4
        kinds = self.callback_kinds(self.pending_rows(need, f"a2{self.run_tag}"))
        self.results["a20"] = self.interleaved(kinds, s["a20"], CONCURRENCY)

    def phase_search(self, cashier):
        say(f"b. C2B search vs bare jsonrpc route: {self.sizes['b']} rounds")
        self.results["b"] = self.interleaved(self.search_kinds(cashier), self.sizes["b"], 1)

    def cache_kinds(self, cashier):
        """The C2B callback and the till's search, each also with one cache off (`?bench_cache_off=`)."""
        search = self.search_kinds(cashier)["search"]
        kinds = {"c2b": lambda: self._ack("C2B", self.a1["c2b_confirmation_url"], self.c2b_payload())}
        kinds["search"] = search
        for name, kind in CACHES.items():
            if kind == "c2b":
                url = f"{self.a1['c2b_confirmation_url']}?{CACHE_OFF}={name}"
                kinds[f"off:{name}"] = lambda url=url: self._ack("C2B", url, self.c2b_payload())
            else:
                kinds[f"off:{name}"] = lambda name=name: self._search(cashier, f"?{CACHE_OFF}={name}")
        return kinds

    def _search(self, cashier, query):
        amount = self.rng.choice(bench_load.POPULAR_AMOUNTS)
        params = {"amount": amount, "payment_method_id": self.a1["payment_method_id"]}
        result, elapsed = cashier.call(f"/mpesa/search_unreconciled_callbacks{query}", params)
        if not (result or {}).get("success"):
            self.errors.append(f"search with {query}: {result}")
        return elapsed

    def phase_caches(self, cashier):
        say(f"k. each cache off vs on: {self.sizes['k']} rounds")
        self.results["k"] = self.interleaved(self.cache_kinds(cashier), self.sizes["k"], 1)

    # ------------------------------------------------------------------ p. the popup's receipt / phone search

    def claimable_receipts(self, count=200):
        """Receipts of claimable payments of A1's till (a customer shows the SMS), in a fixed order."""
        config_ids = ", ".join(str(int(i)) for i in self.search_config_ids())
        rows = self.live.sql(
            "SELECT mpesa_receipt_number FROM mpesa_callback WHERE status = 'success' "
            "AND duplicate_of_id IS NULL AND is_claimed IS NOT TRUE AND mpesa_receipt_number IS NOT NULL "
            f"AND config_id IN ({config_ids}) ORDER BY md5(id::text) LIMIT {int(count)}"
        )
        return [row[0] for row in rows if row and row[0]]

    def popup_kinds(self, cashier):
        """The till's search by receipt code and by phone digits (any amount), and the bare routes
        running the same statement. Each callable takes optional headers (the SQL capture)."""
        method = self.a1["payment_method_id"]
        config_ids = self.search_config_ids()
        window = self.a1["match_window"]
        receipts = self.results.setdefault("p_receipts", self.claimable_receipts())
        if not receipts:
            self.errors.append("no claimable payment of the till's accounts was loaded")
            receipts = ["TL40000000"]
        rng = random.Random(11)  # noqa: S311 (a reproducible workload, not a secret)

        def checked(label, path, params, headers, found):
            result, elapsed = cashier.call(path, params, headers)
            if not (result or {}).get("success") or (found and not result.get("count")):
                self.errors.append(f"{label}: {str(result)[:160]}")
            return elapsed

        def digits():
            return f"{rng.randrange(1000):03d}"  # the last 3 digits a masked number shows

        return {
            "receipt": lambda headers=None: checked(
                "search by receipt",
                f"{SEARCH}?bench_kind=receipt",
                {"payment_method_id": method, "query": rng.choice(receipts)},
                headers,
                True,
            ),
            "bare_receipt": lambda headers=None: checked(
                "bare receipt lookup",
                "/pos_mpesa_bench/bare_receipt",
                {"config_ids": config_ids, "receipt": rng.choice(receipts)},
                headers,
                True,
            ),
            "phone": lambda headers=None: checked(
                "search by phone digits",
                f"{SEARCH}?bench_kind=phone",
                {"payment_method_id": method, "query": digits()},
                headers,
                False,
            ),
            "bare_phone": lambda headers=None: checked(
                "bare phone lookup",
                "/pos_mpesa_bench/bare_phone",
                {"config_ids": config_ids, "window": window, "digits": digits()},
                headers,
                False,
            ),
        }

    def phase_popup(self, cashier):
        say(f"p. the popup's search by receipt, by phone digits vs bare routes: {self.sizes['p']} rounds")
        self.results["p"] = self.interleaved(self.popup_kinds(cashier), self.sizes["p"], 1)

    # ------------------------------------------------------------------ s. the daily statement

    def statement_kinds(self, accountant):
        """The daily statement as the web client reads it for this month (its default filter): the
        pivot's one read, the list's one read, and the same aggregate in bare SQL."""
        today = datetime.now(NAIROBI).date()
        first = today.replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        domain = ["&", ["day", ">=", str(first)], ["day", "<=", str(last)]]
        context = {
            "lang": "en_US",
            "tz": "Africa/Nairobi",
            "uid": accountant.uid,
            "allowed_company_ids": [self.ctx["company_a"]],
            "search_default_this_month": 1,
        }

        def call_kw(method, kwargs, check):
            def run(headers=None, all_days=False):
                kw = {**kwargs, "domain": [] if all_days else domain}
                params = {"model": STATEMENT, "method": method, "args": [], "kwargs": kw}
                result, elapsed = accountant.call(f"{STATEMENT_KW}/{method}", params, headers)
                if not check(result):
                    self.errors.append(f"statement {method}: {str(result)[:160]}")
                return elapsed

            return run

        def bare(headers=None):
            params = {"first": str(first), "last": str(last)}
            result, elapsed = accountant.call("/pos_mpesa_bench/bare_statement", params, headers)
            if not (result or {}).get("success"):
                self.errors.append(f"bare statement: {str(result)[:160]}")
            return elapsed

        pivot = {
            "grouping_sets": PIVOT_GROUPING_SETS,
            "aggregates": PIVOT_AGGREGATES,
            "context": context,
        }
        listed = {
            "specification": LIST_SPEC,
            "offset": 0,
            "order": "",
            "limit": 80,
            "context": {**context, "bin_size": True},
            "count_limit": 10001,
        }
        return {
            "pivot": call_kw(
                "formatted_read_grouping_sets",
                pivot,
                lambda r: isinstance(r, list) and len(r) == len(PIVOT_GROUPING_SETS) and r[0],
            ),
            "bare_statement": bare,
            "list": call_kw("web_search_read", listed, lambda r: isinstance(r, dict) and r.get("length")),
        }

    def phase_statement(self, accountant):
        say(
            f"s. the daily statement (this month): pivot and list reads vs bare SQL: {self.sizes['s']} rounds"
        )
        kinds = self.statement_kinds(accountant)
        self.interleaved(kinds, 1, 2)  # warm: every worker, not counted
        self.results["s"] = self.interleaved(kinds, self.sizes["s"], 1)

    # ------------------------------------------------------------------ p. + s. their SQL

    def capture(self, path, call):
        """The statements of one call made with the CAPTURE header (call(headers)): the new BENCH_SQL
        line for `path` in the server log."""
        before = len(self._captured_lines(path))
        call(CAPTURE)
        for _ in range(40):
            found = self._captured_lines(path)
            if len(found) > before:
                return json.loads(found[-1])
            time.sleep(0.1)
        self.errors.append(f"no SQL captured for {path}")
        return []

    def _captured_lines(self, path):
        text = Path(self.live.log_path).read_text(errors="replace")
        return [m[2] for m in re.finditer(r"BENCH_SQL (\S+) (\[.*\])\s*$", text, re.M) if m[1] == path]

    def phase_explain_new(self, cashier, accountant):
        """EXPLAIN (ANALYZE, BUFFERS) of the one statement each new call really sends (captured in the
        server), each next to its bare route's; the statement also with STATEMENT_INDEX, in a
        transaction that is rolled back. Run before any row is updated (see phase_explain)."""
        say("p/s. the SQL of the popup's searches and of the daily statement: captured, EXPLAIN")
        popup, statement = self.popup_kinds(cashier), self.statement_kinds(accountant)
        calls = {
            "receipt": (SEARCH, popup["receipt"]),
            "bare_receipt": ("/pos_mpesa_bench/bare_receipt", popup["bare_receipt"]),
            "phone": (SEARCH, popup["phone"]),
            "bare_phone": ("/pos_mpesa_bench/bare_phone", popup["bare_phone"]),
            "pivot": (f"{STATEMENT_KW}/formatted_read_grouping_sets", statement["pivot"]),
            "bare_statement": ("/pos_mpesa_bench/bare_statement", statement["bare_statement"]),
            "list": (f"{STATEMENT_KW}/web_search_read", statement["list"]),
            "pivot_all": (
                f"{STATEMENT_KW}/formatted_read_grouping_sets",
                lambda headers=None: statement["pivot"](headers, all_days=True),
            ),
        }
        sql = {}
        for name, (path, call) in calls.items():
            call()  # warm: the captured call is the second
            table = "mpesa_callback" if name.endswith(("receipt", "phone")) else "mpesa_daily_statement"
            pattern = rf'\bFROM\s+"?{table}"?(\s|$)'
            statements = self.capture(path, call)
            self.results[f"sql_{name}"] = statements
            chosen = [
                s["sql"]
                for s in statements
                if s["sql"].lstrip().upper().startswith("SELECT") and re.search(pattern, s["sql"], re.S)
            ]
            if chosen:
                sql[name] = chosen[0]
            else:
                self.errors.append(f"{name}: no SELECT matching {pattern} among its captured statements")
        self.results["ps_sql"] = sql
        explain = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
        parts = ["SET lock_timeout = '10s';"]
        for name, text in sql.items():
            parts += ["\\echo @@warm", explain + text + ";"]
            rounds = 1 if name == "pivot_all" else self.sizes["explain"]
            parts += [part for _ in range(rounds) for part in (f"\\echo @@{name}", explain + text + ";")]
        parts += ["BEGIN;", STATEMENT_INDEX + ";", "ANALYZE mpesa_callback;"]
        for name in ("pivot", "list", "pivot_all"):
            if name in sql:
                parts += ["\\echo @@warm", explain + sql[name] + ";"]
                rounds = 1 if name == "pivot_all" else self.sizes["explain"]
                parts += [
                    part
                    for _ in range(rounds)
                    for part in (f"\\echo @@{name}_idx", explain + sql[name] + ";")
                ]
        parts += ["ROLLBACK;"]
        t0 = time.monotonic()
        out = bench_load.psql_script(self.live.pg, self.live.db, "\n".join(parts))
        self.results["ps_explain_seconds"] = time.monotonic() - t0
        plans = {}
        current = None
        for chunk in re.split(r"^(@@\w+)$", out, flags=re.M):
            chunk = chunk.strip()
            if chunk.startswith("@@"):
                current = chunk[2:]
            elif chunk and current and current != "warm":
                plans.setdefault(current, []).extend(doc[0] for doc in _json_docs(chunk))
        self.results["ps_plans"] = plans

    # ------------------------------------------------------------------ c. SQL

    def phase_explain(self, cashier):
        say("c. the search's SQL: captured in the server, EXPLAIN (ANALYZE, BUFFERS)")
        params = {"amount": 100, "payment_method_id": self.a1["payment_method_id"]}
        for _ in range(2):  # the second call, on warm caches, is the one kept
            result, _ = cashier.call("/mpesa/search_unreconciled_callbacks", params, CAPTURE)
        if not (result or {}).get("success"):
            self.errors.append(f"captured search failed: {result}")
        self.results["c_statements"] = self.captured_sql("/mpesa/search_unreconciled_callbacks")
        statements = [s["sql"] for s in self.results["c_statements"]]
        searches = [
            sql
            for sql in statements
            if sql.lstrip().upper().startswith("SELECT")
            and re.search(r'\bFROM\s+"?mpesa_callback"?(\s|$)', sql)
            and re.search(r'\bWHERE\b.*\bamount"?\s*(=|IN\b)', sql, re.S)
        ]
        if not searches:
            self.errors.append(
                f"no SELECT on mpesa_callback by amount among the search's {len(statements)} statements "
                f"(answer: {str(result)[:200]})"
            )
            return
        odoo_sql = searches[0]
        self.results["c_sql"] = odoo_sql
        window = self.a1["match_window"]
        config_ids = [str(config_id) for config_id in self.search_config_ids()]
        bare_sql = (
            "SELECT id FROM mpesa_callback "
            f"WHERE config_id IN ({', '.join(config_ids)}) AND amount = 100 "
            f"AND received_date >= (now() AT TIME ZONE 'UTC') - interval '{int(window)} minutes' "
            f"AND status = 'success' AND is_claimed IS NOT TRUE AND duplicate_of_id IS NULL "
            f"AND company_id = {int(self.a1['company_id'])} "
            "AND (callback_type = 'c2b' OR (callback_type = 'stk' AND (stk_abandoned "
            "OR request_date <= (now() AT TIME ZONE 'UTC') - interval '75 seconds'))) "
            "ORDER BY received_date DESC, id DESC LIMIT 50"
        )
        index = (
            "CREATE INDEX bench_c2b_claimable ON mpesa_callback (config_id, amount, received_date DESC) "
            "WHERE status = 'success' AND is_claimed IS NOT TRUE AND duplicate_of_id IS NULL"
        )
        self.results["c_bare_sql"] = bare_sql
        self.results["c_index"] = index
        explain = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
        n = self.sizes["explain"]
        # Interleaved rounds: Odoo's SQL on the module's own indexes; then, in a transaction rolled
        # back (nobody else ever sees it), the candidate partial index is created (first round: Odoo's
        # SQL again, would it use it?) and the other secondary indexes dropped, so that the bare lookup
        # really runs on the partial index (the planner may prefer a worse composite index). The first
        # execution of each query is a warm-up, not counted.
        others = [name for name, _def in bench_load.secondary_indexes(self.live.pg, self.live.db)]
        drop = "".join(f'DROP INDEX "{name}";' for name in others)
        parts = ["SET lock_timeout = '10s';", "\\echo @@warm", explain + odoo_sql + ";"]
        for i in range(n):
            parts += ["\\echo @@odoo", explain + odoo_sql + ";", "BEGIN;", index + ";"]
            if i == 0:
                parts += ["\\echo @@odoo_idx", explain + odoo_sql + ";"]
            parts += [
                drop,
                "\\echo @@warm",
                explain + bare_sql + ";",
                "\\echo @@bare",
                explain + bare_sql + ";",
            ]
            parts += ["ROLLBACK;"]
        out = bench_load.psql_script(self.live.pg, self.live.db, "\n".join(parts))
        plans = {"odoo": [], "bare": [], "odoo_idx": [], "warm": []}
        current = None
        for chunk in re.split(r"^(@@\w+)$", out, flags=re.M):
            chunk = chunk.strip()
            if chunk.startswith("@@"):
                current = chunk[2:]
            elif chunk and current:
                for doc in _json_docs(chunk):
                    plans[current].append(doc[0])
        self.results["c_plans"] = plans
        used = {scan_node(p)[1] for p in plans["bare"]}
        if plans["bare"] and used != {"bench_c2b_claimable"}:
            self.errors.append(f"the bare lookup did not run on the candidate partial index (used: {used})")

    # ------------------------------------------------------------------ d. + e. STK payments

    def phase_stk(self, cashier, bus):
        s = self.sizes
        total, burst = s["d"], s["d_burst"]
        say(f"d/e. {total} STK payments end to end ({burst} at once first), interleaved with bus pings")
        tills = [self.ctx["accounts"][label] for label in ("A1", "A2")]
        latencies, pings, outcomes = [], [], []
        lock = threading.Lock()
        counter = Counter("phone")

        def pay(till):
            i = counter.next()
            phone = f"07{int(self.run_tag) % 100:02d}{i:04d}00"  # ...00: the simulator pays by itself
            amount = 10 + (i * 37) % 990
            result, _ = cashier.call(
                "/mpesa/stk_push",
                {
                    "phone_number": phone,
                    "amount": amount,
                    "order_reference": f"Bench-{self.run_tag}-{i:04d}",
                    "payment_method_id": till["payment_method_id"],
                    "pos_config_id": till["pos_config_id"],
                },
            )
            if not (result or {}).get("success"):
                self.errors.append(f"stk_push: {result}")
                return
            checkout = result["checkout_request_id"]
            kind = f"{till['pos_access_token']}-MPESA_PAYMENT_STATUS"

            def mine(notif):
                message = notif.get("message") or {}
                payload = message.get("payload") or {}
                return (
                    message.get("type") == kind
                    and payload.get("checkout_request_id") == checkout
                    and (payload.get("status") != "pending")
                )

            # the till: wait for the bus, polling check_status with the POS's back-off meanwhile
            deadline = time.monotonic() + STK_WAIT_FOR_BUS
            attempt, got, answer = 0, None, None
            while time.monotonic() < deadline:
                got = bus.wait_for(mine, POLL_DELAYS[min(attempt, len(POLL_DELAYS) - 1)])
                answer, _ = cashier.call("/mpesa/check_status", {"checkout_request_id": checkout})
                if got or (answer or {}).get("status") not in (None, "pending"):
                    break
                attempt += 1
            sent_at = self.delivery_time(checkout)
            with lock:
                outcomes.append(
                    {
                        "checkout": checkout,
                        "bus": got is not None,
                        "status": (answer or {}).get("status"),
                        "reference": f"Bench-{self.run_tag}-{i:04d}",
                    }
                )
                if got and sent_at:
                    latencies.append(got[0] - sent_at)
            if not got:
                self.errors.append(f"STK {checkout}: no bus message within {STK_WAIT_FOR_BUS} s")

        def ping(till):
            channel = till["pos_access_token"]
            t0 = time.time()
            status, data, _h, _e = bc.request(f"{self.url}/pos_mpesa_bench/bus_ping/{channel}", b"{}")
            sent = json.loads(data or b"{}").get("sent")
            kind = f"{channel}-BENCH_PING"
            got = bus.wait_for(
                lambda n: (
                    (n.get("message") or {}).get("type") == kind
                    and (n["message"].get("payload") or {}).get("sent") == sent
                ),
                10,
            )
            if status != 200 or not got:
                self.errors.append(f"bus ping: HTTP {status}, received {bool(got)}")
                return
            with lock:
                pings.append(got[0] - t0)

        with concurrent.futures.ThreadPoolExecutor(burst) as pool:
            list(pool.map(pay, [tills[i % 2] for i in range(burst)]))
        for i in range(total - burst):
            till = tills[i % 2]
            if i % 2:
                ping(till)
                pay(till)
            else:
                pay(till)
                ping(till)
        for i in range(max(0, total - len(pings))):
            ping(tills[i % 2])
        self.results["d"] = {"latency": latencies, "ping": pings, "outcomes": outcomes}

    def delivery_time(self, checkout):
        """time.time() at which the simulator started POSTing the STK callback of this request."""
        for _ in range(20):
            _s, data, _h, _e = bc.request(f"{self.live.sim_url}/__sim__/callbacks", method="GET")
            for row in json.loads(data).get("callbacks", []):
                if row.get("kind") == "stk" and row.get("reference") == checkout:
                    return row.get("at")
            time.sleep(0.1)
        return None

    # ------------------------------------------------------------------ memory, log

    def captured_sql(self, path):
        """Statements of the last request to `path` made with the CAPTURE header (server log)."""
        pattern = re.compile(r"BENCH_SQL (\S+) (\[.*\])\s*$", re.M)
        for _ in range(20):
            text = Path(self.live.log_path).read_text(errors="replace")
            found = [m for m in pattern.finditer(text) if m[1] == path or re.fullmatch(_masked(path), m[1])]
            if found:
                return json.loads(found[-1][2])
            time.sleep(0.1)
        self.errors.append(f"no SQL captured for {path}")
        return []

    def capture_sql_at_end(self, cashier, accountant):
        """One STK callback, one C2B callback and one of each search and statement read with the
        CAPTURE header, on warm workers: the SQL of each, for the report."""
        popup, statement = self.popup_kinds(cashier), self.statement_kinds(accountant)
        for name, path, call in (
            ("receipt", SEARCH, popup["receipt"]),
            ("phone", SEARCH, popup["phone"]),
            ("pivot", f"{STATEMENT_KW}/formatted_read_grouping_sets", statement["pivot"]),
            ("list", f"{STATEMENT_KW}/web_search_read", statement["list"]),
        ):
            self.results[f"sql_{name}"] = self.capture(path, call)
        params = {"amount": 100, "payment_method_id": self.a1["payment_method_id"]}
        cashier.call("/mpesa/search_unreconciled_callbacks", params, CAPTURE)
        self.results["sql_search"] = self.captured_sql("/mpesa/search_unreconciled_callbacks")
        pending = self.pending_rows(1, f"sql{self.run_tag}")
        for kind, url, payload in (
            ("stk", self.a1["stk_callback_url"], self.stk_payload(next(pending))),
            ("c2b", self.a1["c2b_confirmation_url"], self.c2b_payload()),
        ):
            status, data, _h, _e = bc.post_json(url, payload, CAPTURE)
            if status != 200:
                self.errors.append(f"captured {kind} callback: HTTP {status} {data[:120]!r}")
            self.results[f"sql_{kind}"] = self.captured_sql(_path(url))

    def rss(self):
        pid = self.live.processes().get("Odoo")
        return bc.process_tree(pid) if pid else []

    def queries_per_call(self, paths):
        """{kind: [query counts]} from the server's request lines."""
        patterns = [(re.compile(_masked(path)), kind) for path, kind in paths.items()]
        counts = {kind: [] for kind in [*paths.values(), "receipt", "phone"]}
        text = Path(self.live.log_path).read_text(errors="replace")
        for match in LOG_LINE.finditer(text):
            if CACHE_OFF in match["path"]:
                continue  # a cache turned off: counted by queries_with_cache_off
            kind = re.search(r"[?&]bench_kind=(\w+)", match["path"])
            if kind and kind[1] in counts:
                counts[kind[1]].append(int(match["queries"]))  # the search by receipt, by phone digits
                continue
            path = re.split(r"[?#]", match["path"])[0]  # call_kw paths end with #model.method
            for pattern, kind in patterns:
                if pattern.match(path):
                    counts[kind].append(int(match["queries"]))
                    break
        return counts

    def queries_with_cache_off(self):
        """{cache name: [query counts]} of the requests that turned that cache off."""
        counts = {name: [] for name in CACHES}
        text = Path(self.live.log_path).read_text(errors="replace")
        for match in LOG_LINE.finditer(text):
            found = re.search(rf"{CACHE_OFF}=(\w+)", match["path"])
            if found and found[1] in counts:
                counts[found[1]].append(int(match["queries"]))
        return counts


def _json_docs(text):
    decoder = json.JSONDecoder()
    pos, docs = 0, []
    while pos < len(text):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        if text[pos] not in "[{":
            nl = text.find("\n", pos)
            pos = len(text) if nl < 0 else nl + 1
            continue
        doc, pos = decoder.raw_decode(text, pos)
        docs.append(doc)
    return docs


def scan_node(plan):
    """(node type, index name, actual total ms) of the node that reads mpesa_callback."""
    stack = [plan["Plan"]]
    while stack:
        node = stack.pop(0)
        if node.get("Relation Name") == "mpesa_callback":
            return node["Node Type"], node.get("Index Name"), node["Actual Total Time"]
        stack.extend(node.get("Plans", []))
    return None, None, None


# ---------------------------------------------------------------------------------------------- table


class Table:
    """The report: one row per figure; in full mode a row with a goal passes when the goal is met,
    in quick mode when its figure was measured."""

    def __init__(self, quick):
        self.quick = quick
        self.rows = []
        self.passed = self.failed = 0

    def add(self, section, figure, n, value, floor, ratio, goal, met, measured=True):
        """goal: what the figure should be (None: information); met None: the goal column says what the
        figure means, not a target (information in a full run, a measured figure in a quick one)."""
        if goal is None or (met is None and not self.quick):
            verdict = "info"
        elif self.quick:
            verdict = "measured" if measured else "NOT MEASURED"
            self.passed += bool(measured)
            self.failed += not measured
        else:
            ok = bool(measured and met)
            verdict = "met" if ok else ("NOT MEASURED" if not measured else "**NOT MET**")
            self.passed += ok
            self.failed += not ok
        self.rows.append((section, figure, str(n), value, floor, ratio, goal or "", verdict))

    def print(self, title):
        headers = ("", "figure", "n", "pos_mpesa", "floor (bare Odoo)", "ratio", "goal", "result")
        widths = [max(len(str(r[i])) for r in [headers, *self.rows]) for i in range(len(headers))]

        def line(cells):
            return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

        print()
        print(title)
        print()
        print(line(headers))
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for row in self.rows:
            print(line(row))
        print()


def ms(seconds):
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def ratio_text(a, b):
    if a is None or b is None or b <= 0:
        return None, "-"
    r = a / b
    return r, f"{r:.2f}x"


def _pair_rows(t, section, label, samples, kind, bare, goal_ratio, judged=(50, 95)):
    """p50 and p95 of `kind` vs `bare`; the percentiles in `judged` have the goal ratio, the others
    are information."""
    for q in (50, 95):
        goal = goal_ratio if q in judged else None
        value = bc.percentile(samples.get(kind, []), q)
        floor = bc.percentile(samples.get(bare, []), q)
        rt, rtext = ratio_text(value, floor)
        n = f"{len(samples.get(kind, []))}+{len(samples.get(bare, []))}"
        t.add(
            section,
            f"{label} p{q}",
            n,
            ms(value),
            ms(floor),
            rtext,
            f"<= {goal}x" if goal else None,
            rt is not None and goal is not None and rt <= goal,
            measured=rt is not None,
        )


def build_table(bench, quick, memory, duration, taps, counts):
    t = Table(quick)
    r = bench.results
    for conc, key in ((1, "a1"), (CONCURRENCY, "a20")):
        for kind, label in (("stk", "STK"), ("c2b", "C2B")):
            _pair_rows(
                t,
                "a",
                f"{label} callback acknowledged, {conc} sender{'s' if conc > 1 else ''},",
                r.get(key, {}),
                kind,
                f"bare_{kind}",
                1.2,
            )
    _pair_rows(t, "b", "C2B search,", r.get("b", {}), "search", "bare_rpc", 1.2)
    _pair_rows(
        t,
        "b",
        "C2B search vs the same route running the search's bare SQL,",
        r.get("b", {}),
        "search",
        "bare_sql",
        None,
    )

    plans = r.get("c_plans") or {}
    odoo = [(*scan_node(p), p.get("Execution Time")) for p in plans.get("odoo", [])]
    bare = [(*scan_node(p), p.get("Execution Time")) for p in plans.get("bare", [])]
    if odoo and bare:
        odoo_ms, bare_ms = bc.median([o[3] for o in odoo]), bc.median([b[3] for b in bare])
        rt = odoo_ms / bare_ms if bare_ms else None
        t.add(
            "c",
            "search SQL: plan node, execution time (median)",
            len(odoo),
            f"{odoo[0][0]}, {odoo_ms:.2f} ms",
            f"{bare[0][0]}, {bare_ms:.2f} ms",
            f"{rt:.2f}x" if rt else "-",
            "Index (Only) Scan, <= 2x",
            odoo[0][0] in ("Index Scan", "Index Only Scan") and rt is not None and rt <= 2,
        )
    else:
        t.add(
            "c",
            "search SQL: plan node, execution time",
            0,
            "-",
            "-",
            "-",
            "Index (Only) Scan, <= 2x",
            False,
            measured=False,
        )

    _popup_statement_rows(t, r)

    d = r.get("d", {})
    for q in (50, 95):
        value, floor = bc.percentile(d.get("latency", []), q), bc.percentile(d.get("ping", []), q)
        t.add(
            "d",
            f"STK result on the till (callback POST -> bus message) p{q}",
            f"{len(d.get('latency', []))}+{len(d.get('ping', []))}",
            ms(value),
            ms(floor),
            ratio_text(value, floor)[1],
            "<= 1 s" if q == 95 else None,
            value is not None and value <= 1.0,
            measured=value is not None,
        )

    outcomes = d.get("outcomes", [])
    paid = [o for o in outcomes if o["status"] == "completed"]
    pushes_by_ref, queries_by_checkout = {}, {}
    for tap in taps.values():
        for body in tap.bodies("/stkpush/v1/processrequest"):
            ref = body.get("AccountReference")
            pushes_by_ref[ref] = pushes_by_ref.get(ref, 0) + 1
        for body in tap.bodies("/stkpushquery/v1/query"):
            ref = body.get("CheckoutRequestID")
            queries_by_checkout[ref] = queries_by_checkout.get(ref, 0) + 1
    max_push = max((pushes_by_ref.get(bench_load_ref(o["reference"]), 0) for o in paid), default=None)
    max_query = max((queries_by_checkout.get(o["checkout"], 0) for o in paid), default=None)
    n_pay = f"{len(paid)} paid"
    t.add(
        "e",
        "Daraja STK pushes per payment (max)",
        n_pay,
        _num(max_push),
        "1",
        "-",
        "1",
        max_push == 1,
        measured=max_push is not None,
    )
    t.add(
        "e",
        "Daraja STK queries per payment (max)",
        n_pay,
        _num(max_query),
        "0",
        "-",
        "<= 1",
        max_query is not None and max_query <= 1,
        measured=max_query is not None,
    )
    allowed = max(1, -(-int(duration) // (55 * 60)))
    oauth = {label: tap.count("/oauth/v1/generate") for label, tap in taps.items()}
    used = [oauth[label] for label in ("A1", "A2")]
    worst = max(used)
    t.add(
        "e",
        f"OAuth token requests per account in {duration / 60:.1f} min, all workers "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(oauth.items()))})",
        "2 accounts",
        str(worst),
        "1",
        "-",
        f"<= {allowed} per account per 55 min",
        1 <= worst <= allowed and min(used) >= 1,
        measured=worst >= 1,
    )

    before, after = memory
    # prefork: the workers and the gevent worker; threaded: the one process serves everything
    served = [(p, role, rss) for p, role, rss in after if role != "main"] or after
    b_total = sum(rss for p, _r, rss in before if p in {s[0] for s in served})
    a_total = sum(rss for _p, _r, rss in served)
    same = {p for p, _r, _s in before} == {p for p, _r, _s in after}
    noise = max(MEMORY_NOISE[0], MEMORY_NOISE[1] * b_total)
    t.add(
        "f",
        "RSS of the workers and the gevent worker, end vs after warm-up"
        + ("" if same else " (a worker restarted)"),
        f"{len(served)} processes",
        f"{a_total / 2**20:.0f} MiB",
        f"{b_total / 2**20:.0f} MiB",
        f"{a_total / b_total:.2f}x" if b_total else "-",
        f"+{noise / 2**20:.0f} MiB at most",
        b_total > 0 and a_total - b_total <= noise,
        measured=b_total > 0 and a_total > 0,
    )
    for kind, bare, label in (
        ("stk", "bare_stk", "STK callback"),
        ("c2b", "bare_c2b", "C2B callback"),
        ("search", "bare_rpc", "C2B search"),
        ("receipt", "bare_receipt", "search by receipt code"),
        ("phone", "bare_phone", "search by phone digits"),
        ("pivot", "bare_statement", "daily statement's pivot read"),
        ("list", None, "daily statement's list read"),
        ("stk_push", None, "/mpesa/stk_push"),
        ("check_status", None, "/mpesa/check_status"),
    ):
        value, base = bc.median(counts.get(kind, [])), bc.median(counts.get(bare, [])) if bare else None
        t.add(
            "q",
            f"SQL queries per call, {label} (median, from the server log)",
            len(counts.get(kind, [])),
            _num(value),
            _num(base),
            ratio_text(value, base)[1],
            None,
            None,
        )
    _cache_rows(t, r.get("k", {}), counts)
    t.add(
        "",
        "requests answered as expected",
        "all",
        f"{len(bench.errors)} errors",
        "0",
        "-",
        "0 errors",
        not bench.errors,
    )
    return t


def cache_verdict(queries_off, queries_on, p50_ratio):
    """What a cache is worth: the queries it saves on every call, else the time."""
    if queries_off is not None and queries_on is not None and queries_off > queries_on:
        return f"kept: {queries_off - queries_on:g} more queries per call without it"
    if p50_ratio is not None and p50_ratio >= 1.05:
        return "kept: slower without it"
    return "removable"


def _cache_rows(t, samples, counts):
    """k: each cache off (value) vs on (floor), for the call it serves; the verdict in the goal column."""
    for name, kind in CACHES.items():
        label = "C2B callback" if kind == "c2b" else "C2B search"
        off = bc.percentile(samples.get(f"off:{name}", []), 50)
        on = bc.percentile(samples.get(kind, []), 50)
        p50_ratio, p50_text = ratio_text(off, on)
        q_off = bc.median(counts.get("cache_off", {}).get(name, []))
        q_on = bc.median(counts.get(kind, []))
        verdict = cache_verdict(q_off, q_on, p50_ratio)
        n = f"{len(samples.get(f'off:{name}', []))}+{len(samples.get(kind, []))}"
        t.add("k", f"cache {name} off vs on: {label} p50", n, ms(off), ms(on), p50_text, verdict, None)
        t.add(
            "k",
            f"cache {name} off vs on: {label} SQL queries per call (median)",
            len(counts.get("cache_off", {}).get(name, [])),
            _num(q_off),
            _num(q_on),
            ratio_text(q_off, q_on)[1],
            verdict,
            None,
            measured=q_off is not None,
        )


def _plan_nodes(node):
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def plan_summary(plans):
    """What a statement's plans say of mpesa_callback: (how it is read, median execution ms, a Seq Scan
    on it?, an index used?); None without plans."""
    if not plans:
        return None
    nodes = list(_plan_nodes(plans[0]["Plan"]))
    seq = any(n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "mpesa_callback" for n in nodes)
    reads = []
    for n in nodes:
        if n.get("Relation Name") == "mpesa_callback" or n["Node Type"] == "Bitmap Index Scan":
            text = n["Node Type"] + (f" using {n['Index Name']}" if n.get("Index Name") else "")
            if text not in reads:
                reads.append(text)
    index = any(n.get("Index Name") for n in nodes)
    return " + ".join(reads) or "-", bc.median([p["Execution Time"] for p in plans]), seq, index


def _explain_row(t, section, label, plans, floor_plans, goal, judge, floor_label=""):
    mine, floor = plan_summary(plans), plan_summary(floor_plans)
    ratio = ratio_text(mine[1], floor[1])[1] if mine and floor else "-"
    t.add(
        section,
        label,
        len(plans or []),
        f"{mine[0]}, {mine[1]:.2f} ms" if mine else "-",
        f"{floor_label}{floor[0]}, {floor[1]:.2f} ms" if floor else "-",
        ratio,
        goal,
        judge(mine) if mine else False,
        measured=mine is not None,
    )


def _popup_statement_rows(t, r):
    """p: the popup's search by receipt and by phone digits; s: the daily statement."""
    p, s = r.get("p", {}), r.get("s", {})
    plans = r.get("ps_plans", {})
    for kind, label in (
        ("receipt", "search by receipt code"),
        ("phone", "search by phone digits, any amount"),
    ):
        _pair_rows(
            t,
            "p",
            f"{label} vs a bare route running the same statement,",
            p,
            kind,
            f"bare_{kind}",
            1.2,
            (50,),
        )
        _explain_row(
            t,
            "p",
            f"{label}: EXPLAIN of the SQL sent (median; floor: the bare route's)",
            plans.get(kind),
            plans.get(f"bare_{kind}"),
            "an index scan, no Seq Scan on mpesa_callback",
            lambda mine: mine[3] and not mine[2],
        )
    label = "daily statement, the pivot's read (this month) vs the same aggregate in bare SQL,"
    _pair_rows(t, "s", label, s, "pivot", "bare_statement", 1.5, (50,))
    for kind, label in (
        ("list", "list (web_search_read)"),
        ("pivot", "pivot (formatted_read_grouping_sets)"),
    ):
        t.add(
            "s",
            f"time to open the daily statement's {label}, this month, p50 / p95",
            len(s.get(kind, [])),
            f"{ms(bc.percentile(s.get(kind, []), 50))} / {ms(bc.percentile(s.get(kind, []), 95))}",
            "-",
            "-",
            None,
            None,
        )
    for kind, label in (
        ("pivot", "the pivot's SQL, this month"),
        ("list", "the list's SQL, this month"),
        ("pivot_all", "the pivot's SQL, every day (no filter)"),
    ):
        _explain_row(
            t,
            "s",
            f"{label}: EXPLAIN (median; floor: with the candidate index)",
            plans.get(kind),
            plans.get(f"{kind}_idx"),
            None,
            lambda _mine: None,
            floor_label="index: ",
        )


def _num(value):
    return "-" if value is None else f"{value:.0f}"


def bench_load_ref(reference):
    """Daraja's AccountReference of an order reference (models: the last 12 allowed characters)."""
    cleaned = re.sub(r"[^A-Za-z0-9 -]", "", reference) or "POS"
    return cleaned[-12:]


# ---------------------------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(prog="tools/run bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 rows, a few requests; not judged")
    parser.add_argument("--rows", type=int, help="callback rows to load (default 1,000,000; quick 10,000)")
    parser.add_argument(
        "--workers",
        type=int,
        default=max(2, 2 * (os.cpu_count() or 1) + 1),
        help="prefork workers (default: Odoo's sizing rule, 2 x CPUs + 1)",
    )
    parser.add_argument("--threaded", action="store_true", help="one threaded process instead of prefork")
    args = parser.parse_args()
    quick = args.quick
    rows = args.rows or (10_000 if quick else 1_000_000)
    workers = 0 if args.threaded else max(2, args.workers)
    mode = "threaded" if workers == 0 else f"prefork, {workers} workers + gevent"
    sizes = SIZES["quick" if quick else "full"]
    say(f"bench: {'QUICK, ' if quick else ''}{rows:,} rows, {mode}")

    taps = {label: bc.DarajaTap(label) for label in ACCOUNTS}
    setup = SETUP % {
        "taps": {k: v.url for k, v in taps.items()},
        "login": CASHIER[0],
        "password": CASHIER[1],
        "acc_login": ACCOUNTANT[0],
        "acc_password": ACCOUNTANT[1],
    }
    started = time.monotonic()
    try:
        with BenchServer("bench", setup_script=setup, workers=workers, callback_delay=0.2) as live:
            line = [ln for ln in live.setup_output.splitlines() if ln.startswith("BENCH_SETUP ")]
            if not line:
                fail(f"the setup script printed no BENCH_SETUP line: {live.setup_output[-500:]}")
            ctx = json.loads(line[-1].split(" ", 1)[1])
            for tap in taps.values():
                tap.upstream = live.sim_url
            load_ctx = {
                "currency_id": ctx["currency_id"],
                "cashier_uid": ctx["cashier_uid"],
                "accounts": [dict(ctx["accounts"][k], weight=ACCOUNT_WEIGHTS[k]) for k in ACCOUNTS],
            }
            load = bench_load.load(live.pg, live.db, load_ctx, rows, say=lambda m: say(f"load: {m}"))
            bench = Bench(live, ctx, taps, sizes, quick)
            cashier = bc.Session(live.odoo_url, live.db, *CASHIER)
            accountant = bc.Session(live.odoo_url, live.db, *ACCOUNTANT)
            bus_port = live.gevent_port or live.odoo_port
            wait_http(f"http://127.0.0.1:{bus_port}/websocket/health", 90)  # the gevent worker starts late
            ws_base = f"ws://127.0.0.1:{bus_port}/websocket?version=19.0-2"
            last = int((live.sql("SELECT coalesce(max(id), 0) FROM bus_bus") or [["0"]])[0][0] or 0)
            bus = bc.BusClient(
                ws_base,
                cashier.cookie,
                [ctx["accounts"][k]["pos_access_token"] for k in ("A1", "A2")],
                last=last,
            )
            t_measure = time.time()
            try:
                # first, while no row was ever updated: an index built in a transaction over broken
                # HOT chains is unusable in that same transaction (pg_index.indcheckxmin)
                bench.phase_explain(cashier)
                bench.phase_explain_new(cashier, accountant)
                say("warm-up (every route, every worker)")
                bench.warm_up(cashier)
                time.sleep(1)
                before = bench.rss()
                bench.phase_callbacks()
                bench.phase_search(cashier)
                bench.phase_popup(cashier)
                bench.phase_statement(accountant)
                bench.phase_caches(cashier)
                bench.phase_stk(cashier, bus)
                time.sleep(1)
                after = bench.rss()
                bench.capture_sql_at_end(cashier, accountant)
            finally:
                bus.close()
            duration = time.time() - t_measure
            paths = {
                _path(ctx["accounts"]["A1"]["stk_callback_url"]): "stk",
                _path(ctx["accounts"]["A1"]["c2b_confirmation_url"]): "c2b",
                f"/pos_mpesa_bench/bare/{bench.bare_token}/stk": "bare_stk",
                f"/pos_mpesa_bench/bare/{bench.bare_token}/c2b": "bare_c2b",
                "/mpesa/search_unreconciled_callbacks": "search",
                "/pos_mpesa_bench/bare_jsonrpc": "bare_rpc",
                "/pos_mpesa_bench/bare_search": "bare_sql",
                "/pos_mpesa_bench/bare_receipt": "bare_receipt",
                "/pos_mpesa_bench/bare_phone": "bare_phone",
                "/pos_mpesa_bench/bare_statement": "bare_statement",
                f"{STATEMENT_KW}/formatted_read_grouping_sets": "pivot",
                f"{STATEMENT_KW}/web_search_read": "list",
                "/mpesa/stk_push": "stk_push",
                "/mpesa/check_status": "check_status",
            }
            counts = bench.queries_per_call(paths)
            counts["cache_off"] = bench.queries_with_cache_off()
            db_rows = load["rows"]
            # the measured part of the run: OAuth requests are judged per 55 minutes of it
            table = build_table(bench, quick, (before, after), max(duration, 1.0), taps, counts)
            report(bench, table, quick, rows, mode, db_rows, time.monotonic() - started, before, after, live)
    except (bc.BenchError, OSError) as exc:
        fail(f"the bench broke: {type(exc).__name__}: {exc}")
    finally:
        for tap in taps.values():
            tap.stop()
    print(f"{table.passed} passed, {table.failed} failed")
    # quick: a failed check is a figure the bench could not measure; full: a goal not met
    return 1 if table.failed else 0


def _masked(path):
    """A regex for a path whose secret token the server log may mask (e.g. ***): any segment of 16+
    hex digits matches any segment."""
    return "^" + re.sub(r"/[0-9a-f]{16,}(?=/|$)", "/[^/]+", re.escape(path)) + "$"


def wait_http(url, timeout):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if bc.request(url, method="GET", timeout=5)[0] == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            fail(f"{url} did not answer within {timeout} s")
        time.sleep(0.5)


def _path(url):
    from urllib.parse import urlsplit

    return urlsplit(url).path


def report(bench, table, quick, rows, mode, db_rows, elapsed, before, after, live):
    title = (
        f"make bench{' QUICK=1' if quick else ''}: {db_rows:,} rows in mpesa_callback, {mode}, "
        f"{elapsed / 60:.1f} min"
    )
    table.print(title)
    if quick:
        print("QUICK: proves the bench works; its figures are not judged against the goals.")
    r = bench.results
    for key, label in (
        ("sql_stk", "one STK callback"),
        ("sql_c2b", "one C2B confirmation"),
        ("sql_search", "one C2B search"),
        ("sql_receipt", "one search by receipt code"),
        ("sql_phone", "one search by phone digits"),
        ("sql_pivot", "the daily statement's pivot read"),
        ("sql_list", "the daily statement's list read"),
    ):
        if r.get(key):
            print(f"\nThe {len(r[key])} SQL statements of {label} (captured in the server):")
            for i, stmt in enumerate(r[key], 1):
                text = re.sub(r"\b[0-9a-f]{32,}\b", "***", " ".join(stmt["sql"].split()))
                print(f"  {i:2d}. {stmt['ms']:7.3f} ms  {text[:150]}{'...' if len(text) > 150 else ''}")
    if r.get("c_sql"):
        print("\nThe search's SQL:\n  " + " ".join(r["c_sql"].split()))
        plans = r.get("c_plans", {})
        for key, label in (
            ("odoo", "its plan"),
            ("odoo_idx", f"its plan with the candidate index ({r['c_index']})"),
            ("bare", "the bare lookup on that index"),
        ):
            if plans.get(key):
                node = scan_node(plans[key][0])
                times = [p.get("Execution Time") for p in plans[key]]
                print(
                    f"  {label}: {node[0]}{' using ' + node[1] if node[1] else ''}, "
                    f"median {bc.median(times):.2f} ms"
                )
                print("    " + "\n    ".join(_plan_lines(plans[key][0]["Plan"])))
    _print_new_plans(r)
    for pid, role, rss in after:
        b = {p: s for p, _r, s in before}.get(pid)
        print(f"  RSS {role} {pid}: {'-' if b is None else f'{b / 2**20:.0f}'} -> {rss / 2**20:.0f} MiB")
    if bench.errors:
        kinds = {}
        for err in bench.errors:
            kinds.setdefault(err[:160], []).append(err)
        print(f"\n{len(bench.errors)} unexpected answers ({len(kinds)} kinds):")
        for first, same in list(kinds.items())[:12]:
            print(f"  {len(same)} x {first}")
    print(f"server log: {live.log_path}")


def _print_new_plans(r):
    """p and s: the statement each call sent and its plans (and the bare route's, the candidate index's)."""
    sql, plans = r.get("ps_sql", {}), r.get("ps_plans", {})
    for name, label, others in (
        ("receipt", "the search by receipt code", (("bare_receipt", "the bare route"),)),
        ("phone", "the search by phone digits", (("bare_phone", "the bare route"),)),
        (
            "pivot",
            "the daily statement's pivot read, this month",
            (("pivot_idx", "with the candidate index"),),
        ),
        ("list", "the daily statement's list read, this month", (("list_idx", "with the candidate index"),)),
        ("pivot_all", "the pivot's read, every day", (("pivot_all_idx", "with the candidate index"),)),
    ):
        if not sql.get(name):
            continue
        text = " ".join(sql[name].split())
        print(f"\n{label[0].upper()}{label[1:]}'s SQL:\n  {text[:1500]}{'...' if len(text) > 1500 else ''}")
        for key, key_label in ((name, "its plan"), *others):
            summary = plan_summary(plans.get(key))
            if summary:
                print(f"  {key_label}: {summary[0]}, median {summary[1]:.2f} ms")
                print("    " + "\n    ".join(_plan_lines(plans[key][0]["Plan"])))
    if sql.get("pivot"):
        print(f"\nThe candidate index (built in a transaction that is rolled back):\n  {STATEMENT_INDEX}")


def _plan_lines(node, depth=0):
    line = f"{'  ' * depth}{node['Node Type']}"
    if node.get("Index Name"):
        line += f" using {node['Index Name']}"
    if node.get("Relation Name"):
        line += f" on {node['Relation Name']}"
    line += f" (actual {node.get('Actual Total Time', 0):.3f} ms, rows {node.get('Actual Rows')}"
    line += f", loops {node.get('Actual Loops')})"
    for key in ("Index Cond", "Filter", "Rows Removed by Filter", "Workers Launched"):
        if node.get(key):
            line += f"\n{'  ' * depth}    {key}: {node[key]}"
    buffers = {k: node.get(k) for k in ("Shared Hit Blocks", "Shared Read Blocks") if node.get(k)}
    if buffers:
        line += f"\n{'  ' * depth}    Buffers: " + ", ".join(
            f"{k.split()[1].lower()}={v}" for k, v in buffers.items()
        )
    out = [line]
    for child in node.get("Plans", []):
        out.extend(_plan_lines(child, depth + 1))
    return out


if __name__ == "__main__":
    main_guard(main)
