"""mpesa.callback, the till's side: the JSON endpoints of controllers/main.py.

Sending an STK push (through the Daraja client), its status (with rate-limited STK queries), giving
up on it, the C2B search, reconcile (the atomic claim) and the bus notifications to the tills.
"""

import logging
import re
from datetime import timedelta, timezone
from decimal import InvalidOperation

from odoo import _lt, api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain

from ..daraja import (
    DarajaAPIError,
    DarajaError,
    DarajaTransportError,
    DarajaValidationError,
    nairobi_timestamp,
    normalize_phone,
    parse_callback,
    validate_amount,
)
from .mpesa_utils import STK_WAIT_SECONDS, status_value, to_decimal

_logger = logging.getLogger(__name__)

STK_QUERY_INTERVAL = 5  # at most one STK query per request every 5 s, across workers
STK_FIRST_QUERY_AFTER = 10  # the callback usually arrives first: don't query a fresh push
MAX_SEARCH_RESULTS = 50
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# Cashier messages by the Daraja layer's reason keys (Contract A)
REASON_MESSAGES = {
    "paid": _lt("Payment successful!"),
    "cancelled": _lt("Payment cancelled"),
    "insufficient_balance": _lt("Insufficient balance"),
    "timeout": _lt("Payment timeout"),
    "wrong_pin": _lt("Wrong M-Pesa PIN"),
    "customer_busy": _lt("The customer is busy with another M-Pesa transaction"),
    "rule_limited": _lt("Same payment repeated too quickly: wait 2 minutes"),
    "limit_exceeded": _lt("M-Pesa transaction limit exceeded"),
    "config_error": _lt("M-Pesa account configuration error"),
    "system_error": _lt("M-Pesa system error, please try again"),
    "pending": _lt("Waiting for the customer to enter the M-Pesa PIN"),
    "unknown": _lt("Payment needs review by a manager"),
}
MSG_NOT_CONFIGURED = _lt("M-Pesa not configured")
MSG_STK_SENT = _lt("STK Push sent successfully")
MSG_RECONCILED = _lt("Callback reconciled successfully")
MSG_ALREADY = _lt("This payment is already reconciled")
MSG_ACCESS = _lt("Access denied: you must be a Point of Sale user")

# check_status answer by row status (the brief's status values)
ANSWER_STATUS = {
    "success": "completed",
    "pending": "pending",
    "cancelled": "cancelled",
    "failed": "failed",
    "timeout": "failed",
    "needs_review": "error",
    "invalid": "error",
}


class MpesaRequestError(Exception):
    """A POS request refused with a message for the cashier (becomes {"success": false})."""


def _missing(value):
    """JSON null / false / "" mean "not given" (0 is a value)."""
    return value is None or value is False or value == ""


def _account_reference(reference):
    """Daraja's AccountReference holds 12 characters: keep the end (most specific part of a POS reference)."""
    cleaned = re.sub(r"[^A-Za-z0-9 -]", "", reference) or "POS"
    return cleaned[-12:]


