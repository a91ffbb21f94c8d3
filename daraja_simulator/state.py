"""All mutable simulator state behind one lock: options, tokens, transactions, registrations.

Outage switches (for the reliability suite; the control API is in control.py):
- fault "no_answer": the APIs of fault_apis accept the connection and read the request, then never
  answer until the fault is switched off (the connection is then closed without an answer) or the
  simulator stops. Each held request holds its own thread (the server is threaded): the control API and
  the other APIs keep answering. With fault_processed the work is done first (a prompt is sent).
- async_outcome: what Transaction Status and Reversal POST after their acknowledgement (records.py).
- request counters: GET /__sim__/stats (OAuth calls and tokens, requests per API, held requests).
"""

import threading
import time
from dataclasses import asdict, dataclass, field, replace

from .accounts import CONSUMER_KEY, CONSUMER_SECRET, default_c2b_accounts, default_stk_accounts
from .results import Scenario, callback_desc

BAD_CREDENTIALS_MODES = ("empty", "400.008.01", "999991")
QUERY_PENDING_MODES = ("alternate", "500", "4999")
MSISDN_MODES = ("plain", "masked", "hashed")
LONG_REFERENCE_MODES = ("reject", "no_prompt")
# An STK payment to a shortcode with registered C2B URLs is also notified to its C2B confirmation URL,
# with the same receipt as TransID: after the STK callback, at the same moment (two threads), or never.
STK_TWIN_MODES = ("after", "same_moment", "off")
# Faults a Daraja API may answer with (docs/daraja.md, "Errors", "OAuth"): see Options.fault.
FAULTS = (
    "none",
    "http_500",  # HTTP 500, Daraja's JSON 500.003.1001 Internal Server Error
    "http_503",  # HTTP 503 from the gateway, an HTML page
    "spike_arrest",  # HTTP 500, 500.003.02 Spike Arrest Violation (rate limit): not processed
    "token_invalidated",  # the bearer token dies (all tokens forgotten): the API family's invalid token
    "empty_body",  # HTTP 200, empty body
    "html_body",  # HTTP 200, an HTML page (Apigee proxy)
    "hang",  # the answer comes fault_hang_seconds late (processed first): past the client's timeout
    "no_answer",  # no answer at all until the fault is switched off; then the connection is closed
)
FAULT_APIS = (
    "oauth",
    "stk_push",
    "stk_query",
    "c2b_register",
    "c2b_simulate",
    "transaction_status",
    "reversal",
    "pull_register",
    "pull_query",
    "qr",
)
# How a C2B payment's confirmation reaches the registered URL: once, or never ("lost": Safaricom gave
# up after its retries, as while the receiver was down; Pull Transactions still lists the payment)
C2B_DELIVERY_MODES = ("once", "lost")
# What Transaction Status and Reversal do after acknowledging (records.py): POST the Result to the
# ResultURL; POST a queue-timeout notice to the QueueTimeOutURL instead (the request was not processed);
# nothing at all (processed, the Result never comes); or the Result twice (same body, for duplicates).
ASYNC_OUTCOMES = ("result", "timeout", "none", "twice")
# Dynamic QR's success code (docs/daraja.md, "Dynamic QR": sources disagree): "00" as the 2026 sandbox
# answered, or "AG" for the "AG_<date>_<hex>" code of Safaricom's page.
QR_RESPONSE_CODES = ("00", "AG")
# The BillRefNumber of a Buy Goods (BG) QR payment: the QR's RefNo, or empty. Unverified which one
# Daraja sends (docs/daraja.md, "Dynamic QR"); "empty" tests matching by the amount alone.
QR_TILL_BILL_REFS = ("ref_no", "empty")


