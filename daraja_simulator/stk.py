"""M-Pesa Express: processrequest, query, and how a prompt ends (scenario, phone page, expiry)."""

import base64
import contextlib
import hmac
import threading
from decimal import Decimal

from . import validate
from .http_types import ControlError, bad_request, json_response, mpesa_error
from .ids import checkout_request_id, eat_stamp, merchant_request_id, receipt_number
from .oauth import STK_FAMILY, require_token
from .results import (
    NONE,
    ONCE,
    PENDING_CODE,
    PENDING_DESC,
    SUCCESS,
    TWICE,
    callback_code,
    callback_desc,
    query_desc,
    scenario_for_phone,
)
from .state import StkTransaction

ACCEPTED = "Success. Request accepted for processing"
QUERY_ACCEPTED = "The service request has been accepted successfully"
QUERY_ACCEPTED_OLD = "The service request has been accepted successsfully"  # sic, older traffic
MAX_ACCOUNT_REFERENCE = 12
WRONG_PIN = "0000"
LOCKED = "Unable to lock subscriber, a transaction is already in process for the current subscriber"


def _remark(body: dict, name: str) -> str:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise bad_request("Remarks")
    return str(value)


def expected_password(shortcode: str, passkey: str, timestamp: str) -> str:
    return base64.b64encode(f"{shortcode}{passkey}{timestamp}".encode()).decode()


