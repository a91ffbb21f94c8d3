"""Refunds by Reversal: an M-Pesa sale refunded in the POS goes back to the customer's M-Pesa.

The till asks (/mpesa/reverse, checked in mpesa_pos_request.py) for a refund order's M-Pesa line; the
server takes the payment of the refunded order with exactly that amount (M-Pesa reverses whole
payments only: docs/daraja.md, "APIs for records and refunds"), sends a Reversal
(mpesa_daraja_request.py) and tells the till the result on the bus (MPESA_REVERSAL_RESULT), the till
asking /mpesa/reversal_status as fallback. Only users of the group "M-Pesa Refunds" may do it. The
payment's row records its reversal; the database holds at most one reversal in flight or done per
payment (mpesa_daraja_request.py, _reversal_live_uniq).
"""

import logging

from odoo import fields, models
from odoo.tools import format_amount
from psycopg2 import errors as pg_errors

from ..daraja import DarajaError, DarajaTransportError
from ..daraja.records import reversal_outcome
from .mpesa_claim import REVERSAL_HOLD
from .mpesa_utils import to_decimal

_logger = logging.getLogger(__name__)

REFUND_GROUP = "pos_mpesa.group_mpesa_refund"


class MpesaCallback(models.Model):
    _inherit = "mpesa.callback"

    reversal_state = fields.Selection(
        [("reversed", "Reversed"), ("reversed_elsewhere", "Reversed Outside Odoo")],
        readonly=True,
        copy=False,
        help="The money went back to the payer by an M-Pesa reversal.",
    )
    reversal_receipt = fields.Char(readonly=True, copy=False, help="The receipt of the reversal.")
    reversal_date = fields.Datetime(string="Reversed On", readonly=True, copy=False)
    reversal_request_ids = fields.One2many(
        "mpesa.daraja.request", "callback_id", string="Requests", domain=[("kind", "=", "reversal")]
    )

    def _reversal_candidates(self, order):
        """The live M-Pesa payments ``order`` carries on its payment lines, oldest first. Linked only: a
        payment a till merely claimed for the order may still be released by a manager and taken by
        another order (mpesa_claim.py), so reversing it could pay one customer back for money another
        order keeps; a linked payment is never released."""
        payments = self.sudo().search(
            [("pos_order_id", "=", order.id), ("pos_payment_id", "!=", False)], order="id"
        )
        return payments.filtered(lambda payment: payment._is_live_payment())

    def _reversal_start(self, order, amount, pos_config, refund_order_key):
        """Reverse the payment of ``order`` of exactly ``amount`` (a Decimal of whole shillings);
        returns the till's answer (see MpesaDarajaRequest._reversal_answer)."""
        env = self.env
        payments = self._reversal_candidates(order)
        if not payments:
            return _refused(env._("This order was not paid with M-Pesa: refund it another way."))
        same = payments.filtered(lambda p: p.currency_id.compare_amounts(p.amount, float(amount)) == 0)
        asked = (
            self.env["mpesa.daraja.request"]
            .sudo()
            .search(
                [
                    ("kind", "=", "reversal"),
                    ("callback_id", "in", same.ids),
                    ("refund_order_key", "=", refund_order_key or "-"),
                    "|",
                    ("state", "in", ("sending", "sent")),
                    ("outcome", "in", ("reversed", "already_reversed")),
                ],
                order="id desc",
                limit=1,
            )
        )
        if asked:  # this refund asked already (the till reloaded meanwhile): where that reversal stands
            return asked._reversal_answer()
        payment = same.filtered(lambda p: not p.reversal_state)[:1]
        if not payment:
            if same:
                return _refused(
                    env._(
                        "M-Pesa payment %(receipt)s was already reversed.",
                        receipt=same[0].mpesa_receipt_number,
                    )
                )
            return _refused(
                env._(
                    "M-Pesa reverses whole payments only. This order's M-Pesa payments: %(amounts)s. "
                    "Refund exactly one of them on M-Pesa, and the rest another way.",
                    amounts=", ".join(format_amount(env, p.amount, p.currency_id) for p in payments),
                )
            )
        answer, _in_flight = payment._reversal_send(
            f"Refund {order.name}", pos_config=pos_config, order=order, refund_order_key=refund_order_key
        )
        return answer

    def _reversal_cannot(self):
        """Why this payment cannot be sent back now (no initiator, no receipt yet), else "": checked
        before anything is reserved or sent."""
        self.ensure_one()
        if not (self.config_id and self.config_id._initiator()):
            return self.env._(
                "This M-Pesa account has no initiator for reversals: a manager sets it on the account."
            )
        if not self.mpesa_receipt_number:
            return self.env._(
                "This M-Pesa payment has no receipt yet: it cannot be reversed until M-Pesa gives one."
            )
        return ""

    def _reversal_send(self, remarks, pos_config=None, order=None, refund_order_key=None):
        """Send M-Pesa the Reversal of this whole payment: the one send path, for a POS refund
        (_reversal_start) and for an unclaimed payment (mpesa_unclaimed.py). Returns (answer,
        in_flight): the answer as the till is told it (MpesaDarajaRequest._reversal_answer), and whether
        a reversal of this payment may now be at M-Pesa (sent, sent without an answer, or one sent
        before: the unique index refused a second)."""
        self.ensure_one()
        env = self.env
        cannot = self._reversal_cannot()
        if cannot:
            return _refused(cannot), False
        config = self.config_id
        initiator = config._initiator()
        urls = config.sudo()
        vals = {
            "kind": "reversal",
            "receipt": self.mpesa_receipt_number,
            "amount": self.amount,
            "callback_id": self.id,
            "pos_config_id": pos_config.id if pos_config else False,
            "pos_order_id": order.id if order else False,
            "refund_order_key": refund_order_key or False,
        }
        try:
            request_id = (
                env["mpesa.daraja.request"]
                .sudo()
                ._send(
                    config,
                    vals,
                    lambda client: client.reversal(
                        self.mpesa_receipt_number,
                        to_decimal(self.amount),
                        initiator,
                        urls.result_url,
                        urls.queue_timeout_url,
                        remarks=remarks[:100],
                    ),
                )
            )
        except pg_errors.UniqueViolation:
            return _refused(env._("This M-Pesa payment is already being reversed, or was reversed.")), True
        except DarajaTransportError as error:
            _logger.warning(
                "Reversal for account %s: no usable answer (ambiguous=%s)", config.id, error.ambiguous
            )
            if error.ambiguous:
                return _refused(
                    env._(
                        "No answer from M-Pesa: the reversal may have been received. Do not refund another "
                        "way: a manager checks the payment's reversal in the back office."
                    )
                ), True
            return _refused(env._("Cannot reach M-Pesa: %(error)s", error=error.message)), False
        except DarajaError as error:
            return _refused(
                env._("M-Pesa refused the reversal: %(error)s", error=config._format_daraja_error(error))
            ), False
        return {
            "success": True,
            "status": "pending",
            "message": env._("Reversal sent to M-Pesa; waiting for its answer."),
            "reversal_id": request_id,
            "receipt_number": self.mpesa_receipt_number,
            "reversal_receipt": "",
        }, True


