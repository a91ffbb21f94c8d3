"""The /__sim__/ control API: list, force outcomes, trigger C2B, replay callbacks, reset.

Documented in the README, "The Daraja simulator". For outages (the reliability suite's "outage"):

- `POST /__sim__/options {"fault": "no_answer", "fault_apis": "oauth,stk_push,stk_query"}`: those APIs
  accept the connection and never answer until `{"fault": "none"}` (then the held connections are closed
  without an answer); other APIs and the control API keep answering.
- `POST /__sim__/down {"seconds": 30}` -> `{"down": true, "seconds": 30.0}`: that answer is sent, then the
  port is closed (connections refused) and reopened by itself after `seconds` (0 < seconds <= 3600); the
  state is kept and callbacks/results keep being delivered. Nothing answers while down, this API neither.
- `POST /__sim__/options {"async_outcome": "result" | "timeout" | "none" | "twice"}`: what Transaction
  Status and Reversal POST after their acknowledgement (records.py).
- `GET /__sim__/stats` -> `{"oauth_requests": n, "tokens_issued": n, "api_requests": {"stk_push": n, ...},
  "held": n}`: requests received per Daraja API since the start or the last reset (faulted ones included),
  OAuth tokens issued, requests held by "no_answer" now.

Dynamic QR (qr.py):
- `GET /__sim__/qr` -> `{"qr_codes": [{"qr_id": "QR000001", "request_id", "merchant_name", "ref_no",
  "amount", "trx_code", "cpi", "size", "created_at", "payments": [TransID, ...], "kind": "qr"}, ...]}`,
  newest first; `GET /__sim__/qr/<qr_id or RefNo>/image`: its PNG (what QRCode held).
- `POST /__sim__/qr/<qr_id or RefNo>/pay {"msisdn", "msisdn_mode", "delivery", "bill_ref"}` (all
  optional), or `POST /__sim__/qr/pay {"qr_id" or "reference", ...}`: the customer scans the QR and pays
  its amount to its CPI, a C2B payment like `c2b/pay` (BillRefNumber = RefNo; a BG QR's empty with
  "bill_ref": "empty" or the option qr_till_bill_ref) -> `{"qr": {...}, "payment": {...as c2b/pay}}`.
"""

import dataclasses
import re
from urllib.parse import unquote

from .c2b import normalise_phone
from .http_types import ApiError, ControlError, Response, json_response
from .results import DELIVERY_MODES, INTERACTIVE, ONCE, SUFFIX_TABLE, Scenario, callback_desc, normalise_code
from .state import Options

_STK_ACTION = re.compile(r"^stk/([A-Za-z0-9_]{1,64})/(resolve|pin|cancel)$")
_REPLAY = re.compile(r"^callbacks/([0-9]{1,9})/replay$")
_ACCOUNT = re.compile(r"^accounts/([0-9]{5,7})$")
_QR_PAY = re.compile(r"^qr/([^/]{1,120})/pay$")
_QR_IMAGE = re.compile(r"^qr/([^/]{1,120})/image$")
# Options a client may switch at run time (credentials stay as started).
_RUNTIME_OPTIONS = {f.name for f in dataclasses.fields(Options)} - {
    "consumer_key",
    "consumer_secret",
    "c2b_api_version",  # per account at run time: POST accounts/<shortcode>
}


