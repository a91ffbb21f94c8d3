"""Daraja's own records on the simulator: Transaction Status, Reversal and Pull Transactions
(docs/daraja.md, "APIs for records and refunds").

Transaction Status and Reversal acknowledge at once and POST their Result to the ResultURL after the
callback delay; both find the shortcode's real payments (C2B payments, STK payments included, and
those whose confirmation was lost). Pull Transactions lists them for the last 48 hours.

Option async_outcome (state.ASYNC_OUTCOMES) changes what follows the acknowledgement:
- "result" (default): the Result, once, to the ResultURL.
- "timeout": the request waited too long in M-Pesa's queue and was not processed (no reversal is made):
  a queue-timeout notice (queue_timeout_result below) to the QueueTimeOutURL, after the callback delay.
- "none": processed (a reversal is made), but nothing is ever POSTed.
- "twice": processed once, the same Result POSTed twice (one after the other).
"""

import secrets
from datetime import datetime

from . import validate
from .http_types import ApiError, json_response
from .ids import conversation_id, eat_now, eat_stamp, receipt_number
from .oauth import C2B_FAMILY, require_token

PULL_PAGE = 100  # rows per Pull query page
PULL_WINDOW = 48 * 3600
PULL_DATE = "%Y-%m-%d %H:%M:%S"


def _conversation() -> str:
    return f"AG_{datetime.now():%Y%m%d}_{secrets.token_hex(10)}"


def queue_timeout_result(originator: str, conversation: str) -> dict:
    """The Result of what the QueueTimeOutURL receives, {"Result": {...}}. An assumption: Safaricom
    documents the URL (a request that waited too long in M-Pesa's queue) but publishes no sample body;
    this is the Result envelope of docs/daraja.md ("APIs for records and refunds") with ResultType 1 and
    the wording integrators quote for a queue timeout."""
    return {
        "ResultType": 1,
        "ResultCode": 1,
        "ResultDesc": "The service request has timed out.",
        "OriginatorConversationID": originator,
        "ConversationID": conversation,
        "TransactionID": receipt_number(),
    }


def _ack(originator: str, conversation: str) -> dict:
    return {
        "OriginatorConversationID": originator,
        "ConversationID": conversation,
        "ResponseCode": "0",
        "ResponseDescription": "Accept the service request successfully.",
    }