@dataclass
class Options:
    """Behaviour switches; each one models a Daraja variant described in docs/daraja.md."""

    callback_delay: float = 0.0
    production: bool = False
    prompt_timeout: float = 45.0
    expires_in_as_string: bool = False
    bad_credentials_mode: str = "empty"
    invalidate_old_tokens: bool = False
    query_pending_mode: str = "alternate"
    c2b_msisdn_mode: str = "hashed"
    long_account_reference: str = "reject"
    validation_timeout: float = 8.0
    query_description_typo: bool = False  # older "accepted successsfully" (three s)
    query_empty_error_every: int = 0  # every Nth query of a final payment: 500.001.1001, empty message
    callback_forwarded_for: str = ""  # X-Forwarded-For on callbacks, e.g. a Safaricom address
    push_response_delay: float = 0.0  # answer processrequest late (prompt already sent): client timeouts
    c2b_api_version: str = "v2"  # the C2B product version of every C2B account at start/reset
    c2b_delivery: str = "once"  # C2B_DELIVERY_MODES, for payments that do not say
    stk_c2b_twin: str = "after"  # STK_TWIN_MODES
    fault: str = "none"  # FAULTS: injected into the APIs of fault_apis
    fault_apis: str = "stk_push,stk_query"  # comma-separated FAULT_APIS
    fault_every: int = 1  # every Nth request to those APIs gets the fault (1: all)
    fault_limit: int = 0  # at most this many faults, then normal answers again (0: no limit)
    fault_processed: bool = False  # http_500/http_503/empty_body/html_body after doing the work (ambiguous)
    fault_hang_seconds: float = 30.0  # how late a "hang" answer comes
    async_outcome: str = "result"  # ASYNC_OUTCOMES: Transaction Status and Reversal
    qr_response_code: str = "00"  # QR_RESPONSE_CODES: the ResponseCode of a generated Dynamic QR
    qr_till_bill_ref: str = "ref_no"  # QR_TILL_BILL_REFS: BillRefNumber of a scanned Buy Goods QR
    consumer_key: str = CONSUMER_KEY
    consumer_secret: str = CONSUMER_SECRET

    def check(self) -> None:
        for name, value, allowed in (
            ("bad_credentials_mode", self.bad_credentials_mode, BAD_CREDENTIALS_MODES),
            ("query_pending_mode", self.query_pending_mode, QUERY_PENDING_MODES),
            ("c2b_msisdn_mode", self.c2b_msisdn_mode, MSISDN_MODES),
            ("long_account_reference", self.long_account_reference, LONG_REFERENCE_MODES),
            ("c2b_api_version", self.c2b_api_version, ("v1", "v2")),
            ("c2b_delivery", self.c2b_delivery, C2B_DELIVERY_MODES),
            ("stk_c2b_twin", self.stk_c2b_twin, STK_TWIN_MODES),
            ("fault", self.fault, FAULTS),
            ("async_outcome", self.async_outcome, ASYNC_OUTCOMES),
            ("qr_response_code", self.qr_response_code, QR_RESPONSE_CODES),
            ("qr_till_bill_ref", self.qr_till_bill_ref, QR_TILL_BILL_REFS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}")
        if self.callback_delay < 0 or self.push_response_delay < 0 or self.query_empty_error_every < 0:
            raise ValueError("callback_delay, push_response_delay and query_empty_error_every must be >= 0")
        if self.prompt_timeout <= 0 or self.validation_timeout <= 0:
            raise ValueError("prompt_timeout and validation_timeout must be > 0")
        if any(ch in self.callback_forwarded_for for ch in "\r\n"):
            raise ValueError("callback_forwarded_for must be one line")
        unknown_apis = set(self.fault_api_set()) - set(FAULT_APIS)
        if unknown_apis or not self.fault_api_set():
            raise ValueError(f"fault_apis must list some of {', '.join(FAULT_APIS)}")
        if self.fault_every < 1 or self.fault_limit < 0 or self.fault_hang_seconds < 0:
            raise ValueError("fault_every must be >= 1, fault_limit and fault_hang_seconds >= 0")

    def fault_api_set(self) -> tuple:
        return tuple(name.strip() for name in self.fault_apis.split(",") if name.strip())

    def public(self) -> dict:
        data = asdict(self)
        data.pop("consumer_secret")
        return data


@dataclass
class StkTransaction:
    checkout_request_id: str
    merchant_request_id: str
    business_shortcode: str
    merchant_name: str
    phone: str
    amount: int
    account_reference: str
    transaction_desc: str
    callback_url: str
    created_at: float
    expires_at: float
    scenario: Scenario
    forced_code: str | None = None  # set at push time for a till/paybill mismatch
    status: str = "pending"  # pending -> completed
    result_code: str | None = None
    receipt_number: str | None = None
    completed_at: float | None = None
    polls: int = 0
    c2b_twin: str = ""  # "" | sent | not_registered | off: the C2B confirmation of this STK payment

    def public(self) -> dict:
        return {
            "kind": "stk",
            "checkout_request_id": self.checkout_request_id,
            "merchant_request_id": self.merchant_request_id,
            "business_shortcode": self.business_shortcode,
            "merchant_name": self.merchant_name,
            "phone": self.phone,
            "amount": self.amount,
            "account_reference": self.account_reference,
            "transaction_desc": self.transaction_desc,
            "callback_url": self.callback_url,
            "status": self.status,
            "interactive": self.scenario.interactive and self.forced_code is None,
            "delivery": self.scenario.delivery,
            "result_code": self.result_code,
            "result_desc": callback_desc(self.result_code) if self.result_code is not None else None,
            "query_result_code": self.query_code(),
            "receipt_number": self.receipt_number,
            "c2b_twin": self.c2b_twin,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "completed_at": self.completed_at,
        }

    def query_code(self) -> str | None:
        """What the STK query reports once final: the scenario may contradict the callback."""
        if self.result_code is None:
            return None
        if self.forced_code is None and self.scenario.query_code is not None:
            return self.scenario.query_code
        return self.result_code


@dataclass
class C2BPayment:
    trans_id: str
    shortcode: str
    merchant_name: str
    amount: int
    msisdn: str
    msisdn_sent: str
    bill_ref_number: str
    created_at: float
    source: str  # "simulate" (Daraja API), "control" (control API / phone page), "qr" (a QR scanned), "stk"
    delivery: str = "once"  # C2B_DELIVERY_MODES
    status: str = "pending"  # pending -> confirmed | rejected | not_delivered | lost
    detail: str = ""

    def public(self) -> dict:
        data = asdict(self)
        data["kind"] = "c2b"
        return data


@dataclass
class QrCode:
    """A Dynamic QR generated (POST /mpesa/qrcode/v1/generate), and the payments made by scanning it."""

    qr_id: str
    request_id: str
    merchant_name: str
    ref_no: str
    amount: int
    trx_code: str  # BG, PB, WA, SM, SB
    cpi: str  # the till, paybill or phone credited
    size: int
    created_at: float
    payments: list = field(default_factory=list)  # TransIDs of the C2B payments made by scanning it

    def public(self) -> dict:
        data = asdict(self)
        data["kind"] = "qr"
        data["payments"] = list(self.payments)
        return data


@dataclass
class Registration:
    confirmation_url: str
    validation_url: str
    response_type: str
    api_version: str


@dataclass
class Delivery:
    number: int
    kind: str  # stk | c2b_validation | c2b_confirmation
    reference: str
    url: str
    headers: dict
    payload: dict
    at: float
    http_status: int | None = None
    response_body: str = ""
    error: str = ""

    def public(self) -> dict:
        return asdict(self)


@dataclass
class SimulatorState:
    options: Options
    clock: object = time.time
    lock: threading.RLock = field(default_factory=threading.RLock)
    stopping: threading.Event = field(default_factory=threading.Event)
    down: threading.Event = field(default_factory=threading.Event)  # POST /__sim__/down: port closed

    def __post_init__(self):
        self._initial_options = replace(self.options)
        self.held = 0  # requests held by "no_answer" right now (a reset does not forget them)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.options = replace(self._initial_options)
            self.clock_offset = 0.0
            self.stk_accounts = default_stk_accounts()
            self.c2b_accounts = {
                code: account.with_changes(api_version=self.options.c2b_api_version)
                for code, account in default_c2b_accounts().items()
            }
            self.balances = {code: acc.opening_balance for code, acc in self.c2b_accounts.items()}
            self.tokens: dict[str, float] = {}
            self.transactions: dict[str, StkTransaction] = {}
            self.payments: dict[str, C2BPayment] = {}
            self.registrations: dict[str, Registration] = {}
            self.pull_registrations: dict[str, str] = {}  # shortcode -> nominated number
            self.reversals: dict[str, dict] = {}  # original receipt -> its reversal
            self.qr_codes: dict[str, QrCode] = {}  # qr_id -> the Dynamic QR
            self.scenario_overrides: dict[str, Scenario] = {}
            self.deliveries: list[Delivery] = []
            self.fault_seen = 0  # requests to the fault APIs since the fault was set
            self.fault_served = 0
            self.api_requests: dict[str, int] = {}  # Daraja API name (FAULT_APIS) -> requests received
            self.tokens_issued = 0

    def count_request(self, api: str) -> None:
        with self.lock:
            self.api_requests[api] = self.api_requests.get(api, 0) + 1

    def stats(self) -> dict:
        with self.lock:
            return {
                "oauth_requests": self.api_requests.get("oauth", 0),
                "tokens_issued": self.tokens_issued,
                "api_requests": dict(self.api_requests),
                "held": self.held,
            }

    def no_answer_over(self) -> bool:
        """True once requests held by "no_answer" may go: the fault is off, or the simulator stops."""
        return self.stopping.is_set() or self.options.fault != "no_answer"

    def take_fault(self, api: str) -> str | None:
        """The fault this request to `api` must get, or None (counts requests and faults served)."""
        with self.lock:
            options = self.options
            if options.fault == "none" or api not in options.fault_api_set():
                return None
            if options.fault_limit and self.fault_served >= options.fault_limit:
                return None
            self.fault_seen += 1
            if self.fault_seen % options.fault_every:
                return None
            self.fault_served += 1
            return options.fault

    def now(self) -> float:
        return self.clock() + self.clock_offset

    # -- tokens -------------------------------------------------------------------------------
    def issue_token(self, token: str, ttl: int) -> None:
        with self.lock:
            if self.options.invalidate_old_tokens:
                self.tokens.clear()
            self.tokens[token] = self.now() + ttl
            self.tokens_issued += 1

    def token_valid(self, token: str) -> bool:
        with self.lock:
            expires_at = self.tokens.get(token)
            return expires_at is not None and self.now() < expires_at

    # -- transactions ------------------------------------------------------------------------
    def open_prompt_for(self, phone: str) -> StkTransaction | None:
        with self.lock:
            for txn in self.transactions.values():
                if txn.phone == phone and txn.status == "pending":
                    return txn
            return None

    def add_delivery(self, kind, reference, url, headers, payload) -> Delivery:
        with self.lock:
            delivery = Delivery(len(self.deliveries) + 1, kind, reference, url, headers, payload, self.now())
            self.deliveries.append(delivery)
            return delivery

    def listing(self) -> list[dict]:
        """STK transactions and C2B payments, newest first."""
        with self.lock:
            rows = [t.public() for t in self.transactions.values()]
            rows += [p.public() for p in self.payments.values()]
            rows += [dict(r) for r in self.reversals.values()]
        rows.sort(key=lambda row: row["created_at"], reverse=True)
        return rows