class StkService:
    def __init__(self, state, scheduler, deliverer, c2b=None):
        self.state = state
        self.scheduler = scheduler
        self.deliverer = deliverer
        self.c2b = c2b  # C2BService: the C2B confirmation twin of a paid STK push

    # -- Daraja endpoints ----------------------------------------------------------------------
    def push(self, request):
        require_token(self.state, request, STK_FAMILY)
        body = validate.require_json_body(request, "BusinessShortCode")
        shortcode = validate.shortcode(body, "BusinessShortCode")
        password = validate.non_empty_string(body, "Password")
        timestamp = validate.timestamp(body)
        transaction_type = body.get("TransactionType")
        if transaction_type not in ("CustomerPayBillOnline", "CustomerBuyGoodsOnline"):
            raise bad_request("TransactionType")
        amount = validate.amount(body)
        validate.msisdn(body, "PartyA")
        party_b = validate.shortcode(body, "PartyB")
        phone = validate.msisdn(body, "PhoneNumber")
        callback_url = validate.url(body, "CallBackURL")
        # A null/empty reference or description is reported as "Remarks" (docs/daraja.md, "STK push").
        reference, description = _remark(body, "AccountReference"), _remark(body, "TransactionDesc")
        too_long = len(reference) > MAX_ACCOUNT_REFERENCE
        if too_long and self.state.options.long_account_reference == "reject":
            raise bad_request("AccountReference")

        account = self._check_credentials(shortcode, password, timestamp)
        forced = None
        if transaction_type != account.transaction_type:
            forced = "2028"  # product assignment: till vs paybill type mismatch
        elif party_b != account.party_b:
            forced = "SFC_IC0003"  # PartyB is not this merchant's till/paybill
        elif too_long:
            forced = "1037"  # accepted, but no prompt ever reaches the phone

        with self.state.lock:
            if self.state.open_prompt_for(phone) is not None:
                raise mpesa_error(LOCKED)
            now = self.state.now()
            txn_id = checkout_request_id(now, phone)
            while txn_id in self.state.transactions:
                txn_id = checkout_request_id(now, phone)
            scenario = self.state.scenario_overrides.get(phone) or scenario_for_phone(phone)
            options = self.state.options
            txn = StkTransaction(
                checkout_request_id=txn_id,
                merchant_request_id=merchant_request_id(),
                business_shortcode=shortcode,
                merchant_name=account.name,
                phone=phone,
                amount=amount,
                account_reference=reference,
                transaction_desc=description,
                callback_url=callback_url,
                created_at=now,
                expires_at=now + options.prompt_timeout,
                scenario=scenario,
                forced_code=forced,
            )
            self.state.transactions[txn_id] = txn
            outcome = forced or scenario.result_code
            if outcome is None:
                self.scheduler.call_later(options.prompt_timeout, self._expire, txn_id)
            elif options.callback_delay <= 0:
                self.complete(txn_id, outcome)  # resolved before answering: tests need no waiting
            else:
                self.scheduler.call_later(options.callback_delay, self.complete, txn_id, outcome)
        if self.state.options.push_response_delay:
            # The prompt is out, but the answer comes late: a client read timeout here is ambiguous.
            self.state.stopping.wait(self.state.options.push_response_delay)
        return json_response(
            200,
            {
                "MerchantRequestID": txn.merchant_request_id,
                "CheckoutRequestID": txn.checkout_request_id,
                "ResponseCode": "0",
                "ResponseDescription": ACCEPTED,
                "CustomerMessage": ACCEPTED,
            },
        )

    def query(self, request):
        require_token(self.state, request, STK_FAMILY)
        body = validate.require_json_body(request, "BusinessShortCode")
        shortcode = validate.shortcode(body, "BusinessShortCode")
        password = validate.non_empty_string(body, "Password")
        timestamp = validate.timestamp(body)
        txn_id = validate.non_empty_string(body, "CheckoutRequestID")
        self._check_credentials(shortcode, password, timestamp)
        self.expire_due()
        with self.state.lock:
            txn = self.state.transactions.get(txn_id)
            if txn is None or txn.business_shortcode != shortcode:
                raise mpesa_error("The transaction does not Exist")
            options = self.state.options
            answer = {
                "ResponseCode": "0",
                "ResponseDescription": QUERY_ACCEPTED_OLD
                if options.query_description_typo
                else QUERY_ACCEPTED,
                "MerchantRequestID": txn.merchant_request_id,
                "CheckoutRequestID": txn.checkout_request_id,
            }
            txn.polls += 1
            if txn.status == "pending":
                mode = options.query_pending_mode
                # Both pending shapes are real (docs/daraja.md, "STK query"); the classic one is an HTTP 500.
                if mode == "500" or (mode == "alternate" and txn.polls % 2 == 1):
                    raise mpesa_error("The transaction is being processed", req_id=txn.checkout_request_id)
                return json_response(200, {**answer, "ResultCode": PENDING_CODE, "ResultDesc": PENDING_DESC})
            every = options.query_empty_error_every
            if every and txn.polls % every == 0:
                raise mpesa_error("", req_id=txn.checkout_request_id)  # seen even after a final answer
            code = txn.query_code()
        return json_response(200, {**answer, "ResultCode": code, "ResultDesc": query_desc(code)})

    def _check_credentials(self, shortcode: str, password: str, timestamp: str):
        account = self.state.stk_accounts.get(shortcode)
        if account is None:
            raise mpesa_error("Merchant does not exist")
        wanted = expected_password(shortcode, account.passkey, timestamp)
        if not hmac.compare_digest(password.encode(), wanted.encode()):
            raise mpesa_error("Wrong credentials")
        return account

    # -- how a prompt ends ---------------------------------------------------------------------
    def complete(self, txn_id: str, code: str) -> bool:
        """Finish a pending prompt with `code` and schedule its callback; False if already final."""
        with self.state.lock:
            txn = self.state.transactions.get(txn_id)
            if txn is None or txn.status != "pending":
                return False
            txn.status = "completed"
            txn.result_code = code
            txn.completed_at = self.state.now()
            if code == SUCCESS:
                txn.receipt_number = receipt_number()
            payload = self.callback_payload(txn)
            # A till/paybill mismatch ends like any failure: one callback.
            delivery = ONCE if txn.forced_code else txn.scenario.delivery
            copies = 0 if delivery == NONE else (2 if delivery == TWICE else 1)
            url, headers = txn.callback_url, {"BusinessShortCode": txn.business_shortcode}
            jobs = [(self.deliverer.deliver, "stk", txn_id, url, payload, headers)] * copies
            twin = self._twin_job(txn) if code == SUCCESS else None
        if twin and self.state.options.stk_c2b_twin == "same_moment":
            # the STK callback and the C2B confirmation leave together: two threads, one barrier
            self.scheduler.call_later(0, _race, [*jobs[:1], twin])
            jobs = jobs[1:]
        elif twin:
            jobs.append(twin)
        for job in jobs:
            self.scheduler.call_later(0, *job)
        return True

    def _twin_job(self, txn: StkTransaction):
        """The C2B confirmation of a paid STK push (same receipt as TransID), when its C2B shortcode
        has registered URLs and the option is on; records why not on the transaction otherwise."""
        mode = self.state.options.stk_c2b_twin
        account = self.state.stk_accounts.get(txn.business_shortcode)
        shortcode = account.c2b_shortcode if account else ""
        registration = self.state.registrations.get(shortcode) if shortcode else None
        if mode == "off":
            txn.c2b_twin = "off"
            return None
        if registration is None or self.c2b is None or shortcode not in self.state.c2b_accounts:
            txn.c2b_twin = "not_registered"
            return None
        txn.c2b_twin = "sent"
        payload = self.c2b.stk_twin_notification(txn, shortcode)
        return (
            self.deliverer.deliver,
            "c2b_confirmation",
            txn.receipt_number,
            registration.confirmation_url,
            payload,
        )

    def callback_payload(self, txn: StkTransaction) -> dict:
        result = {
            "MerchantRequestID": txn.merchant_request_id,
            "CheckoutRequestID": txn.checkout_request_id,
            "ResultCode": callback_code(txn.result_code),
            "ResultDesc": callback_desc(txn.result_code),
        }
        if txn.result_code == SUCCESS:
            # Daraja's quirks: Amount with decimals, Balance without Value, numbers for date and phone.
            result["CallbackMetadata"] = {
                "Item": [
                    {"Name": "Amount", "Value": Decimal(txn.amount).quantize(Decimal("0.01"))},
                    {"Name": "MpesaReceiptNumber", "Value": txn.receipt_number},
                    {"Name": "Balance"},
                    {"Name": "TransactionDate", "Value": int(eat_stamp(txn.completed_at))},
                    {"Name": "PhoneNumber", "Value": int(txn.phone)},
                ]
            }
        return {"Body": {"stkCallback": result}}

    def _expire(self, txn_id: str) -> None:
        self.complete(txn_id, "1037")

    def expire_due(self) -> None:
        """Prompts past their deadline by the (injectable) clock end as 1037, like an unanswered phone."""
        with self.state.lock:
            now = self.state.now()
            due = [
                t.checkout_request_id
                for t in self.state.transactions.values()
                if t.status == "pending" and now >= t.expires_at
            ]
        for txn_id in due:
            self.complete(txn_id, "1037")

    # -- control API / phone page --------------------------------------------------------------
    def resolve(self, txn_id: str, code: str) -> dict:
        with self.state.lock:
            txn = self.state.transactions.get(txn_id)
            if txn is None:
                raise ControlError(404, f"Unknown CheckoutRequestID {txn_id}")
            if not self.complete(txn_id, code):
                raise ControlError(409, f"Transaction {txn_id} is already completed ({txn.result_code})")
            return txn.public()

    def enter_pin(self, txn_id: str, pin) -> dict:
        if not isinstance(pin, str) or len(pin) != 4 or not pin.isdigit():
            raise ControlError(400, "The PIN must be 4 digits")
        return self.resolve(txn_id, "2001" if pin == WRONG_PIN else SUCCESS)

    def cancel(self, txn_id: str) -> dict:
        return self.resolve(txn_id, "1032")


def _race(jobs) -> None:
    """Run the delivery jobs at the same moment, one thread each; returns when all are done."""
    barrier = threading.Barrier(len(jobs))

    def run(func, *args):
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)
        func(*args)

    threads = [threading.Thread(target=run, args=job, name="daraja-sim-race") for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
