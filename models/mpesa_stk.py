"""The STK push state machine, in one place.

    push ──► pending ──callback / query──► success · failed · cancelled · timeout · needs_review
               │  └─ success callback, "confirm by query" on: kept in pending_callback until the
               │     STK query agrees (success) or contradicts it (needs_review)
               ├─ 75 s without a result: the till gives up (stk_abandoned); a result that comes
               │  later is still stored, and a late success is offered by the C2B search
               └─ 30 min without a final answer: needs_review (the cron)
    success without receipt (query only) ──late callback──► success with the receipt
    failed/cancelled/timeout ──success callback──► needs_review (the customer may have paid)
    any final state ──repeat──► counted on the row (duplicate_count), never applied twice

Here: sending the push, the callback, the query, the timeout, the answer to the till and the bus
messages. Taking the money for the order is mpesa_claim.py; the receipt's C2B twin is handled under
the database's one-live-payment-per-receipt index (mpesa_callback.py).
"""

import logging
import re
from datetime import timedelta

from odoo import _lt, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..daraja import DarajaAPIError, DarajaError, DarajaTransportError, parse_callback, reason_message
from .mpesa_callback import LIVE_PAYMENT_DOMAIN, STK_QUERY_ONLY_SQL
from .mpesa_utils import STK_WAIT_SECONDS, status_value, to_decimal

_logger = logging.getLogger(__name__)

STK_QUERY_INTERVAL = 5  # at most one STK query per request every 5 s, across workers
STK_FIRST_QUERY_AFTER = 10  # the callback usually arrives first: don't query a fresh push
STK_REVIEW_AFTER = timedelta(minutes=30)  # no final answer after this: a human checks the statement
FINAL = {"success", "failed", "cancelled", "timeout", "needs_review", "invalid"}
FAILURES = {"failed", "cancelled", "timeout"}
# an STK payment confirmed by the query alone (no receipt) and its C2B twin: apart at most this much
TWIN_WINDOW = timedelta(minutes=10)


def reference_key(text):
    """An STK AccountReference as the C2B twin's BillRefNumber carries it: case and punctuation aside."""
    return "".join(ch for ch in (text or "").lower() if ch.isalnum())


MSG_STK_SENT = _lt("STK Push sent successfully")
MSG_ALREADY = _lt("This payment is already reconciled")

# check_status answer by row status (the five values the till understands)
ANSWER_STATUS = {
    "success": "completed",
    "pending": "pending",
    "cancelled": "cancelled",
    "failed": "failed",
    "timeout": "failed",
    "needs_review": "error",
    "invalid": "error",
}


def account_reference(reference):
    """Daraja's AccountReference holds 12 characters: keep the end (most specific part of a POS reference)."""
    cleaned = re.sub(r"[^A-Za-z0-9 -]", "", reference) or "POS"
    return cleaned[-12:]


class MpesaStkError(UserError):
    """The push could not be sent; the message is for the cashier."""


