"""Pay-to-account codes: a payment that names its order, claimed the moment it arrives.

The till shows "Pay to paybill 600984, account K7Q2M" (or a Dynamic QR whose reference is that code);
the C2B confirmation that carries the code as its account number (BillRefNumber, case and spaces
ignored) and exactly the amount asked is claimed for that order at once (mpesa_claim.py): no search,
no popup, and the till is told on the bus (MPESA_CODE_PAID). The right code with another amount is told
to the till (MPESA_CODE_MISMATCH) and never claimed: the cashier decides.

A code is 5 characters of an alphabet without look-alikes (no 0/O, 1/I/L, 2/Z, 5/S, 8/B), unique among
the waiting codes of its shortcode (a unique index). It waits until paid, cancelled by the till, or a
day old. A Buy Goods payment (a till number) carries no account number: a Dynamic QR of a till is
matched by its exact amount instead, and only when it is the one QR of that amount waiting on the till
(docs/daraja.md, "Dynamic QR").
"""

import logging
import re
import secrets
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL, float_compare, mute_logger
from psycopg2 import errors as pg_errors

_logger = logging.getLogger(__name__)

ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 5
CODE_LIFETIME = timedelta(days=1)
CODE_RE = re.compile(rf"^[{ALPHABET}]{{{CODE_LENGTH}}}$")


def normalize_code(text):
    """'k7q 2m' -> 'K7Q2M'; '' when it cannot be a code."""
    code = re.sub(r"\s+", "", text or "").upper()
    return code if CODE_RE.match(code) else ""


