"""What the till asks (controllers/main.py): every parameter checked, every row checked to be the
asking till's, then handed to its domain (mpesa_stk.py, mpesa_c2b.py, mpesa_claim.py, mpesa_reversal.py).

Every refusal becomes {"success": false, "message": ...} for the cashier.
"""

import re
from decimal import Decimal, InvalidOperation

from odoo import _lt, api, models
from odoo.exceptions import UserError
from odoo.fields import Domain

from ..daraja import DarajaError, DarajaValidationError, normalize_phone, validate_amount
from .mpesa_claim import MSG_OTHER_ACCOUNT
from .mpesa_reversal import REFUND_GROUP
from .mpesa_stk import MSG_ALREADY
from .mpesa_utils import MANAGER_GROUP, to_decimal

# an M-Pesa receipt as the customer's SMS shows it: 10 letters and digits, at least one of each
RECEIPT_RE = re.compile(r"^(?=.*[A-Za-z])(?=.*[0-9])[A-Za-z0-9]{8,12}$")
MAX_SEVERAL = 10  # payments one order may take at once
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
READ_ONLY_REQUESTS = {"_pos_search_claimable"}  # run without a savepoint: they write nothing
MSG_NOT_CONFIGURED = _lt("M-Pesa not configured")
MSG_CLAIMED = _lt("Callback reconciled successfully")
MSG_ACCESS = _lt("Access denied: you must be a Point of Sale user")
MSG_METHOD_NOT_ON_TILL = _lt("This payment method is not used by this point of sale")
MSG_NUL = _lt("A request parameter contains a NUL character")
MSG_NOT_REFUNDER = _lt(
    "Only users of the group M-Pesa Refunds can send money back on M-Pesa: refund another way, "
    "or ask a manager."
)


class MpesaRequestError(Exception):
    """A POS request refused with a message for the cashier (becomes {"success": false})."""