class MpesaDarajaRequest(models.Model):
    _inherit = "mpesa.daraja.request"

    def _on_result_of_reversal(self, result):
        outcome = reversal_outcome(result)
        self.write({"outcome": outcome})
        payment = self.callback_id
        if payment and not payment.reversal_state and outcome in ("reversed", "already_reversed"):
            vals = {
                "reversal_state": "reversed" if outcome == "reversed" else "reversed_elsewhere",
                "reversal_receipt": self.result_receipt if outcome == "reversed" else False,
                "reversal_date": fields.Datetime.now(),
            }
            if payment.claim_order_key == REVERSAL_HOLD:  # an unclaimed payment sent back: its note says so
                vals["note"] = payment._note_with(
                    self.env._(
                        "Sent back to the payer on %(date)s (M-Pesa reversal %(receipt)s), asked by %(user)s",
                        date=fields.Datetime.now(),
                        receipt=self.result_receipt or self.env._("made before"),
                        user=self.user_id.name,
                    )
                )
            payment.write(vals)
        elif outcome not in ("reversed", "already_reversed"):
            self._reversal_release_hold(self.result_desc or outcome)
        self._reversal_notify()

    def _on_timeout_reversal(self):
        self._reversal_release_hold(self.env._("dropped from M-Pesa's queue"))
        self._reversal_notify()

    def _on_close_reversal(self):
        self._reversal_release_hold(self.env._("closed by %(user)s", user=self.env.user.name))

    def _reversal_release_hold(self, why):
        """The reversal of an unclaimed payment was not made: the payment is unclaimed again
        (mpesa_claim.py: only while no other reversal of it is live, never once reversed)."""
        payment = self.callback_id
        if payment.claim_order_key == REVERSAL_HOLD:
            payment._claim_release_reversal(why, self.user_id)

    def _reversal_notify(self):
        """Tell the till that asked (after the answer to Safaricom, when a callback brought it)."""
        if self.env["mpesa.callback"]._bus_queue(self, "_reversal_notify"):
            return
        for request in self.filtered("pos_config_id"):
            request.pos_config_id._notify("MPESA_REVERSAL_RESULT", request._reversal_answer())

    def _reversal_answer(self):
        """What the till is told: {success, status, message, reversal_id, receipt_number, reversal_receipt}.
        status: pending, reversed, already_reversed, refused, timeout."""
        self.ensure_one()
        env = self.env
        amount = format_amount(env, self.amount, self.currency_id)
        if self.state in ("sending", "sent"):
            status, message = "pending", env._("Reversal sent to M-Pesa; waiting for its answer.")
        elif self.state == "timeout":
            status = "timeout"
            message = env._(
                "M-Pesa dropped the reversal from its queue: nothing was sent back. Try again, or refund "
                "another way."
            )
        elif self.outcome == "reversed":
            status = "reversed"
            message = env._(
                "%(amount)s sent back to the customer on M-Pesa (reversal %(receipt)s).",
                amount=amount,
                receipt=self.result_receipt or "",
            )
        elif self.outcome == "already_reversed":
            status = "already_reversed"
            message = env._(
                "M-Pesa says payment %(receipt)s was already reversed: the customer has the money back.",
                receipt=self.receipt,
            )
        else:
            status = "refused"
            message = env._(
                "M-Pesa refused the reversal: %(reason)s", reason=self.result_desc or self.note or ""
            )
        return {
            "success": True,
            "status": status,
            "message": message,
            "reversal_id": self.id,
            "receipt_number": self.receipt or "",
            "reversal_receipt": self.result_receipt or "",
        }


def _refused(message):
    return {"success": False, "status": "refused", "message": message}