class MpesaAccountCode(models.Model):
    _name = "mpesa.account.code"
    _description = "M-Pesa Pay-to-Account Code"
    _order = "id desc"
    _rec_name = "code"

    code = fields.Char(required=True, readonly=True)
    shortcode = fields.Char(required=True, readonly=True, help="The C2B shortcode the customer pays.")
    qr = fields.Boolean(string="Dynamic QR", readonly=True)
    state = fields.Selection(
        [("waiting", "Waiting"), ("paid", "Paid"), ("cancelled", "Cancelled"), ("expired", "Expired")],
        required=True,
        default="waiting",
        readonly=True,
        index=True,
    )
    config_id = fields.Many2one("mpesa.config", string="M-Pesa Account", required=True, readonly=True)
    company_id = fields.Many2one(related="config_id.company_id", store=True)
    pos_config_id = fields.Many2one("pos.config", string="Point of Sale", readonly=True)
    payment_method_id = fields.Many2one("pos.payment.method", readonly=True)
    user_id = fields.Many2one("res.users", string="Cashier", required=True, readonly=True)
    order_key = fields.Char(required=True, readonly=True, help="The order (its uuid) the code names.")
    currency_id = fields.Many2one(
        "res.currency", required=True, readonly=True, default=lambda self: self.env.ref("base.KES")
    )
    amount = fields.Monetary(required=True, readonly=True)
    callback_id = fields.Many2one("mpesa.callback", string="Paid By", readonly=True)
    note = fields.Char(readonly=True)

    _code_waiting_uniq = models.UniqueIndex(
        "(shortcode, code) WHERE state = 'waiting'", "This code is already waiting for a payment."
    )

    # ================================================================== the till asks

    @api.model
    def _issue(self, config, pos_config, method, order_key, amount, qr=False):
        """The waiting code of this order and amount, or a new one (an earlier code of the order for
        another amount is cancelled)."""
        shortcode = config._get_c2b_shortcode()
        mine = self.search(
            [("state", "=", "waiting"), ("order_key", "=", order_key), ("config_id", "=", config.id)]
        )
        same = mine.filtered(
            lambda c: not c.currency_id.compare_amounts(c.amount, float(amount)) and c.qr == qr
        )
        if same:
            return same[0]
        (mine - same).write({"state": "cancelled", "note": "Replaced by a new code of the order"})
        self._expire(shortcode)
        for _attempt in range(20):
            try:
                with self.env.cr.savepoint(), mute_logger("odoo.sql_db"):
                    return self.create(
                        {
                            "code": "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH)),
                            "shortcode": shortcode,
                            "qr": qr,
                            "config_id": config.id,
                            "pos_config_id": pos_config.id or False,
                            "payment_method_id": method.id or False,
                            "user_id": self.env.uid,
                            "order_key": order_key,
                            "amount": float(amount),
                        }
                    )
            except pg_errors.UniqueViolation:
                continue  # 25**5 codes: a clash is rare, and the next draw almost surely free
        raise RuntimeError("No free pay-to-account code")

    def _expire(self, shortcode):
        self.flush_model()
        self.env.cr.execute(
            SQL(
                "UPDATE mpesa_account_code SET state = 'expired' WHERE state = 'waiting' AND shortcode = %s"
                " AND create_date < %s",
                shortcode,
                fields.Datetime.now() - CODE_LIFETIME,
            )
        )

    def _till_answer(self):
        """What the till is told of this code: {success, status, code, message, ...}."""
        self.ensure_one()
        env = self.env
        answer = {
            "success": True,
            "code_id": self.id,
            "code": self.code,
            "shortcode": self.shortcode,
            "amount": self.amount,
            "status": self.state,
        }
        if self.state == "paid":
            payment = self.callback_id
            answer.update(
                callback_id=payment.id,
                receipt_number=payment.mpesa_receipt_number or "",
                phone_number=payment.phone_number or "",
                message=env._("M-Pesa payment %(receipt)s received", receipt=payment.mpesa_receipt_number),
            )
        elif self.state == "waiting" and self.note:
            answer.update(status="mismatch", message=self.note)
        elif self.state == "waiting":
            answer["message"] = env._(
                "Pay to %(shortcode)s, account %(code)s", shortcode=self.shortcode, code=self.code
            )
        else:
            answer["message"] = env._("This code is no longer waiting for a payment.")
        return answer

    # ================================================================== a payment arrives

    @api.model
    def _match_payment(self, payment):
        """Claim a new C2B payment for the order its account number names (or, a till's Dynamic QR,
        its amount); tell the till. Returns the code it paid, if any."""
        if not payment._is_live_payment() or payment.is_claimed or not payment.config_id:
            return self.browse()
        code_text = normalize_code(payment.bill_ref_number)
        if code_text:
            domain = [("code", "=", code_text)]
        elif not (payment.bill_ref_number or "").strip() and payment.config_id.account_type == "till":
            # a Buy Goods payment carries no account number: a till's QR is known by its amount
            domain = [("qr", "=", True), ("amount", "=", payment.amount)]
        else:
            return self.browse()  # an account number that is no code: nothing to look up
        shortcode = payment.business_shortcode or payment.config_id._get_c2b_shortcode()
        codes = self.sudo().search(
            [("state", "=", "waiting"), ("shortcode", "=", shortcode), *domain], limit=2
        )
        if len(codes) != 1:
            return self.browse()  # no code, or several QR of that amount: the cashier picks in the search
        code = codes
        self.env.cr.execute("SELECT id FROM mpesa_account_code WHERE id = %s FOR UPDATE", (code.id,))
        code.invalidate_recordset()
        if code.state != "waiting":
            return self.browse()
        if float_compare(payment.amount, code.amount, precision_rounding=code.currency_id.rounding):
            code.write(
                {
                    "note": self.env._(
                        "%(receipt)s paid %(paid)s with this code, not %(asked)s: find it in the search "
                        "if it is this order's.",
                        receipt=payment.mpesa_receipt_number,
                        paid=payment.amount,
                        asked=code.amount,
                    )
                }
            )
            code._notify_till("MPESA_CODE_MISMATCH")
            return self.browse()
        claimer = payment.with_user(code.user_id).sudo()
        if not claimer._claim(
            code.order_key, pos_config=code.pos_config_id, payment_method=code.payment_method_id
        ):
            return self.browse()
        code.write({"state": "paid", "callback_id": payment.id})
        _logger.info("M-Pesa payment %s paid pay-to-account code %s", payment.id, code.id)
        code._notify_till("MPESA_CODE_PAID")
        return code

    def _notify_till(self, message_type):
        if self.env["mpesa.callback"]._bus_queue(self, f"_notify_till_{message_type.lower()}"):
            return
        for code in self.filtered("pos_config_id"):
            code.pos_config_id._notify(message_type, code._till_answer())

    def _notify_till_mpesa_code_paid(self):
        self._notify_till("MPESA_CODE_PAID")

    def _notify_till_mpesa_code_mismatch(self):
        self._notify_till("MPESA_CODE_MISMATCH")
