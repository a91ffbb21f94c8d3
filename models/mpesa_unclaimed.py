"""Unclaimed payments: money a customer paid that no order carries.

A payment is *unclaimed* once its account's match window is over and still no till took it (the tills'
search offers it within the window only). A POS manager settles each one (a wizard): attach it to the
order's M-Pesa payment line that was validated without a matching payment (the claim module links it,
exactly once: mpesa_claim.py), say it was settled outside the POS with a reason, or, a manager who is
also in the group "M-Pesa Refunds", send it back to the payer by an M-Pesa Reversal (the send path of a
POS refund: mpesa_reversal.py). A payment being sent back is held by the claim module (REVERSAL_HOLD), so
no till takes it while M-Pesa works; it stays held once reversed and is unclaimed again when M-Pesa
refuses or drops the reversal. Every act is written in the row's note with the manager's name.
"""

from contextlib import contextmanager
from datetime import timedelta

from odoo import fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from .mpesa_callback import CLAIMABLE
from .mpesa_reversal import REFUND_GROUP
from .mpesa_utils import MANAGER_GROUP, check_manager


class MpesaCallback(models.Model):
    _inherit = "mpesa.callback"

    is_unclaimed = fields.Boolean(
        string="Unclaimed",
        compute="_compute_is_unclaimed",
        search="_search_is_unclaimed",
        help="A payment no till took within its account's match window.",
    )
    waiting_time = fields.Char(string="Waiting For", compute="_compute_is_unclaimed")

    def _compute_is_unclaimed(self):
        now = fields.Datetime.now()
        for row in self:
            window = timedelta(minutes=row.config_id.match_window or 0)
            row.is_unclaimed = bool(
                row._is_live_payment() and not row.is_claimed and row.received_date + window < now
            )
            age = now - row.received_date
            hours, minutes = divmod(int(age.total_seconds()) // 60, 60)
            days, hours = divmod(hours, 24)
            row.waiting_time = (
                self.env._("%(days)s d %(hours)s h", days=days, hours=hours)
                if days
                else self.env._("%(hours)s h %(minutes)s min", hours=hours, minutes=minutes)
            )

    def _search_is_unclaimed(self, operator, value):
        if operator not in ("in", "not in"):
            return NotImplemented
        self.env["mpesa.config"].flush_model(["match_window"])
        self.flush_model()
        unclaimed = SQL(
            """(SELECT mpesa_callback.id FROM mpesa_callback
                  JOIN mpesa_config account ON account.id = mpesa_callback.config_id
                 WHERE %s
                   AND mpesa_callback.received_date < %s - make_interval(mins => account.match_window))""",
            CLAIMABLE,
            fields.Datetime.now(),
        )
        wanted = True in value
        return [("id", "in" if (operator == "in") == wanted else "not in", unclaimed)]

    def action_settle_unclaimed(self, mode="attach"):
        self.ensure_one()
        check_manager(self.env, self.env._("Only Point of Sale managers can settle an unclaimed payment."))
        return {
            "type": "ir.actions.act_window",
            "res_model": "mpesa.unclaimed.settle",
            "view_mode": "form",
            "target": "new",
            "context": {"default_callback_id": self.id, "default_mode": mode},
            "name": self.env._("Settle an Unclaimed Payment"),
        }

    @contextmanager
    def _own_transaction(self):
        """This row in a transaction of its own, committed on exit (as the reversal's request row,
        mpesa_daraja_request.py _send): what M-Pesa is asked rests on committed facts, and this
        request, whose snapshot is older, never writes the row after it."""
        with self.env.registry.cursor() as cr:
            yield self.with_env(self.env(cr=cr))

    def action_refund_unclaimed(self):
        """The settle wizard, on "send back to the payer"."""
        self.ensure_one()
        self._check_may_send_back()
        return self.action_settle_unclaimed(mode="reverse")

    def _check_may_send_back(self):
        user = self.env.user
        if not (user.has_group(MANAGER_GROUP) and user.has_group(REFUND_GROUP)):
            raise UserError(
                self.env._(
                    "Only Point of Sale managers of the group M-Pesa Refunds can send a payment back by "
                    "an M-Pesa reversal."
                )
            )

    def _unclaimed_send_back(self, reason):
        """Send this unclaimed payment back to the payer by an M-Pesa Reversal; returns the notification
        that tells the manager where it stands. Held first, committed before anything is sent
        (mpesa_claim.py): no till takes it while M-Pesa works, and a second press sends nothing. Given
        back at once when nothing reached M-Pesa, else by the result when M-Pesa refuses or drops it
        (mpesa_reversal.py)."""
        self.ensure_one()
        self._check_may_send_back()
        cannot = self._reversal_cannot()
        if cannot:
            raise UserError(cannot)
        with self._own_transaction() as row:
            row._claim_hold_for_reversal(reason)
        answer, in_flight = self._reversal_send(
            self.env._("Refund of unclaimed payment %(receipt)s", receipt=self.mpesa_receipt_number)
        )
        if not in_flight:  # nothing reached M-Pesa: unclaimed again at once, and why in its note
            with self._own_transaction() as row:
                row._claim_release_reversal(answer["message"], self.env.user)
        elif not answer["success"]:  # sent, but M-Pesa's acknowledgement was lost: stays held
            with self._own_transaction() as row:
                row.write({"note": row._note_with(answer["message"])})
        self.invalidate_recordset()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Refund by M-Pesa Reversal"),
                "message": answer["message"],
                "type": "success" if answer["success"] else ("warning" if in_flight else "danger"),
                "sticky": not answer["success"],
                "next": {"type": "ir.actions.act_window_close"},
            },
        }