class MpesaCallback(models.Model):
    _inherit = "mpesa.callback"

    # ================================================================== request plumbing

    @api.model
    def _run_pos_request(self, method_name, *args, **kwargs):
        """Run a POS endpoint; every refusal becomes {"success": false, "message": ...}."""
        try:
            self._check_pos_user()
            with self.env.cr.savepoint():
                return getattr(self, method_name)(*args, **kwargs)
        except MpesaRequestError as error:
            return {"success": False, "message": str(error)}
        except DarajaValidationError as error:
            return {"success": False, "message": error.message}
        except UserError as error:
            return {"success": False, "message": error.args[0] if error.args else str(error)}

    @api.model
    def _check_pos_user(self):
        if not self.env.su and not self.env.user.has_group("point_of_sale.group_pos_user"):
            raise MpesaRequestError(str(MSG_ACCESS))

    @api.model
    def _mpesa_message(self, reason):
        return str(REASON_MESSAGES.get(reason) or REASON_MESSAGES["unknown"])

    @api.model
    def _config_for_payment_method(self, payment_method_id, pos_config_id=None):
        """The M-Pesa account the till uses: its payment method, else the company default."""
        PaymentMethod = self.env["pos.payment.method"]
        method = PaymentMethod
        if not _missing(payment_method_id):
            if isinstance(payment_method_id, bool) or not isinstance(payment_method_id, int):
                raise MpesaRequestError(self.env._("payment_method_id must be an integer"))
            method = PaymentMethod.browse(payment_method_id).exists()
            if not method:
                raise MpesaRequestError(self.env._("Unknown payment method"))
            method.check_access("read")
            if method.use_payment_terminal != "mpesa":
                raise MpesaRequestError(self.env._("This payment method is not an M-Pesa payment method"))
        elif not _missing(pos_config_id):
            pos_config = self._pos_config_for_request(pos_config_id)
            method = pos_config.payment_method_ids.filtered(lambda m: m.use_payment_terminal == "mpesa")[:1]
        config = method.sudo().mpesa_config_id if method else self.env.company.sudo().mpesa_config_id
        if not config or not config.active or not config._is_configured():
            raise MpesaRequestError(str(MSG_NOT_CONFIGURED))
        if config.company_id not in self.env.user.company_ids:
            raise MpesaRequestError(self.env._("This M-Pesa account belongs to another company"))
        return method, config

    @api.model
    def _pos_config_for_request(self, pos_config_id):
        """The till's point of sale from the request; empty when not given."""
        if _missing(pos_config_id):
            return self.env["pos.config"]
        if isinstance(pos_config_id, bool) or not isinstance(pos_config_id, int):
            raise MpesaRequestError(self.env._("pos_config_id must be an integer"))
        pos_config = self.env["pos.config"].browse(pos_config_id).exists()
        if not pos_config:
            raise MpesaRequestError(self.env._("Unknown point of sale"))
        pos_config.check_access("read")
        return pos_config

    @api.model
    def _get_row_for_user(self, domain):
        """A row the POS user may see: same companies as the user."""
        row = self.sudo().search(
            Domain.AND([domain, [("company_id", "in", self.env.user.company_ids.ids)]]), limit=1
        )
        return row

    # ================================================================== STK push

    @api.model
    def _pos_stk_push(
        self, phone_number=None, amount=None, order_reference=None, payment_method_id=None, pos_config_id=None
    ):
        if (
            not isinstance(phone_number, (str, int))
            or isinstance(phone_number, bool)
            or not str(phone_number).strip()
        ):
            raise MpesaRequestError(self.env._("Invalid phone number"))
        phone = normalize_phone(str(phone_number))
        if isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
            raise MpesaRequestError(self.env._("Invalid amount: whole shillings only"))
        amount_int = validate_amount(amount)
        if order_reference is not None and not isinstance(order_reference, (str, int)):
            raise MpesaRequestError(self.env._("order_reference must be a string"))
        reference = str(order_reference or "POS").strip()[:64] or "POS"
        method, config = self._config_for_payment_method(payment_method_id, pos_config_id)
        pos_config = self._pos_config_for_request(pos_config_id)
        if method and pos_config and method not in pos_config.payment_method_ids:
            raise MpesaRequestError(self.env._("This payment method is not used by this point of sale"))

        client = config._get_daraja_client()
        try:
            response = client.stk_push(
                phone,
                amount_int,
                account_reference=_account_reference(reference),
                transaction_desc="POS payment",
                callback_url=config.sudo().stk_callback_url,
            )
        except DarajaTransportError as error:
            _logger.warning(
                "STK push for account %s: no usable answer (ambiguous=%s)", config.id, error.ambiguous
            )
            if error.ambiguous:
                raise MpesaRequestError(
                    self.env._(
                        "No answer from M-Pesa. The customer may still get the prompt: check the phone "
                        "before sending again, or look for the payment with the C2B search."
                    )
                ) from None
            raise MpesaRequestError(
                self.env._("Cannot reach M-Pesa: %(error)s", error=error.message)
            ) from None
        except DarajaAPIError as error:
            _logger.warning("STK push for account %s refused: %s", config.id, error.error_code)
            raise MpesaRequestError(
                self.env._(
                    "M-Pesa refused the request (%(code)s): %(message)s",
                    code=error.error_code or error.http_status,
                    message=error.error_message or error.message,
                )
            ) from None
        except DarajaError as error:
            raise MpesaRequestError(error.message) from None

        self.sudo()._stk_register_request(
            {
                "callback_type": "stk",
                "status": "pending",
                "source": "pos",
                "checkout_request_id": response.checkout_request_id,
                "merchant_request_id": response.merchant_request_id,
                "requested_amount": amount_int,
                "request_phone": response.phone or phone,
                "phone_number": response.phone or phone,
                "order_reference": reference,
                "request_date": fields.Datetime.now(),
                "config_id": config.id,
                "company_id": config.company_id.id,
                "pos_config_id": pos_config.id or False,
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

    def _stk_register_request(self, vals):
        """Store the pending STK row in its own transaction, committed at once: Daraja may call
        back before this request ends. A callback even faster than that left an orphan: adopt it."""
        with self.env.registry.cursor() as cr:
            Callback = self.env(cr=cr, su=True)["mpesa.callback"]
            return Callback._stk_store_request(vals).id

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
            orphan._process_stk(parse_callback(payload, "stk"), payload, "token_url", reprocess=True)
        return orphan

    # ================================================================== STK status

    @api.model
    def _stk_row_for_request(self, checkout_request_id):
        """The user's STK row for the CheckoutRequestID the till sent."""
        if not isinstance(checkout_request_id, str) or not checkout_request_id.strip():
            raise MpesaRequestError(self.env._("checkout_request_id is required"))
        row = self._get_row_for_user(
            [("checkout_request_id", "=", checkout_request_id.strip()), ("callback_type", "=", "stk")]
        )
        if not row:
            raise MpesaRequestError(self.env._("Unknown CheckoutRequestID"))
        return row

    @api.model
    def _pos_check_status(self, checkout_request_id=None):
        row = self._stk_row_for_request(checkout_request_id)
        if row.status == "pending":
            row._refresh_by_query()
        if (
            row.status == "pending"
            and row.request_date
            and fields.Datetime.now() - row.request_date >= timedelta(seconds=STK_WAIT_SECONDS)
        ):
            # the till gives up; a result arriving later is still stored and offered by the C2B search
            row.write({"stk_abandoned": True})
            return {
                "success": True,
                "status": "failed",
                "reason": "timeout",
                "message": self._mpesa_message("timeout"),
                "result_code": None,
                "receipt_number": None,
                "callback_id": row.id,
            }
        answer = row._answer_for_row()
        if row.status == "success" and not row._claim_for_stk():
            answer.update(status="error", message=str(MSG_ALREADY) + self.env._(" by another till"))
        return answer

    def _answer_for_row(self):
        """check_status answer for this row (Contract C)."""
        self.ensure_one()
        reason = self.reason or ("paid" if self.status == "success" else "unknown")
        if self.status == "pending":
            reason = "pending"
        message = self._mpesa_message(reason)
        if self.status == "needs_review":
            message = self._mpesa_message("unknown")
        return {
            "success": True,
            "status": ANSWER_STATUS[self.status],
            "message": message,
            "reason": reason,
            "result_code": self.result_code or None,
            "receipt_number": self.mpesa_receipt_number or None,
            "callback_id": self.id,
        }

    def _claim_for_stk(self):
        """The till that pushed takes its own successful payment (unless someone else already did)."""
        self.ensure_one()
        self.flush_model()
        self.env.cr.execute(
            """UPDATE mpesa_callback
                  SET is_reconciled = TRUE, reconciled_date = now() at time zone 'UTC',
                      reconciled_by_id = %s, pos_order_ref = COALESCE(pos_order_ref, order_reference),
                      stk_abandoned = FALSE
                WHERE id = %s AND status = 'success' AND is_reconciled IS NOT TRUE
            RETURNING id""",
            (self.env.uid, self.id),
        )
        claimed = bool(self.env.cr.fetchone())
        self.invalidate_recordset()
        if claimed:
            return True
        # already ours: claimed by this check_status earlier, or linked to an order of this till
        return self.is_reconciled and (
            self.pos_order_ref == self.order_reference
            or self.reconciled_by_id.id == self.env.uid
            or (self.pos_order_id and self.pos_order_id.config_id == self.pos_config_id)
        )

    def _refresh_by_query(self, force=False):
        """Ask Daraja's STK query for a pending row, at most every STK_QUERY_INTERVAL seconds."""
        self.ensure_one()
        now = fields.Datetime.now()
        if (
            not force
            and self.last_query_date
            and (now - self.last_query_date).total_seconds() < STK_QUERY_INTERVAL
        ):
            return
        if (
            not force
            and not self.pending_callback
            and self.request_date
            and (now - self.request_date).total_seconds() < STK_FIRST_QUERY_AFTER
        ):
            return
        if not self._lock_row(nowait=True):
            return  # another worker is querying (or storing the callback) right now
        if self.status != "pending" or not self.config_id:
            return
        if (
            not force
            and self.last_query_date
            and (now - self.last_query_date).total_seconds() < STK_QUERY_INTERVAL
        ):
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
        info = result.result
        status = status_value(info.status)
        if status == "pending":
            return
        self.sudo()._apply_query_result(info, result.raw)

    def _apply_query_result(self, info, raw):
        status = status_value(info.status)
        vals = {
            "result_code": info.code,
            "result_desc": (raw or {}).get("ResultDesc") or info.message,
            "reason": info.reason,
            "confirmed_by_query": True,
        }
        if status == "success":
            vals.update(status="success", amount=self.requested_amount)
            if self.pending_callback:
                # a success callback was waiting for this confirmation: take its receipt and amount
                callback = parse_callback(self.pending_callback, "stk")
                self._complete_stk_success(callback, vals)
                vals = None
        elif status in ("failed", "cancelled", "timeout"):
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
        if vals:
            self.write(vals)
        self._notify_till()

    @api.model
    def _pos_cancel_stk(self, checkout_request_id=None):
        row = self._stk_row_for_request(checkout_request_id)
        row._lock_row()
        vals = {"stk_abandoned": True}
        if row.is_reconciled and not row.pos_payment_id and row.pos_order_ref == row.order_reference:
            # the till had taken it but dropped the payment line: make it matchable again
            vals.update(
                is_reconciled=False, reconciled_date=False, reconciled_by_id=False, pos_order_ref=False
            )
        row.sudo().write(vals)
        return {
            "success": True,
            "message": self.env._(
                "Payment request abandoned. If the customer pays anyway, "
                "the payment can be matched with the C2B search."
            ),
            "status": ANSWER_STATUS[row.status],
        }

    # ================================================================== C2B search and reconcile

    @api.model
    def _pos_search_unreconciled(
        self, amount=None, max_age_minutes=None, payment_method_id=None, pos_config_id=None
    ):
        try:
            amount_dec = to_decimal(amount)
        except (InvalidOperation, ValueError, TypeError):
            raise MpesaRequestError(self.env._("Invalid amount")) from None
        if not amount_dec.is_finite() or amount_dec <= 0:
            raise MpesaRequestError(self.env._("Invalid amount"))
        _method, config = self._config_for_payment_method(payment_method_id, pos_config_id)
        if _missing(max_age_minutes):
            window = config.match_window
        elif isinstance(max_age_minutes, bool) or not isinstance(max_age_minutes, (int, float)):
            raise MpesaRequestError(self.env._("max_age_minutes must be a number of minutes"))
        else:
            window = max_age_minutes
        if not 0 < window <= 1440:
            raise MpesaRequestError(self.env._("max_age_minutes must be between 1 and 1440"))
        now = fields.Datetime.now()
        since = now - timedelta(minutes=window)
        stk_given_up = now - timedelta(seconds=STK_WAIT_SECONDS)
        shortcode = config._get_c2b_shortcode()
        # every account of the company that receives on the same shortcode
        configs = (
            self.env["mpesa.config"]
            .sudo()
            .search([("company_id", "=", config.company_id.id)])
            .filtered(lambda c: c._get_c2b_shortcode() == shortcode)
        )
        domain = Domain.AND(
            [
                [
                    ("status", "=", "success"),
                    ("is_reconciled", "=", False),
                    ("duplicate_of_id", "=", False),
                    ("amount", "=", float(amount_dec)),
                    ("company_id", "=", config.company_id.id),
                    ("config_id", "in", configs.ids),
                    ("received_date", ">=", since),
                ],
                Domain.OR(
                    [
                        [("callback_type", "=", "c2b")],
                        [
                            ("callback_type", "=", "stk"),
                            "|",
                            ("stk_abandoned", "=", True),
                            ("request_date", "<=", stk_given_up),
                        ],
                    ]
                ),
            ]
        )
        rows = self.sudo().search(domain, order="received_date desc, id desc", limit=MAX_SEARCH_RESULTS)
        callbacks = [row._search_result() for row in rows]
        return {"success": True, "count": len(callbacks), "callbacks": callbacks}

    def _search_result(self):
        self.ensure_one()
        when = self.transaction_date or self.received_date
        return {
            "id": self.id,
            "trans_id": self.mpesa_receipt_number or "",
            "mpesa_receipt_number": self.mpesa_receipt_number or "",
            "phone_number": self.phone_number or "",
            "customer_name": self.customer_name or "",
            "amount": float(self.amount),
            "transaction_date": nairobi_timestamp(when.replace(tzinfo=timezone.utc)),
            "create_date": fields.Datetime.to_string(self.received_date),
            "type": self.callback_type,
            "bill_ref_number": self.bill_ref_number or "",
        }

    @api.model
    def _pos_reconcile(self, callback_id=None, order_id=None, payment_method_id=None, pos_config_id=None):
        if isinstance(callback_id, bool) or not isinstance(callback_id, int):
            raise MpesaRequestError(self.env._("callback_id must be an integer"))
        order, order_ref = self._resolve_order(order_id)
        row = self._get_row_for_user([("id", "=", callback_id)])
        if not row:
            raise MpesaRequestError(self.env._("Unknown callback"))
        if not _missing(payment_method_id):
            _method, config = self._config_for_payment_method(payment_method_id, pos_config_id)
            if (
                row.config_id.company_id != config.company_id
                or row.config_id._get_c2b_shortcode() != config._get_c2b_shortcode()
            ):
                raise MpesaRequestError(self.env._("This payment was made to another M-Pesa account"))
        if row.status != "success" or row.duplicate_of_id:
            raise MpesaRequestError(self.env._("Only successful payments can be reconciled"))
        if (
            row.callback_type == "stk"
            and not row.stk_abandoned
            and row.request_date
            and fields.Datetime.now() - row.request_date < timedelta(seconds=STK_WAIT_SECONDS)
            and row.pos_order_ref != order_ref
        ):
            raise MpesaRequestError(str(MSG_ALREADY))
        # one UPDATE decides: the first till wins; a concurrent one waits or gets nothing back
        if not row._lock_row(nowait=True):
            raise MpesaRequestError(str(MSG_ALREADY) + self.env._(" (another till is taking it)"))
        self.flush_model()
        self.env.cr.execute(
            """UPDATE mpesa_callback
                  SET is_reconciled = TRUE, reconciled_date = now() at time zone 'UTC', reconciled_by_id = %s,
                      pos_order_ref = %s, pos_order_id = %s, pos_config_id = COALESCE(%s, pos_config_id)
                WHERE id = %s AND status = 'success' AND is_reconciled IS NOT TRUE
            RETURNING id""",
            (self.env.uid, order_ref, order.id or None, order.config_id.id or None, row.id),
        )
        if not self.env.cr.fetchone():
            raise MpesaRequestError(str(MSG_ALREADY))
        row.invalidate_recordset()
        return {
            "success": True,
            "message": str(MSG_RECONCILED),
            "receipt_number": row.mpesa_receipt_number or "",
        }

    @api.model
    def _resolve_order(self, order_id):
        """order_id: the order's server id, or its uuid when the till has not synced it yet."""
        Order = self.env["pos.order"].sudo()
        if isinstance(order_id, int) and not isinstance(order_id, bool):
            order = Order.browse(order_id).exists()
            if not order or order.company_id not in self.env.user.company_ids:
                raise MpesaRequestError(self.env._("Unknown order"))
            return order, order.uuid or str(order.id)
        if isinstance(order_id, str) and UUID_RE.match(order_id.strip()):
            ref = order_id.strip().lower()
            order = Order.search(
                [("uuid", "=", ref), ("company_id", "in", self.env.user.company_ids.ids)], limit=1
            )
            return order, ref
        if isinstance(order_id, str) and order_id.strip().isdigit():
            return self._resolve_order(int(order_id.strip()))
        raise MpesaRequestError(self.env._("order_id must be the order's id or uuid"))

    # ================================================================== bus notifications

    def _bus_status_payload(self):
        self.ensure_one()
        answer = self._answer_for_row()
        return {
            "checkout_request_id": self.checkout_request_id,
            "status": answer["status"],
            "reason": answer["reason"],
            "message": answer["message"],
            "receipt_number": answer["receipt_number"],
            "callback_id": self.id,
        }

    def _notify_till(self):
        """Push an STK result to the till that sent the push."""
        for row in self.filtered(lambda r: r.callback_type == "stk" and r.pos_config_id):
            row.pos_config_id.sudo()._notify("MPESA_PAYMENT_STATUS", row._bus_status_payload())

    def _notify_c2b(self):
        """Tell every open till using this account that a C2B payment arrived."""
        for row in self.filtered(
            lambda r: r.callback_type == "c2b" and r.status == "success" and r.config_id
        ):
            sessions = (
                self.env["pos.session"]
                .sudo()
                .search(
                    [
                        ("state", "in", ("opening_control", "opened")),
                        ("config_id.payment_method_ids.mpesa_config_id", "=", row.config_id.id),
                    ]
                )
            )
            for pos_config in sessions.config_id:
                pos_config._notify(
                    "MPESA_C2B_RECEIVED",
                    {
                        "callback_id": row.id,
                        "amount": row.amount,
                        "mpesa_config_id": row.config_id.id,
                    },
                )