def _missing(value):
    """JSON null / false / "" mean "not given" (0 is a value)."""
    return value is None or value is False or value == ""


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _has_nul(value):
    """PostgreSQL refuses NUL in text: a parameter holding one is refused before any query."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(item) for item in value)
    return False


class MpesaCallback(models.Model):
    _inherit = "mpesa.callback"

    # ================================================================== plumbing

    @api.model
    def _run_pos_request(self, method_name, *args, **kwargs):
        """Run a POS endpoint; every refusal becomes {"success": false, "message": ...}."""
        try:
            if not self.env.su and not self.env.user.has_group("point_of_sale.group_pos_user"):
                raise MpesaRequestError(str(MSG_ACCESS))
            if _has_nul(args) or _has_nul(kwargs):
                raise MpesaRequestError(str(MSG_NUL))
            if method_name in READ_ONLY_REQUESTS:
                return getattr(self, method_name)(*args, **kwargs)  # nothing to roll back
            with self.env.cr.savepoint():
                return getattr(self, method_name)(*args, **kwargs)
        except MpesaRequestError as error:
            return {"success": False, "message": str(error)}
        except DarajaValidationError as error:
            return {"success": False, "message": error.message}
        except UserError as error:
            return {"success": False, "message": error.args[0] if error.args else str(error)}

    @api.model
    def _user_company_ids(self):
        """The asking user's companies (cached by Odoo per user: no query per request)."""
        return list(self.env.user._get_company_ids())

    @api.model
    def _config_for_payment_method(self, payment_method_id, pos_config_id=None):
        """The M-Pesa account the till uses: its payment method, else the company default.
        Read from per-worker caches (pos.payment.method._mpesa_method_facts, mpesa.config._till_facts):
        a till's request costs no query to find its account."""
        PaymentMethod = self.env["pos.payment.method"]
        method = PaymentMethod
        config = self.env["mpesa.config"]
        if not _missing(payment_method_id):
            if not _is_int(payment_method_id):
                raise MpesaRequestError(self.env._("payment_method_id must be an integer"))
            PaymentMethod.check_access("read")
            facts = PaymentMethod._mpesa_method_facts(payment_method_id)
            # the record rule of payment methods: one of the companies this request works in
            if not facts or facts[0] not in self.env.companies.ids:
                raise MpesaRequestError(self.env._("Unknown payment method"))
            if not facts[1]:
                raise MpesaRequestError(self.env._("This payment method is not an M-Pesa payment method"))
            method = PaymentMethod.browse(payment_method_id)
            config = config.sudo().browse(facts[2])
        elif not _missing(pos_config_id):
            pos_config = self._pos_config_for_request(pos_config_id)
            method = pos_config.payment_method_ids.filtered(lambda m: m.use_payment_terminal == "mpesa")[:1]
            config = method.sudo().mpesa_config_id
        if not method:
            config = self.env.company.sudo().mpesa_config_id
        usable, company_id, _window = config._till_facts() if config else (False, None, None)
        if not usable:
            raise MpesaRequestError(str(MSG_NOT_CONFIGURED))
        if company_id not in self._user_company_ids():
            raise MpesaRequestError(self.env._("This M-Pesa account belongs to another company"))
        return method, config

    @api.model
    def _pos_config_for_request(self, pos_config_id):
        """The till's point of sale from the request; empty when not given."""
        if _missing(pos_config_id):
            return self.env["pos.config"]
        if not _is_int(pos_config_id):
            raise MpesaRequestError(self.env._("pos_config_id must be an integer"))
        pos_config = self.env["pos.config"].browse(pos_config_id).exists()
        if not pos_config:
            raise MpesaRequestError(self.env._("Unknown point of sale"))
        pos_config.check_access("read")
        return pos_config

    @api.model
    def _order_key_param(self, order_uuid, name="order_uuid"):
        if _missing(order_uuid):
            return None
        if not isinstance(order_uuid, str) or not UUID_RE.match(order_uuid.strip()):
            raise MpesaRequestError(self.env._("%(name)s must be the order's uuid", name=name))
        return order_uuid.strip().lower()

    @api.model
    def _stk_row_for_till(self, checkout_request_id, pos_config_id=None, order_uuid=None):
        """The STK row, only for the till that pushed it (its user or its session's) or a manager,
        and only for the order it was pushed for."""
        if not isinstance(checkout_request_id, str) or not checkout_request_id.strip():
            raise MpesaRequestError(self.env._("checkout_request_id is required"))
        row = self.sudo().search(
            [
                ("checkout_request_id", "=", checkout_request_id.strip()),
                ("callback_type", "=", "stk"),
                ("company_id", "in", self._user_company_ids()),
            ],
            limit=1,
        )
        if not row:
            raise MpesaRequestError(self.env._("Unknown CheckoutRequestID"))
        pos_config = self._pos_config_for_request(pos_config_id)
        order_key = self._order_key_param(order_uuid)
        if not self.env.user.has_group(MANAGER_GROUP):
            till = row.pos_config_id
            session_user = till.current_session_id.user_id if till else self.env["res.users"]
            if till and pos_config and pos_config != till:
                raise MpesaRequestError(self.env._("This payment request belongs to another till"))
            if self.env.user not in (row.user_id | session_user):
                raise MpesaRequestError(self.env._("This payment request belongs to another till"))
        if order_key and row.order_key and order_key != row.order_key.lower():
            raise MpesaRequestError(self.env._("This payment request was sent for another order"))
        return row

    # ================================================================== STK

    @api.model
    def _pos_stk_push(
        self,
        phone_number=None,
        amount=None,
        order_reference=None,
        payment_method_id=None,
        pos_config_id=None,
        order_uuid=None,
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
        order_key = self._order_key_param(order_uuid)
        method, config = self._config_for_payment_method(payment_method_id, pos_config_id)
        pos_config = self._pos_config_for_request(pos_config_id)
        if method and pos_config and method not in pos_config.payment_method_ids:
            raise MpesaRequestError(str(MSG_METHOD_NOT_ON_TILL))
        return self.sudo()._stk_push(config, phone, amount_int, reference, order_key, pos_config, method)

    @api.model
    def _pos_check_status(self, checkout_request_id=None, pos_config_id=None, order_uuid=None):
        return self._stk_row_for_till(checkout_request_id, pos_config_id, order_uuid)._stk_status_for_till()

    @api.model
    def _pos_cancel_stk(self, checkout_request_id=None, pos_config_id=None, order_uuid=None):
        return self._stk_row_for_till(checkout_request_id, pos_config_id, order_uuid)._stk_cancel_by_till()

    # ================================================================== C2B

    @api.model
    def _pos_search_claimable(
        self, amount=None, max_age_minutes=None, payment_method_id=None, pos_config_id=None, query=None
    ):
        """Claimable payments of the till's accounts: of exactly ``amount`` (absent: any amount) within
        the window, narrowed by ``query`` (a payer's name or phone digits); or, when ``query`` is a
        receipt code, that payment whenever it came, asked of M-Pesa when we never heard of it."""
        amount_dec = None if _missing(amount) else self._amount_param(amount)
        text = self._query_param(query)
        _method, config = self._config_for_payment_method(payment_method_id, pos_config_id)
        if text and RECEIPT_RE.match(text):
            return self._search_receipt(config, text.upper())
        if _missing(max_age_minutes):
            window = config._till_facts()[2]
        elif isinstance(max_age_minutes, bool) or not isinstance(max_age_minutes, (int, float)):
            raise MpesaRequestError(self.env._("max_age_minutes must be a number of minutes"))
        else:
            window = max_age_minutes
        if not 0 < window <= 1440:
            raise MpesaRequestError(self.env._("max_age_minutes must be between 1 and 1440"))
        callbacks = self._c2b_search(config, amount_dec, window, text)
        return {"success": True, "count": len(callbacks), "callbacks": callbacks}

    @api.model
    def _search_receipt(self, config, receipt):
        callbacks = self._c2b_search_receipt(config, receipt)
        if callbacks:
            return {"success": True, "count": len(callbacks), "callbacks": callbacks}
        known = self.sudo().search_count([("mpesa_receipt_number", "=", receipt)], limit=1)
        if known:
            raise MpesaRequestError(
                self.env._(
                    "M-Pesa payment %(receipt)s was already taken, or is not a payment to this till.",
                    receipt=receipt,
                )
            )
        try:
            _row, request_id = config.sudo()._lookup_receipt(receipt)
        except UserError:  # the account has no initiator: M-Pesa cannot be asked
            raise MpesaRequestError(
                self.env._("No M-Pesa payment %(receipt)s has reached Odoo.", receipt=receipt)
            ) from None
        except DarajaError as error:
            raise MpesaRequestError(
                self.env._(
                    "Cannot ask M-Pesa about %(receipt)s: %(error)s", receipt=receipt, error=error.message
                )
            ) from None
        return {
            "success": True,
            "count": 0,
            "callbacks": [],
            "lookup_id": request_id,
            "message": self.env._(
                "Asking M-Pesa about %(receipt)s: its answer comes in a few seconds.", receipt=receipt
            ),
        }

    @api.model
    def _pos_lookup_status(self, lookup_id=None, payment_method_id=None, pos_config_id=None):
        """Where the till's receipt lookup stands; a payment it found is offered if still claimable."""
        if not _is_int(lookup_id):
            raise MpesaRequestError(self.env._("lookup_id must be an integer"))
        _method, config = self._config_for_payment_method(payment_method_id, pos_config_id)
        request = self.env["mpesa.daraja.request"].sudo().browse(lookup_id).exists()
        if request.kind != "status" or request.config_id not in self._c2b_search_accounts(config):
            raise MpesaRequestError(self.env._("Unknown lookup"))
        answer = {
            "success": True,
            "status": "pending",
            "count": 0,
            "callbacks": [],
            "receipt": request.receipt,
        }
        if request.state in ("sending", "sent"):
            answer["message"] = self.env._("Waiting for M-Pesa's answer.")
        elif request.outcome == "found":
            answer["callbacks"] = self._c2b_search_receipt(config, request.receipt)
            answer.update(status="found", count=len(answer["callbacks"]))
            if not answer["callbacks"]:
                answer["message"] = self.env._(
                    "Payment %(receipt)s was already taken.", receipt=request.receipt
                )
        elif request.outcome == "not_ours":
            answer.update(
                status="not_ours",
                message=self.env._("%(receipt)s was paid to another shortcode.", receipt=request.receipt),
            )
        elif request.outcome == "not_found":
            answer.update(
                status="not_found",
                message=self.env._("M-Pesa has no payment %(receipt)s.", receipt=request.receipt),
            )
        else:
            answer.update(
                status="failed",
                message=self.env._(
                    "M-Pesa could not answer about %(receipt)s: %(reason)s",
                    receipt=request.receipt,
                    reason=request.result_desc or request.state,
                ),
            )
        return answer

    @api.model
    def _amount_param(self, amount):
        try:
            amount_dec = to_decimal(amount)
        except (InvalidOperation, ValueError, TypeError):
            raise MpesaRequestError(self.env._("Invalid amount")) from None
        if not amount_dec.is_finite() or amount_dec <= 0 or amount_dec > 10**12:
            raise MpesaRequestError(self.env._("Invalid amount"))
        return amount_dec

    @api.model
    def _query_param(self, query):
        """The search box: a receipt code, phone digits or a name (spaces in a code or number ignored)."""
        if _missing(query):
            return ""
        if not isinstance(query, str) or len(query) > 64:
            raise MpesaRequestError(self.env._("query must be a text of at most 64 characters"))
        text = " ".join(query.split())
        compact = text.replace(" ", "")
        if compact.isdigit() or RECEIPT_RE.match(compact):
            return compact
        if len(text) < 2:
            raise MpesaRequestError(self.env._("Type at least 2 characters"))
        return text

    @api.model
    def _pos_claim(self, callback_id=None, order_id=None, payment_method_id=None, pos_config_id=None):
        if not _is_int(callback_id):
            raise MpesaRequestError(self.env._("callback_id must be an integer"))
        row = self._claim_for_till(
            self._claim_rows([callback_id]), order_id, payment_method_id, pos_config_id
        )
        return {
            "success": True,
            "message": str(MSG_CLAIMED),
            "receipt_number": row.mpesa_receipt_number or "",
        }

    @api.model
    def _pos_claim_several(
        self, callback_ids=None, amount=None, order_id=None, payment_method_id=None, pos_config_id=None
    ):
        """Several payments for one order, summing to ``amount`` exactly: all are claimed, or none."""
        if (
            not isinstance(callback_ids, list)
            or not 1 <= len(callback_ids) <= MAX_SEVERAL
            or not all(_is_int(callback_id) for callback_id in callback_ids)
            or len(set(callback_ids)) != len(callback_ids)
        ):
            raise MpesaRequestError(
                self.env._("callback_ids must list 1 to %(max)s different payments", max=MAX_SEVERAL)
            )
        amount_dec = self._amount_param(amount)
        rows = self._claim_rows(callback_ids)
        total = sum((to_decimal(round(row.amount, 2)) for row in rows), Decimal(0))
        if total != amount_dec:
            raise MpesaRequestError(
                self.env._(
                    "These payments add up to %(total)s, not %(amount)s: tick payments whose sum is "
                    "the amount.",
                    total=total,
                    amount=amount_dec,
                )
            )
        rows = self._claim_for_till(rows, order_id, payment_method_id, pos_config_id)
        return {
            "success": True,
            "message": str(MSG_CLAIMED),
            "payments": [
                {
                    "callback_id": row.id,
                    "receipt_number": row.mpesa_receipt_number or "",
                    "amount": row.amount,
                    "phone_number": row.phone_number or "",
                }
                for row in rows
            ],
        }

    @api.model
    def _claim_rows(self, callback_ids):
        rows = self.sudo().search(
            [("id", "in", callback_ids), ("company_id", "in", self._user_company_ids())]
        )
        if len(rows) != len(callback_ids):
            raise MpesaRequestError(self.env._("Unknown callback"))
        return rows

    @api.model
    def _claim_for_till(self, rows, order_id, payment_method_id, pos_config_id):
        """Claim these payments for one order, each checked as the till's own; any refusal undoes the
        others (the request's savepoint, _run_pos_request). Returns the rows, in claim order."""
        order, order_key = self._resolve_order(order_id)
        method = self.env["pos.payment.method"]
        if not (_missing(payment_method_id) and _missing(pos_config_id)):
            # the till's account: only payments its own search offers (never a test sibling's)
            method, config = self._config_for_payment_method(payment_method_id, pos_config_id)
            if rows.config_id - self._c2b_search_accounts(config):
                raise MpesaRequestError(str(MSG_OTHER_ACCOUNT))
        if not all(row._is_live_payment() for row in rows):
            raise MpesaRequestError(self.env._("Only successful payments can be claimed"))
        if any(row._claim_reserved_for_pusher() and row._stk_order_key() != order_key for row in rows):
            raise MpesaRequestError(str(MSG_ALREADY))
        # an order on the server claims for its own till, whatever the caller names
        pos_config = order.config_id or self._pos_config_for_request(pos_config_id)
        if method and pos_config and method not in pos_config.payment_method_ids:
            raise MpesaRequestError(str(MSG_METHOD_NOT_ON_TILL))
        rows = rows.sorted("id")  # one lock order: two tills ticking the same payments never deadlock
        for row in rows:
            if not row._claim(order_key, pos_config=pos_config, order=order or None, payment_method=method):
                raise MpesaRequestError(str(MSG_ALREADY))
        return rows

    # ================================================================== pay-to-account codes, Dynamic QR

    @api.model
    def _pos_account_code(
        self, amount=None, order_uuid=None, payment_method_id=None, pos_config_id=None, qr=False
    ):
        """A code naming this order for a payment of exactly ``amount`` (the paybill's account number,
        or the reference of a Dynamic QR, ``qr``); its payment is claimed the moment it arrives."""
        if isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
            raise MpesaRequestError(self.env._("Invalid amount: whole shillings only"))
        amount_int = validate_amount(amount)
        order_key = self._order_key_param(order_uuid)
        if not order_key:
            raise MpesaRequestError(self.env._("order_uuid is required"))
        if not isinstance(qr, bool):
            raise MpesaRequestError(self.env._("qr must be true or false"))
        method, config = self._config_for_payment_method(payment_method_id, pos_config_id)
        pos_config = self._pos_config_for_request(pos_config_id)
        if config.account_type == "till" and not qr:
            raise MpesaRequestError(
                self.env._("A till number takes no account number: show the Dynamic QR, or send an STK push.")
            )
        code = (
            self.env["mpesa.account.code"]
            .sudo()
            ._issue(config.sudo(), pos_config, method, order_key, Decimal(amount_int), qr=qr)
        )
        answer = code._till_answer()
        if qr:
            try:
                answer["qr_image"] = (
                    config.sudo()
                    ._get_daraja_client()
                    .dynamic_qr(amount_int, code.code, config.company_id.name)
                )
            except DarajaError as error:
                raise MpesaRequestError(
                    self.env._("M-Pesa gave no QR code: %(error)s", error=config._format_daraja_error(error))
                ) from None
        return answer

    @api.model
    def _account_code_for_till(self, code_id, pos_config_id):
        if not _is_int(code_id):
            raise MpesaRequestError(self.env._("code_id must be an integer"))
        code = self.env["mpesa.account.code"].sudo().browse(code_id).exists()
        pos_config = self._pos_config_for_request(pos_config_id)
        mine = code.user_id == self.env.user or (pos_config and code.pos_config_id == pos_config)
        if not code or not (mine or self.env.user.has_group(MANAGER_GROUP)):
            raise MpesaRequestError(self.env._("Unknown code"))
        return code

    @api.model
    def _pos_account_code_status(self, code_id=None, pos_config_id=None):
        return self._account_code_for_till(code_id, pos_config_id)._till_answer()

    @api.model
    def _pos_account_code_cancel(self, code_id=None, pos_config_id=None):
        """The till stops waiting; a payment that already came stays the order's (answered "paid")."""
        code = self._account_code_for_till(code_id, pos_config_id)
        self.env.cr.execute("SELECT id FROM mpesa_account_code WHERE id = %s FOR UPDATE", (code.id,))
        code.invalidate_recordset()
        if code.state == "waiting":
            code.write({"state": "cancelled"})
        return code._till_answer()

    # ================================================================== refunds by Reversal

    @api.model
    def _pos_reverse(self, order_id=None, amount=None, pos_config_id=None, refund_order_uuid=None):
        """Reverse on M-Pesa the payment of the refunded order ``order_id`` of exactly ``amount``."""
        if not self.env.user.has_group(REFUND_GROUP):
            raise MpesaRequestError(str(MSG_NOT_REFUNDER))
        if not _is_int(order_id):
            raise MpesaRequestError(self.env._("order_id must be the refunded order's id"))
        order, _key = self._resolve_order(order_id)
        if isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
            raise MpesaRequestError(self.env._("Invalid amount: whole shillings only"))
        amount_int = validate_amount(amount)
        pos_config = self._pos_config_for_request(pos_config_id)
        refund_key = self._order_key_param(refund_order_uuid, "refund_order_uuid")
        return self.sudo()._reversal_start(order, Decimal(amount_int), pos_config, refund_key)

    @api.model
    def _pos_reversal_status(self, reversal_id=None, pos_config_id=None):
        """Where a reversal stands, for the user or till that asked for it (or a manager)."""
        if not _is_int(reversal_id):
            raise MpesaRequestError(self.env._("reversal_id must be an integer"))
        request = self.env["mpesa.daraja.request"].sudo().browse(reversal_id).exists()
        pos_config = self._pos_config_for_request(pos_config_id)
        mine = request.user_id == self.env.user or (pos_config and request.pos_config_id == pos_config)
        if request.kind != "reversal" or not (mine or self.env.user.has_group(MANAGER_GROUP)):
            raise MpesaRequestError(self.env._("Unknown reversal"))
        return request._reversal_answer()

    @api.model
    def _resolve_order(self, order_id):
        """order_id: the order's server id, or its uuid when the till has not synced it yet."""
        Order = self.env["pos.order"].sudo()
        if _is_int(order_id):
            order = Order.browse(order_id).exists()
            if not order or order.company_id.id not in self._user_company_ids():
                raise MpesaRequestError(self.env._("Unknown order"))
            return order, order.uuid or str(order.id)
        if isinstance(order_id, str) and UUID_RE.match(order_id.strip()):
            ref = order_id.strip().lower()
            order = Order.search(
                Domain.AND([[("uuid", "=", ref)], [("company_id", "in", self._user_company_ids())]]),
                limit=1,
            )
            return order, ref
        if isinstance(order_id, str) and order_id.strip().isdigit() and len(order_id.strip()) < 12:
            return self._resolve_order(int(order_id.strip()))
        raise MpesaRequestError(self.env._("order_id must be the order's id or uuid"))