class MpesaUnclaimedSettle(models.TransientModel):
    _name = "mpesa.unclaimed.settle"
    _description = "Settle an Unclaimed M-Pesa Payment"

    callback_id = fields.Many2one("mpesa.callback", string="M-Pesa Payment", required=True, readonly=True)
    amount = fields.Monetary(related="callback_id.amount")
    currency_id = fields.Many2one(related="callback_id.currency_id")
    mode = fields.Selection(
        [
            ("attach", "Attach to an order"),
            ("outside", "Settled outside the POS"),
            ("reverse", "Send back to the payer (M-Pesa Reversal)"),
        ],
        required=True,
        default="attach",
        help="Send back: the whole amount goes back to the payer's M-Pesa (managers of the group M-Pesa "
        "Refunds); no till can take the payment meanwhile.",
    )
    pos_payment_id = fields.Many2one(
        "pos.payment",
        string="Order's M-Pesa Line",
        domain="[('payment_method_id.use_payment_terminal', '=', 'mpesa'), ('mpesa_callback_id', '=', False),"
        " ('amount', '=', amount), ('company_id', '=', company_id)]",
        help="An M-Pesa line of this amount validated without a matching payment.",
    )
    company_id = fields.Many2one(related="callback_id.company_id")
    reason = fields.Char(required=True, help="Why: written in the payment's note with your name.")

    def action_settle(self):
        self.ensure_one()
        check_manager(self.env, self.env._("Only Point of Sale managers can settle an unclaimed payment."))
        row = self.callback_id.sudo()
        if self.mode == "outside":
            return row._claim_settle_outside(self.reason)
        if self.mode == "reverse":
            return row._unclaimed_send_back(self.reason)
        payment = self.pos_payment_id.sudo()
        if not payment:
            raise UserError(self.env._("Choose an M-Pesa line that no M-Pesa payment pays yet."))
        # the payment, then the line: a manager settling either at this moment finishes first, and this
        # request (run again by Odoo after their commit) sees what they did
        row._lock_row()
        self.env.cr.execute("SELECT id FROM pos_payment WHERE id = %s FOR UPDATE", (payment.id,))
        payment.invalidate_recordset()
        if row.is_claimed:
            raise UserError(
                self.env._(
                    "%(name)s was settled meanwhile by %(user)s: reload and try again.",
                    name=row.name,
                    user=row.claimed_by_id.name or "?",
                )
            )
        if payment.mpesa_callback_id:
            raise UserError(
                self.env._(
                    "The M-Pesa line of %(order)s is already paid by M-Pesa payment %(name)s: choose another "
                    "line.",
                    order=payment.pos_order_id.name,
                    name=payment.mpesa_callback_id.name,
                )
            )
        if payment.currency_id.compare_amounts(payment.amount, row.amount):
            raise UserError(self.env._("The line's amount is not the payment's."))
        # the claim module links it (mpesa_claim.py, _claim_link_payment): once, or refused
        payment.write({"mpesa_callback_id": row.id})
        row.invalidate_recordset()
        if row.pos_payment_id != payment:
            raise UserError(self.env._("%(name)s was taken meanwhile: reload and try again.", name=row.name))
        row.write(
            {
                "note": row._note_with(
                    self.env._(
                        "Attached to %(order)s by %(user)s on %(date)s: %(reason)s",
                        order=payment.pos_order_id.name,
                        user=self.env.user.name,
                        date=fields.Datetime.now(),
                        reason=self.reason,
                    )
                )
            }
        )
        return True