class ControlApi:
    def __init__(self, state, stk, c2b, deliverer, scheduler, qr=None):
        self.state = state
        self.qr = qr
        self.stk = stk
        self.c2b = c2b
        self.deliverer = deliverer
        self.scheduler = scheduler
        self.go_down = None  # SimulatorServer.go_down(seconds), set by the server

    def handle(self, request, sub: str):
        try:
            return self._route(request, sub.strip("/"))
        except ControlError as exc:
            return exc.response()

    def _body(self, request) -> dict:
        # JSON only: a cross-site form or no-cors fetch cannot send this content type without a preflight.
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise ControlError(415, "Send JSON with Content-Type: application/json (an empty {} is fine)")
        if not request.body:
            return {}
        try:
            data = request.json()
        except ApiError:
            raise ControlError(400, "The body must be JSON") from None
        if not isinstance(data, dict):
            raise ControlError(400, "The body must be a JSON object")
        return data

    def _route(self, request, sub: str):
        method = request.method
        if method == "GET":
            if sub == "transactions":
                self.stk.expire_due()
                return json_response(200, {"transactions": self.state.listing()})
            if sub == "callbacks":
                with self.state.lock:
                    rows = [d.public() for d in self.state.deliveries]
                return json_response(200, {"callbacks": rows})
            if sub == "accounts":
                return json_response(200, self._accounts())
            if sub == "scenario":
                return json_response(200, self._scenarios())
            if sub == "options":
                return json_response(200, self.state.options.public())
            if sub == "faults":
                with self.state.lock:
                    counts = {"seen": self.state.fault_seen, "served": self.state.fault_served}
                return json_response(200, {"fault": self.state.options.fault, **counts})
            if sub == "stats":
                return json_response(200, self.state.stats())
            if sub == "qr" and self.qr is not None:
                return json_response(200, {"qr_codes": self.qr.listing()})
            match = _QR_IMAGE.match(sub)
            if match and self.qr is not None:
                image = self.qr.image(self.qr.find(unquote(match.group(1))))
                return Response(200, image, content_type="image/png")
            raise ControlError(404, "Unknown control endpoint")
        if method != "POST":
            raise ControlError(405, "Use GET or POST")
        data = self._body(request)
        match = _STK_ACTION.match(sub)
        if match:
            txn_id, action = match.groups()
            if action == "pin":
                return json_response(200, self.stk.enter_pin(txn_id, data.get("pin")))
            if action == "cancel":
                return json_response(200, self.stk.cancel(txn_id))
            return json_response(200, self.stk.resolve(txn_id, self._code(data)))
        match = _REPLAY.match(sub)
        if match:
            record = self.deliverer.replay(int(match.group(1)))
            if record is None:
                raise ControlError(404, "Unknown callback number")
            return json_response(200, record.public())
        match = _ACCOUNT.match(sub)
        if match:
            return json_response(200, self._update_account(match.group(1), data))
        if sub == "scenario":
            return json_response(200, self._set_scenario(data))
        if sub == "c2b/pay":
            return json_response(200, self.c2b.pay(data))
        if self.qr is not None and (sub == "qr/pay" or _QR_PAY.match(sub)):
            return json_response(200, self._pay_qr(sub, data))
        if sub == "options":
            return json_response(200, self._set_options(data))
        if sub == "clock":
            return json_response(200, self._advance_clock(data))
        if sub == "down":
            return self._down(data)
        if sub == "reset":
            self.scheduler.clear()
            self.state.reset()
            return json_response(200, {"reset": True})
        raise ControlError(404, "Unknown control endpoint")

    def _pay_qr(self, sub: str, data: dict) -> dict:
        match = _QR_PAY.match(sub)
        key = unquote(match.group(1)) if match else data.get("qr_id") or data.get("reference")
        if not isinstance(key, str) or not key.strip():
            raise ControlError(400, "Name the QR: qr/<qr_id or RefNo>/pay, or qr_id or reference in the body")
        return self.qr.pay(key, data)

    @staticmethod
    def _code(data: dict) -> str:
        try:
            return normalise_code(data.get("result_code"))
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None

    def _set_scenario(self, data: dict) -> dict:
        phone = normalise_phone(data.get("phone"))
        if phone is None:
            raise ControlError(
                400, "phone must be a Safaricom number: 07XXXXXXXX, 01XXXXXXXX or 2547XXXXXXXX"
            )
        delivery = data.get("callback", ONCE)
        if delivery not in DELIVERY_MODES:
            raise ControlError(400, f"callback must be one of {', '.join(DELIVERY_MODES)}")
        code = data.get("result_code")
        query_code = None
        if data.get("query_result_code") is not None:
            # the STK query answers this code once the prompt is final, whatever the callback said
            query_code = self._code({"result_code": data["query_result_code"]})
        with self.state.lock:
            if code is None:
                self.state.scenario_overrides.pop(phone, None)  # back to the suffix table
            elif code == "interactive":
                self.state.scenario_overrides[phone] = INTERACTIVE
            else:
                self.state.scenario_overrides[phone] = Scenario(self._code(data), delivery, query_code)
        return self._scenarios()

    def _scenarios(self) -> dict:
        def show(scenario):
            shown = {
                "result_code": scenario.result_code,
                "result_desc": callback_desc(scenario.result_code)
                if scenario.result_code is not None
                else None,
                "callback": scenario.delivery,
            }
            if scenario.query_code is not None:
                shown["query_result_code"] = scenario.query_code
            return shown

        with self.state.lock:
            overrides = {phone: show(s) for phone, s in self.state.scenario_overrides.items()}
        return {"suffixes": {k: show(v) for k, v in SUFFIX_TABLE.items()}, "overrides": overrides}

    def _accounts(self) -> dict:
        with self.state.lock:
            stk = [
                {
                    "business_shortcode": a.business_shortcode,
                    "kind": a.kind,
                    "party_b": a.party_b,
                    "name": a.name,
                }
                for a in self.state.stk_accounts.values()
            ]
            c2b = []
            for a in self.state.c2b_accounts.values():
                reg = self.state.registrations.get(a.shortcode)
                c2b.append(
                    {
                        "shortcode": a.shortcode,
                        "kind": a.kind,
                        "name": a.name,
                        "api_version": a.api_version,
                        "validation_enabled": a.validation_enabled,
                        "balance": self.state.balances.get(a.shortcode, 0),
                        "registration": dataclasses.asdict(reg) if reg else None,
                    }
                )
        return {"stk": stk, "c2b": c2b, "production": self.state.options.production}

    def _update_account(self, shortcode: str, data: dict) -> dict:
        changes = {}
        if "api_version" in data:
            if data["api_version"] not in ("v1", "v2"):
                raise ControlError(400, "api_version must be v1 or v2")
            changes["api_version"] = data["api_version"]
        if "validation_enabled" in data:
            if not isinstance(data["validation_enabled"], bool):
                raise ControlError(400, "validation_enabled must be true or false")
            changes["validation_enabled"] = data["validation_enabled"]
        if not changes:
            raise ControlError(400, "Nothing to change: give api_version and/or validation_enabled")
        with self.state.lock:
            account = self.state.c2b_accounts.get(shortcode)
            if account is None:
                raise ControlError(404, f"Unknown C2B shortcode {shortcode}")
            self.state.c2b_accounts[shortcode] = account.with_changes(**changes)
        return self._accounts()

    def _set_options(self, data: dict) -> dict:
        unknown = set(data) - _RUNTIME_OPTIONS
        if unknown:
            raise ControlError(400, f"Unknown or fixed options: {', '.join(sorted(unknown))}")
        with self.state.lock:
            current = self.state.options
            changes = {}
            for name, value in data.items():
                expected = type(getattr(current, name))
                if expected is float and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                if type(value) is not expected:
                    raise ControlError(400, f"{name} must be {expected.__name__}")
                changes[name] = value
            candidate = dataclasses.replace(current, **changes)
            try:
                candidate.check()
            except ValueError as exc:
                raise ControlError(400, str(exc)) from None
            self.state.options = candidate
            if any(name.startswith("fault") for name in changes):
                self.state.fault_seen = self.state.fault_served = 0  # counted from the new setting
            return candidate.public()

    def _down(self, data: dict):
        seconds = data.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= 3600:
            raise ControlError(400, "seconds must be a number of seconds, 0 < seconds <= 3600")
        if self.go_down is None:
            raise ControlError(501, "Only a running SimulatorServer can go down")
        seconds = float(seconds)
        response = json_response(200, {"down": True, "seconds": seconds})
        response.after = lambda: self.go_down(seconds)  # the answer first, then the port closes
        return response

    def _advance_clock(self, data: dict) -> dict:
        seconds = data.get("advance")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ControlError(400, "advance must be a number of seconds >= 0")
        with self.state.lock:
            self.state.clock_offset += seconds
            now = self.state.now()
        self.stk.expire_due()
        return {"now": now}