class RecordsService:
    def __init__(self, state, scheduler, deliverer):
        self.state, self.scheduler, self.deliverer = state, scheduler, deliverer

    # -- what M-Pesa holds ----------------------------------------------------------------------
    def _payments(self, shortcode: str) -> list[dict]:
        """Every payment M-Pesa received on this C2B shortcode (called with the lock held)."""
        rows = [
            {
                "receipt": p.trans_id,
                "amount": p.amount,
                "msisdn": p.msisdn,
                "bill_ref": p.bill_ref_number,
                "at": p.created_at,
                "type": "c2b-pay-bill-debit",
            }
            for p in self.state.payments.values()
            if p.shortcode == shortcode and p.status in ("confirmed", "lost")
        ]
        for txn in self.state.transactions.values():
            account = self.state.stk_accounts.get(txn.business_shortcode)
            if (
                account
                and account.c2b_shortcode == shortcode
                and txn.result_code == "0"
                and txn.receipt_number
            ):
                rows.append(
                    {
                        "receipt": txn.receipt_number,
                        "amount": txn.amount,
                        "msisdn": txn.phone,
                        "bill_ref": txn.account_reference,
                        "at": txn.completed_at or txn.created_at,
                        "type": "c2b-buy-goods-debit",
                    }
                )
        rows.sort(key=lambda row: row["at"])
        return rows

    def _find(self, shortcode: str, receipt: str) -> dict | None:
        return next((row for row in self._payments(shortcode) if row["receipt"] == receipt), None)

    def _initiator(self, body: dict) -> None:
        for name in ("Initiator", "SecurityCredential"):
            validate.non_empty_string(body, name)

    def _urls(self, body: dict) -> tuple[str, str]:
        return validate.url(body, "ResultURL"), validate.url(body, "QueueTimeOutURL")

    def _later(self, kind: str, reference: str, url: str, result: dict, times: int = 1) -> None:
        for _ in range(times):
            self.scheduler.call_later(
                self.state.options.callback_delay,
                self.deliverer.deliver,
                kind,
                reference,
                url,
                {"Result": result},
            )

    def _outcome(self, kind: str, reference: str, result_url: str, result: dict) -> None:
        """The Result as async_outcome says (the caller already handled "timeout")."""
        outcome = self.state.options.async_outcome
        if outcome != "none":
            self._later(kind, reference, result_url, result, times=2 if outcome == "twice" else 1)

    def _timed_out(self, kind: str, reference: str, timeout_url: str, originator: str, conversation: str):
        """async_outcome "timeout": the acknowledgement, then the queue-timeout notice; nothing processed."""
        self._later(f"{kind}_timeout", reference, timeout_url, queue_timeout_result(originator, conversation))
        return json_response(200, _ack(originator, conversation))

    # -- Transaction Status ---------------------------------------------------------------------
    def transaction_status(self, request):
        require_token(self.state, request, C2B_FAMILY)
        body = validate.require_json_body(request, "Initiator")
        self._initiator(body)
        result_url, timeout_url = self._urls(body)
        receipt = str(body.get("TransactionID") or "").strip().upper()
        shortcode = str(body.get("PartyA") or "").strip()
        originator, conversation = conversation_id(), _conversation()
        if self.state.options.async_outcome == "timeout":
            return self._timed_out("transaction_status", receipt, timeout_url, originator, conversation)
        with self.state.lock:
            found = self._find(shortcode, receipt)
            account = self.state.c2b_accounts.get(shortcode)
        result = {
            "ResultType": 0,
            "OriginatorConversationID": originator,
            "ConversationID": conversation,
            "TransactionID": receipt_number(),
        }
        if found is None:
            result.update(ResultCode=2032, ResultDesc="The transaction receipt number does not exist.")
        else:
            result.update(
                ResultCode=0,
                ResultDesc="The service request is processed successfully.",
                ResultParameters={
                    "ResultParameter": [
                        {"Key": "DebitPartyName", "Value": f"{found['msisdn']} - JOHN DOE"},
                        {
                            "Key": "CreditPartyName",
                            "Value": f"{shortcode} - {account.name if account else ''}",
                        },
                        {"Key": "OriginatorConversationID", "Value": originator},
                        {"Key": "InitiatedTime", "Value": int(eat_stamp(found["at"]))},
                        {"Key": "DebitAccountType", "Value": "MMF Account For Customer"},
                        {"Key": "DebitPartyCharges"},
                        {"Key": "TransactionReason"},
                        {"Key": "ReasonType", "Value": "Pay Bill Online"},
                        {"Key": "TransactionStatus", "Value": "Completed"},
                        {"Key": "FinalisedTime", "Value": int(eat_stamp(found["at"]))},
                        {"Key": "Amount", "Value": found["amount"]},
                        {"Key": "ConversationID", "Value": conversation},
                        {"Key": "ReceiptNo", "Value": found["receipt"]},
                    ]
                },
            )
        self._outcome("transaction_status_result", receipt, result_url, result)
        return json_response(200, _ack(originator, conversation))

    # -- Reversal -------------------------------------------------------------------------------
    def reversal(self, request):
        require_token(self.state, request, C2B_FAMILY)
        body = validate.require_json_body(request, "Initiator")
        self._initiator(body)
        if "RecieverIdentifierType" not in body:  # Daraja requires its own misspelling
            raise ApiError(400, "400.002.02", "Bad Request - Invalid RecieverIdentifierType")
        result_url, timeout_url = self._urls(body)
        amount = validate.amount(body)
        receipt = str(body.get("TransactionID") or "").strip().upper()
        shortcode = str(body.get("ReceiverParty") or "").strip()
        originator, conversation = conversation_id(), _conversation()
        if self.state.options.async_outcome == "timeout":  # not processed: no reversal is made
            return self._timed_out("reversal", receipt, timeout_url, originator, conversation)
        result = {"ResultType": 0, "OriginatorConversationID": originator, "ConversationID": conversation}
        with self.state.lock:
            found = self._find(shortcode, receipt)
            if found is None or found["amount"] != amount:
                result.update(ResultCode="R000002", ResultDesc="The OriginalTransactionID is invalid.")
            elif receipt in self.state.reversals:
                result.update(ResultCode="R000001", ResultDesc="The transaction has already been reversed.")
            else:
                reversal_receipt = receipt_number()
                self.state.reversals[receipt] = {
                    "kind": "reversal",
                    "trans_id": reversal_receipt,
                    "shortcode": shortcode,
                    "merchant_name": "",
                    "msisdn": found["msisdn"],
                    "amount": amount,
                    "status": "reversed",
                    "detail": f"reverses {receipt}",
                    "created_at": self.state.now(),
                }
                result.update(
                    ResultCode=0,
                    ResultDesc="The service request is processed successfully.",
                    TransactionID=reversal_receipt,
                    ResultParameters={
                        "ResultParameter": [
                            {"Key": "Amount", "Value": amount},
                            {"Key": "OriginalTransactionID", "Value": receipt},
                            {"Key": "TransCompletedTime", "Value": int(eat_stamp(self.state.now()))},
                            {"Key": "CreditPartyPublicName", "Value": f"{found['msisdn']} - JOHN DOE"},
                        ]
                    },
                )
        self._outcome("reversal_result", receipt, result_url, result)
        return json_response(200, _ack(originator, conversation))

    # -- Pull Transactions ----------------------------------------------------------------------
    def pull_register(self, request):
        require_token(self.state, request, C2B_FAMILY)
        body = validate.require_json_body(request, "ShortCode")
        shortcode = validate.shortcode(body, "ShortCode")
        validate.url(body, "CallBackURL")
        with self.state.lock:
            already = shortcode in self.state.pull_registrations
            self.state.pull_registrations[shortcode] = str(body.get("NominatedNumber") or "")
        return json_response(
            200,
            {
                "ResponseRefID": secrets.token_hex(8),
                "ResponseStatus": "1001" if already else "1000",
                "ShortCode": shortcode,
                "ResponseDescription": "Shortcode already Registered"
                if already
                else "Shortcode Registered Successfully",
            },
        )

    def pull_query(self, request):
        require_token(self.state, request, C2B_FAMILY)
        body = validate.require_json_body(request, "ShortCode")
        shortcode = validate.shortcode(body, "ShortCode")
        try:
            start = datetime.strptime(str(body.get("StartDate")), PULL_DATE)
            end = datetime.strptime(str(body.get("EndDate")), PULL_DATE)
            offset = int(str(body.get("OffSetValue", "0")))
        except ValueError:
            raise ApiError(
                400, "400.002.02", "Bad Request - Invalid StartDate, EndDate or OffSetValue"
            ) from None
        with self.state.lock:
            now = self.state.now()
            registered = shortcode in self.state.pull_registrations
            rows = [
                row
                for row in self._payments(shortcode)
                if row["at"] >= now - PULL_WINDOW and start <= _local(row["at"]) <= end
            ]
        if not registered:
            raise ApiError(400, "400.002.02", "Bad Request - Shortcode not registered for Pull")
        page = rows[offset : offset + PULL_PAGE] if offset >= 0 else []
        if not page:
            return json_response(
                200,
                {
                    "ResponseCode": "1001",
                    "ResponseMessage": "No records found or Organization Name not available",
                },
            )
        return json_response(
            200,
            {
                "ResponseRefID": secrets.token_hex(8),
                "ResponseCode": "1000",
                "ResponseMessage": "Success",
                "Response": [
                    [
                        {
                            "transactionId": row["receipt"],
                            "trxDate": _local(row["at"]).isoformat(timespec="milliseconds") + "+03:00",
                            "msisdn": int(row["msisdn"]) if str(row["msisdn"]).isdigit() else row["msisdn"],
                            "sender": "UNKNOWN",
                            "transactiontype": row["type"],
                            "billreference": row["bill_ref"],
                            "amount": str(row["amount"]),
                            "organizationname": shortcode,
                        }
                        for row in page
                    ]
                ],
            },
        )


def _local(epoch: float) -> datetime:
    """Nairobi wall-clock time, naive (as Pull's StartDate/EndDate are written)."""
    return eat_now(epoch).replace(tzinfo=None)
