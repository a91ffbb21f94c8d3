"""C2B: register URLs (v1/v2), simulate, and the validation -> confirmation flow.

Daraja's side: docs/daraja.md, "C2B register" and "C2B validation and confirmation".
"""

import hashlib
import json
import re

# Words Daraja refuses in production C2B URLs: the Daraja layer's list, the one definition
try:  # inside the Odoo module (pos_mpesa.daraja_simulator)
    from ..daraja.urls import BANNED_WORDS
except ImportError:  # run from the repository root: python -m daraja_simulator
    from daraja.urls import BANNED_WORDS

from . import validate
from .http_types import ApiError, ControlError, bad_request, json_response
from .ids import conversation_id, eat_stamp, merchant_request_id, receipt_number
from .oauth import C2B_FAMILY, require_token
from .state import C2B_DELIVERY_MODES, MSISDN_MODES, C2BPayment, Registration

NO_PRODUCT = ApiError(
    401, "401.003.01", "Error Occurred - Invalid Access Token - Invalid API call as no apiproduct match found"
)
MAX_BILL_REF = 20
_LOCAL_PHONE = re.compile(r"^0([17][0-9]{8})$")


def unregistered_message(shortcode: str) -> str:
    """What to do when a shortcode has no C2B URLs: the payment would reach nobody."""
    return (
        f"No C2B URLs are registered for {shortcode}, so Odoo would never hear of this payment. "
        "In Odoo: Point of Sale > Configuration > M-Pesa Accounts > the account using this shortcode "
        '> "Register C2B Callback URLs" (`make run` does it for the demo accounts), then pay again.'
    )


def present_msisdn(msisdn: str, mode: str) -> str:
    """The MSISDN as the confirmation shows it: plain, masked (2547 ***** 126) or SHA-256 hex."""
    if mode == "masked":
        return f"{msisdn[:4]} ***** {msisdn[-3:]}"
    if mode == "hashed":
        return hashlib.sha256(msisdn.encode()).hexdigest()
    return msisdn