class MpesaCallback(models.Model):
    _inherit = "mpesa.callback"

    # ================================================================== push

    @api.model
    def _stk_push(self, config, phone, amount, reference, order_key, pos_config, method):
        """Send the push through the Daraja client and log the pending row. Arguments are checked."""
        client = config._get_daraja_client()
        try:
            response = client.stk_push(
                phone,
                amount,
                account_reference=account_reference(reference),
                transaction_desc="POS payment",
                callback_url=config.sudo().stk_callback_url,
            )
        except DarajaTransportError as error:
            _logger.warning(
                "STK push for account %s: no usable answer (ambiguous=%s)", config.id, error.ambiguous
            )
            if error.ambiguous:
                raise MpesaStkError(
                    self.env._(
                        "No answer from M-Pesa. The customer may still get the prompt: check the phone "
                        "before sending again, or look for the payment with the C2B search."
                    )
                ) from None
            raise MpesaStkError(self.env._("Cannot reach M-Pesa: %(error)s", error=error.message)) from None
        except DarajaAPIError as error:
            _logger.warning("STK push for account %s refused: %s", config.id, error.error_code)
            raise MpesaStkError(
                self.env._(
                    "M-Pesa refused the request (%(code)s): %(message)s",
                    code=error.error_code or error.http_status,
                    message=error.error_message or error.message,
                )
            ) from None
        except DarajaError as error:
            raise MpesaStkError(error.message) from None

        self._stk_register_request(
            {
                "callback_type": "stk",
                "status": "pending",
                "source": "pos",
                "checkout_request_id": response.checkout_request_id,
                "merchant_request_id": response.merchant_request_id,
                "requested_amount": amount,
                "request_phone": response.phone or phone,
                "phone_number": response.phone or phone,
                "order_reference": reference,
                "order_key": order_key or reference,
                "request_date": fields.Datetime.now(),
                "config_id": config.id,
                "company_id": config.company_id.id,
                "pos_config_id": pos_config.id or False,
                "pos_session_id": pos_config.current_session_id.id or False,
                "payment_method_id": method.id or False,
                "user_id": self.env.uid,
                "business_shortcode": config.business_shortcode,
            }
        )
        return {
            "success": True,
            "message": str(MSG_STK_SENT),
            "checkout_request_id": response.checkout_request_id,
            "merchant_request_id": response.merchant_request_id,
        }

    @api.model
    def _stk_register_request(self, vals):
        """Store the pending row in its own transaction, committed at once: Daraja may call back
        before this request ends. A callback even faster than that left an orphan: adopt it."""
        with self.env.registry.cursor() as cr:
            return self.env(cr=cr, su=True)["mpesa.callback"]._stk_store_request(vals).id

    @api.model
    def _stk_store_request(self, vals):
        orphan = self.search([("checkout_request_id", "=", vals["checkout_request_id"])], limit=1)
        if not orphan:
            return self.create(vals)
        orphan._lock_row()
        if orphan.request_date:
            # Daraja never reuses a CheckoutRequestID: keep both facts for a human
            orphan.write(
                {"status": "needs_review", "review_reason": "CheckoutRequestID returned twice by Daraja"}
            )
            return orphan
        payload = orphan.raw_payload
        orphan.write(
            {
                **vals,
                "status": "pending",
                "review_reason": False,
                "reason": False,
                "result_code": False,
                "result_desc": False,
            }
        )
        if payload:
            orphan._stk_on_callback(parse_callback(payload, "stk"), payload, "token_url", reprocess=True)
        return orphan

    # ================================================================== callback

    @api.model
    def _stk_process_callback(self, callback, raw_text, source, config=None, remote_addr=None):
        """An STK callback from Safaricom (already authenticated and parsed)."""
        Callback = self.sudo()
        Callback.flush_model(["checkout_request_id"])
        # found and locked in one statement (the row lock of _lock_row)
        self.env.cr.execute(
            SQL(
                "SELECT id FROM mpesa_callback WHERE checkout_request_id = %s LIMIT 1 FOR UPDATE",
                callback.checkout_request_id,
            )
        )
        row = Callback.browse([row_id for (row_id,) in self.env.cr.fetchall()])
        if not row:
            # not a request we made (forged, another system's, or faster than our commit): keep it for
            # review, without its receipt, so it can never block the real payment's receipt
            return Callback.create(
                {
                    "callback_type": "stk",
                    "status": "needs_review",
                    "review_reason": "Unknown CheckoutRequestID",
                    "checkout_request_id": callback.checkout_request_id,
                    "merchant_request_id": callback.merchant_request_id,
                    "result_code": callback.result_code,
                    "result_desc": callback.result_desc,
                    "amount": float(callback.amount) if callback.amount is not None else 0.0,
                    "phone_number": callback.phone,
                    "transaction_date": callback.transaction_time,
                    "raw_payload": raw_text,
                    "callback_received": True,
                    "source": source,
                    "remote_addr": remote_addr,
                    "config_id": config.id if config else False,
                    "company_id": Callback._company_id_for(config),
                }
            )
        if config and row.config_id and config != row.config_id:
            return row._stk_review(
                "Callback received on another account's URL", callback_received=True, raw_payload=raw_text
            )
        return row._stk_on_callback(callback, raw_text, source, remote_addr=remote_addr)

    def _stk_on_callback(self, callback, raw_text, source, remote_addr=None, reprocess=False):
        """The transitions a callback makes on our row (locked)."""
        self.ensure_one()
        status = status_value(callback.result.status)
        base_vals = {
            "callback_received": True,
            "raw_payload": raw_text,
            "remote_addr": remote_addr,
            "result_code": callback.result_code,
            "result_desc": callback.result_desc,
            "reason": callback.result.reason,
        }
        if not reprocess:
            if self.status == "success" and not self.mpesa_receipt_number and status == "success":
                # the query completed it first; the late callback brings the receipt
                self._stk_complete_success(callback, {"callback_received": True, "raw_payload": raw_text})
                return self._notify_till()
            if self.status in FAILURES and status == "success":
                # the query (or an earlier callback) said it failed, M-Pesa now says paid: the customer
                # may have paid, so a human decides rather than the till asking them to pay again
                self._record_duplicate(raw_text)
                return self._stk_review(
                    f"M-Pesa says paid after the result {self.result_code or self.status}",
                    mpesa_receipt_number=callback.receipt_number or False,
                    amount=float(callback.amount) if callback.amount is not None else self.amount,
                )
            if self.callback_received or self.status in FINAL or self.pending_callback:
                return self._record_duplicate(raw_text)
        if (
            callback.merchant_request_id
            and self.merchant_request_id
            and (callback.merchant_request_id != self.merchant_request_id)
        ):
            return self._stk_review("MerchantRequestID mismatch", **base_vals)
        if status == "success":
            if self.config_id._callback_facts()[3]:  # confirm STK results by query
                # trusted only once the STK query agrees; the cron picks it up at once
                self.write({**base_vals, "pending_callback": raw_text})
                self.env.ref("pos_mpesa.ir_cron_mpesa_recover_stk")._trigger()
                return self
            self._stk_complete_success(callback, base_vals)
        elif status in FAILURES:
            self.write({**base_vals, "status": status})
        elif status == "pending":
            self.write(base_vals)
        else:
            self.write(
                {
                    **base_vals,
                    "status": "needs_review",
                    "review_reason": f"Unknown result code {callback.result_code}",
                }
            )
        return self._notify_till()

    def _stk_review(self, review_reason, **vals):
        self.ensure_one()
        self.write({**vals, "status": "needs_review", "review_reason": review_reason})
        return self._notify_till()

    def _stk_complete_success(self, callback, vals):
        """A success on our row: check the money, then mark it paid (once per receipt)."""
        self.ensure_one()
        vals = dict(
            vals,
            mpesa_receipt_number=callback.receipt_number or False,
            transaction_date=callback.transaction_time,
            pending_callback=False,
        )
        if callback.phone:
            vals["phone_number"] = callback.phone
        if callback.amount is not None:
            vals["amount"] = float(callback.amount)
        if callback.amount is None or to_decimal(callback.amount) != to_decimal(self.requested_amount):
            vals.update(
                status="needs_review",
                review_reason=(
                    f"Amount mismatch: requested {self.requested_amount:.2f}, callback says {callback.amount}"
                ),
            )
        elif not callback.receipt_number:
            vals.update(status="needs_review", review_reason="Success without a receipt number")
        else:
            vals["status"] = "success"
            twin = self.search(
                [
                    ("mpesa_receipt_number", "=", callback.receipt_number),
                    ("callback_type", "=", "c2b"),
                    ("id", "!=", self.id),
                ],
                limit=1,
            )
            if twin:
                twin._lock_row()
            if twin and twin._is_live_payment():
                self._stk_adopt_twin(twin, vals)
        with self._payment_guard():
            self.write(vals)

    def _stk_adopt_twin(self, twin, vals):
        """The same payment seen first as C2B (its twin): the STK row is the payment and the twin a
        copy, unless a till already took the twin (then a human decides). Updates vals."""
        if twin.is_claimed:
            vals.update(
                status="needs_review",
                review_reason=f"Receipt claimed through C2B ({twin.claim_order_key or twin.id})",
            )
        else:
            twin.write({"duplicate_of_id": self.id})
            twin.flush_recordset()

    # ================================================================== query

    def _stk_query(self, force=False):
        """Ask Daraja's STK query for a pending row, at most every STK_QUERY_INTERVAL seconds."""
        self.ensure_one()
        now = fields.Datetime.now()

        def too_soon():
            if force:
                return False
            if self.last_query_date and (now - self.last_query_date).total_seconds() < STK_QUERY_INTERVAL:
                return True
            return bool(
                not self.pending_callback
                and self.request_date
                and (now - self.request_date).total_seconds() < STK_FIRST_QUERY_AFTER
            )

        if too_soon() or not self._lock_row(nowait=True):
            return  # another worker is querying (or storing the callback) right now
        if self.status != "pending" or not self.config_id or too_soon():
            return
        self.sudo().write({"last_query_date": now, "query_count": self.query_count + 1})
        try:
            result = self.config_id._get_daraja_client().stk_query(self.checkout_request_id)
        except (DarajaError, UserError) as error:
            _logger.info(
                "STK query for %s gave no answer: %s",
                self.checkout_request_id,
                getattr(error, "message", error),
            )
            return
        if status_value(result.result.status) != "pending":
            self.sudo()._stk_on_query_result(result.result, result.raw)

    def _stk_on_query_result(self, info, raw):
        status = status_value(info.status)
        vals = {
            "result_code": info.code,
            "result_desc": (raw or {}).get("ResultDesc") or info.message,
            "reason": info.reason,
            "confirmed_by_query": True,
        }
        if status == "success":
            if self.pending_callback:
                # a success callback was waiting for this confirmation: take its receipt and amount
                self._stk_complete_success(parse_callback(self.pending_callback, "stk"), vals)
                return self._notify_till()
            vals.update(status="success", amount=self.requested_amount)
            twins = self._stk_c2b_twins_without_receipt()
            if len(twins) == 1:
                # the C2B confirmation of this payment came first: its receipt is ours, the row a copy
                twins._lock_row()
                self._stk_adopt_twin(twins, vals)
                vals["mpesa_receipt_number"] = twins.mpesa_receipt_number
            elif twins:
                vals.update(
                    status="needs_review",
                    review_reason="Paid, but several C2B payments may be this one: "
                    + ", ".join(twins.mapped("name")),
                )
            with self._payment_guard():
                self.write(vals)
            return self._notify_till()
        elif status in FAILURES:
            vals["status"] = status
            if self.pending_callback:
                vals.update(
                    status="needs_review",
                    review_reason=self.env._(
                        "The callback said paid but the STK query says %(code)s", code=info.code
                    ),
                )
        else:
            vals.update(
                status="needs_review",
                review_reason=self.env._("Unknown result code %(code)s", code=info.code),
            )
        self.write(vals)
        return self._notify_till()

    # ================================================================== twins without a receipt

    def _stk_c2b_twins_without_receipt(self):
        """Live C2B payments that may be this STK payment (same account, amount, reference and time),
        for a success the query confirmed without a receipt."""
        self.ensure_one()
        twins = self.search(
            [
                ("callback_type", "=", "c2b"),
                ("config_id", "=", self.config_id.id),
                *LIVE_PAYMENT_DOMAIN,
                ("amount", "=", float(self.requested_amount)),
                ("received_date", ">=", self.request_date - TWIN_WINDOW),
            ]
        )
        key = reference_key(self.order_reference)
        return twins.filtered(lambda r: key and reference_key(r.bill_ref_number) == key)

    @api.model
    def _stk_query_only_twins(self, config, amount, reference, when):
        """STK payments the query confirmed without a receipt that a C2B payment (its twin, or its
        Pull record) may be: same account, amount, reference, within TWIN_WINDOW."""
        key = reference_key(reference)
        if not (config and key):
            return self.browse()
        when = when or fields.Datetime.now()
        self.flush_model()
        # one statement on the partial index of such rows (mpesa_callback.py), on every C2B confirmation
        self.env.cr.execute(
            SQL(
                """SELECT id FROM mpesa_callback
                    WHERE %s AND config_id = %s AND amount = %s AND request_date BETWEEN %s AND %s""",
                SQL(STK_QUERY_ONLY_SQL),
                config.id,
                amount,
                when - TWIN_WINDOW,
                when + TWIN_WINDOW,
            )
        )
        rows = self.sudo().browse([row_id for (row_id,) in self.env.cr.fetchall()])
        return rows.filtered(lambda r: reference_key(r.order_reference) == key)

    def _stk_take_receipt(self, receipt):
        """The receipt a C2B twin (or Daraja's record) gives a query-confirmed STK payment, on the row and
        on its POS payment."""
        self.ensure_one()
        with self._payment_guard():
            self.write({"mpesa_receipt_number": receipt})
        payment = self.pos_payment_id.sudo()
        if payment and not payment.mpesa_receipt_number:
            payment.write(
                {"mpesa_receipt_number": receipt, "transaction_id": payment.transaction_id or receipt}
            )
        _logger.info("M-Pesa STK payment %s: receipt %s from its C2B record", self.id, receipt)

    # ================================================================== the till's view

    def _stk_past_wait(self):
        self.ensure_one()
        return bool(
            self.request_date
            and fields.Datetime.now() - self.request_date >= timedelta(seconds=STK_WAIT_SECONDS)
        )

    def _stk_status_for_till(self):
        """check_status: the row's state for the till that pushed; a success is claimed for its order."""
        self.ensure_one()
        if self.status == "pending":
            self._stk_query()
        if self.status == "pending" and self._stk_past_wait():
            if self.pending_callback:
                # M-Pesa said paid and the confirming query has not answered yet: not a timeout
                self.env.ref("pos_mpesa.ir_cron_mpesa_recover_stk")._trigger()
                return self._stk_answer(reason="confirming")
            # the till gives up; a result arriving later is still stored and offered by the C2B search
            self.sudo().write({"stk_abandoned": True})
            return dict(
                self._stk_answer(reason="timeout"), status="failed", result_code=None, receipt_number=None
            )
        answer = self._stk_answer()
        if self.status == "success" and not self._stk_claim_for_pusher():
            answer.update(status="error", message=str(MSG_ALREADY) + self.env._(" by another till"))
        return answer

    def _stk_order_key(self):
        """The order the push was for: its uuid, else the reference the till sent."""
        self.ensure_one()
        return self.order_key or self.order_reference or f"stk:{self.checkout_request_id}"

    def _stk_claim_for_pusher(self):
        """The pushing till takes its own payment for the order it pushed for (not for another)."""
        self.ensure_one()
        key = self._stk_order_key()
        if self._claim_is_for([key]):
            return True
        return self._claim(key, pos_config=self.pos_config_id, pos_session=self.pos_session_id)

    def _stk_cancel_by_till(self):
        """The till stops waiting. A payment that arrived meanwhile stays the till's: it is told so."""
        self.ensure_one()
        self._lock_row()
        if self.status == "success":
            if not self._stk_claim_for_pusher():
                return dict(
                    self._stk_answer(),
                    status="error",
                    message=str(MSG_ALREADY) + self.env._(" by another till"),
                )
            return dict(
                self._stk_answer(),
                message=self.env._("The customer had already paid: the payment is kept for this order."),
            )
        self.sudo().write({"stk_abandoned": True})
        return {
            "success": True,
            "message": self.env._(
                "Payment request abandoned. If the customer pays anyway, "
                "the payment can be matched with the C2B search."
            ),
            "status": ANSWER_STATUS[self.status],
        }

    @api.model
    def _mpesa_message(self, reason):
        """The cashier's message for a reason (daraja/results.py), in the user's language."""
        return self.env._(reason_message(reason))  # pylint: disable=translation-not-lazy

    def _stk_answer(self, reason=None):
        """check_status answer for this row (success, status, message, plus reason, receipt and row id)."""
        self.ensure_one()
        if reason is None:
            reason = self.reason or ("paid" if self.status == "success" else "unknown")
            if self.status == "pending":
                reason = "pending"
            if self.status == "needs_review":
                reason = "unknown"
        return {
            "success": True,
            "status": ANSWER_STATUS[self.status],
            "message": self._mpesa_message(reason),
            "reason": reason,
            "result_code": self.result_code or None,
            "receipt_number": self.mpesa_receipt_number or None,
            "callback_id": self.id,
        }

    # ================================================================== bus

    def _notify_till(self):
        """Push an STK result to the till that sent the push (MPESA_PAYMENT_STATUS)."""
        if self._bus_later("_notify_till"):
            return self
        for row in self.filtered(lambda r: r.callback_type == "stk" and r.pos_config_id):
            answer = row._stk_answer()
            row.pos_config_id.sudo()._notify(
                "MPESA_PAYMENT_STATUS",
                {
                    "checkout_request_id": row.checkout_request_id,
                    "status": answer["status"],
                    "reason": answer["reason"],
                    "message": answer["message"],
                    "receipt_number": answer["receipt_number"],
                    "callback_id": row.id,
                },
            )
        return self

    # ================================================================== recovery cron

    @api.model
    def _cron_recover_stk(self):
        """Lost or unconfirmed STK callbacks: query pending requests past their wait."""
        now = fields.Datetime.now()
        rows = self.sudo().search(
            [
                ("callback_type", "=", "stk"),
                ("status", "=", "pending"),
                ("config_id", "!=", False),
                "|",
                ("pending_callback", "!=", False),
                ("request_date", "<=", now - timedelta(seconds=STK_WAIT_SECONDS)),
            ],
            order="request_date",
            limit=100,
        )
        for row in rows:
            row._stk_query(force=bool(row.pending_callback))
            if row.status == "pending" and row.request_date and now - row.request_date > STK_REVIEW_AFTER:
                row._stk_review("No final answer from M-Pesa: check the M-Pesa statement")
        return len(rows)
