"""Unclaimed payments: money a customer paid that no order carries.

A payment is *unclaimed* once its account's match window is over and still no till took it (the tills'
search offers it within the window only). A POS manager settles each one (a wizard): attach it to the
order's M-Pesa payment line that was validated without a matching payment (the claim module links it,
exactly once: mpesa_claim.py), or say it was settled outside the POS with a reason. Both are written in
the row's note with the manager's name.
"""

from datetime import timedelta

from odoo import fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from .mpesa_callback import CLAIMABLE
from .mpesa_utils import check_manager


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

    def action_settle_unclaimed(self):
        self.ensure_one()
        check_manager(self.env, self.env._("Only Point of Sale managers can settle an unclaimed payment."))
        return {
            "type": "ir.actions.act_window",
            "res_model": "mpesa.unclaimed.settle",
            "view_mode": "form",
            "target": "new",
            "context": {"default_callback_id": self.id},
            "name": self.env._("Settle an Unclaimed Payment"),
        }


class MpesaUnclaimedSettle(models.TransientModel):
    _name = "mpesa.unclaimed.settle"
    _description = "Settle an Unclaimed M-Pesa Payment"

    callback_id = fields.Many2one("mpesa.callback", string="M-Pesa Payment", required=True, readonly=True)
    amount = fields.Monetary(related="callback_id.amount")
    currency_id = fields.Many2one(related="callback_id.currency_id")
    mode = fields.Selection(
        [("attach", "Attach to an order"), ("outside", "Settled outside the POS")],
        required=True,
        default="attach",
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
        payment = self.pos_payment_id.sudo()
        if not payment or payment.mpesa_callback_id:
            raise UserError(self.env._("Choose an M-Pesa line that no M-Pesa payment pays yet."))
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