def normalise_phone(value) -> str | None:
    """07.., 01.., +2547.., 2541.. (spaces/dashes allowed) -> 2547XXXXXXXX; None if not a phone."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = re.sub(r"[\s\-()]", "", str(value)).removeprefix("+")
    match = _LOCAL_PHONE.match(text)
    if match:
        text = "254" + match.group(1)
    return text if re.fullmatch(r"254[17][0-9]{8}", text) else None


class C2BService:
    def __init__(self, state, scheduler, deliverer):
        self.state = state
        self.scheduler = scheduler
        self.deliverer = deliverer

    def _account(self, body: dict, version: str):
        shortcode = validate.shortcode(body, "ShortCode")
        account = self.state.c2b_accounts.get(shortcode)
        if account is None:
            raise bad_request("ShortCode")
        if account.api_version != version:
            raise ApiError(NO_PRODUCT.status, NO_PRODUCT.code, NO_PRODUCT.message)
        return account

    def register(self, request, version: str):
        require_token(self.state, request, C2B_FAMILY)
        body = validate.require_json_body(request, "ShortCode")
        account = self._account(body, version)
        if body.get("ResponseType") not in ("Completed", "Cancelled"):
            raise bad_request("ResponseType")
        production = self.state.options.production
        urls = {}
        for name in ("ConfirmationURL", "ValidationURL"):
            urls[name] = validate.url(body, name, https_only=production)
            if production and any(word in urls[name].lower() for word in BANNED_WORDS):
                raise bad_request(name)
        with self.state.lock:
            if production and account.shortcode in self.state.registrations:
                raise ApiError(500, "500.003.1001", "Urls are already registered")
            self.state.registrations[account.shortcode] = Registration(
                urls["ConfirmationURL"], urls["ValidationURL"], body["ResponseType"], version
            )
        code, text = ("0", "success") if version == "v1" else ("00000000", "Success")
        return json_response(
            200,
            {"OriginatorCoversationID": conversation_id(), "ResponseCode": code, "ResponseDescription": text},
        )

    def simulate(self, request, version: str):
        require_token(self.state, request, C2B_FAMILY)
        if self.state.options.production:
            raise ApiError(404, "404.001.01", "Resource not found")  # no simulation on production
        body = validate.require_json_body(request, "ShortCode")
        account = self._account(body, version)
        if body.get("CommandID") != account.command_id:
            raise bad_request("CommandID")
        amount = validate.amount(body)
        msisdn = validate.msisdn(body, "Msisdn")
        bill_ref = body.get("BillRefNumber") or ""
        if (
            not isinstance(bill_ref, (str, int))
            or isinstance(bill_ref, bool)
            or len(str(bill_ref)) > MAX_BILL_REF
        ):
            raise bad_request("BillRefNumber")
        self.start_payment(
            account, amount, msisdn, str(bill_ref), self.state.options.c2b_msisdn_mode, "simulate"
        )
        return json_response(
            200,
            {
                "OriginatorCoversationID": merchant_request_id(),
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully.",
            },
        )

    def pay(self, data: dict, source: str = "control") -> dict:
        """Control API / phone page: a customer pays the till or paybill from their phone (source
        "control"), or scans a Dynamic QR (source "qr", qr.py)."""
        if not isinstance(data, dict):
            raise ControlError(400, "Expected a JSON object")
        account = self.state.c2b_accounts.get(str(data.get("shortcode", "")).strip())
        if account is None:
            known = ", ".join(sorted(self.state.c2b_accounts))
            raise ControlError(400, f"Unknown C2B shortcode; known shortcodes: {known}")
        try:
            amount = validate.amount({"Amount": data.get("amount")})
        except ApiError:
            raise ControlError(400, "amount must be whole shillings between 1 and 250000") from None
        msisdn = normalise_phone(data.get("msisdn", "254708374149"))
        if msisdn is None:
            raise ControlError(
                400, "msisdn must be a Safaricom number: 07XXXXXXXX, 01XXXXXXXX or 2547XXXXXXXX"
            )
        bill_ref = data.get("bill_ref_number") or ""
        if not isinstance(bill_ref, str) or len(bill_ref) > MAX_BILL_REF:
            raise ControlError(400, f"bill_ref_number must be text of at most {MAX_BILL_REF} characters")
        mode = data.get("msisdn_mode") or self.state.options.c2b_msisdn_mode
        if mode not in MSISDN_MODES:
            raise ControlError(400, f"msisdn_mode must be one of {', '.join(MSISDN_MODES)}")
        delivery = data.get("delivery") or self.state.options.c2b_delivery
        if delivery not in C2B_DELIVERY_MODES:
            raise ControlError(400, f"delivery must be one of {', '.join(C2B_DELIVERY_MODES)}")
        if account.shortcode not in self.state.registrations:
            raise ControlError(409, unregistered_message(account.shortcode))
        return self.start_payment(account, amount, msisdn, bill_ref, mode, source, delivery).public()

    def start_payment(self, account, amount, msisdn, bill_ref, mode, source, delivery="once") -> C2BPayment:
        with self.state.lock:
            trans_id = receipt_number()
            payment = C2BPayment(
                trans_id=trans_id,
                shortcode=account.shortcode,
                merchant_name=account.name,
                amount=amount,
                msisdn=msisdn,
                msisdn_sent=present_msisdn(msisdn, mode),
                bill_ref_number=bill_ref,
                created_at=self.state.now(),
                source=source,
                delivery=delivery,
            )
            self.state.payments[trans_id] = payment
        self.scheduler.call_later(self.state.options.callback_delay, self._flow, trans_id)
        return payment

    def _notification(self, payment: C2BPayment, balance: str, third_party: str) -> dict:
        account = self.state.c2b_accounts[payment.shortcode]
        return {
            "TransactionType": account.transaction_type,
            "TransID": payment.trans_id,
            "TransTime": eat_stamp(payment.created_at),
            "TransAmount": f"{payment.amount}.00",
            "BusinessShortCode": payment.shortcode,
            "BillRefNumber": payment.bill_ref_number,
            "InvoiceNumber": "",
            "OrgAccountBalance": balance,
            "ThirdPartyTransID": third_party,
            "MSISDN": payment.msisdn_sent,
            "FirstName": "JOHN",
            "MiddleName": "",
            "LastName": "DOE",
        }

    def stk_twin_notification(self, txn, shortcode: str) -> dict:
        """The C2B confirmation Safaricom sends for a paid STK push to a paybill/till whose C2B URLs
        are registered: TransID is the STK receipt (called with the state lock held)."""
        account = self.state.c2b_accounts[shortcode]
        self.state.balances[shortcode] = self.state.balances.get(shortcode, 0) + txn.amount
        twin = C2BPayment(
            trans_id=txn.receipt_number,
            shortcode=shortcode,
            merchant_name=account.name,
            amount=txn.amount,
            msisdn=txn.phone,
            msisdn_sent=present_msisdn(txn.phone, self.state.options.c2b_msisdn_mode),
            bill_ref_number=txn.account_reference[:MAX_BILL_REF],
            created_at=txn.completed_at,
            source="stk",
        )
        return self._notification(twin, f"{self.state.balances[shortcode]}.00", "")

    def _finish(self, payment: C2BPayment, status: str, detail: str = "") -> None:
        with self.state.lock:
            payment.status, payment.detail = status, detail

    def _flow(self, trans_id: str) -> None:
        with self.state.lock:
            payment = self.state.payments.get(trans_id)
            registration = self.state.registrations.get(payment.shortcode) if payment else None
            account = self.state.c2b_accounts.get(payment.shortcode) if payment else None
        if payment is None:
            return
        if registration is None:
            self._finish(payment, "not_delivered", unregistered_message(payment.shortcode))
            return
        third_party = ""
        if account.validation_enabled:
            record = self.deliverer.deliver(
                "c2b_validation",
                trans_id,
                registration.validation_url,
                self._notification(payment, "", ""),
                timeout=self.state.options.validation_timeout,
            )
            accepted, code, third_party = _validation_answer(record, registration.response_type)
            if not accepted:
                self._finish(payment, "rejected", f"Validation answered {code}")
                return
        with self.state.lock:
            self.state.balances[payment.shortcode] = (
                self.state.balances.get(payment.shortcode, 0) + payment.amount
            )
            balance = f"{self.state.balances[payment.shortcode]}.00"
        if payment.delivery == "lost":
            self._finish(payment, "lost", "Confirmation never delivered (delivery mode lost)")
            return
        record = self.deliverer.deliver(
            "c2b_confirmation",
            trans_id,
            registration.confirmation_url,
            self._notification(payment, balance, third_party),
        )
        self._finish(
            payment, "confirmed", f"Confirmation not delivered: {record.error}" if record.error else ""
        )


def _validation_answer(record, response_type: str) -> tuple[bool, str, str]:
    """(accepted, code, ThirdPartyTransID). No usable answer in time: ResponseType decides."""
    try:
        answer = json.loads(record.response_body) if record.http_status == 200 else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or "ResultCode" not in answer:
        return response_type == "Completed", f"nothing usable (ResponseType {response_type})", ""
    code = str(answer["ResultCode"])
    third_party = answer.get("ThirdPartyTransID")
    return code == "0", code, third_party if isinstance(third_party, str) else ""
