"""The daily M-Pesa statement: per account and day (Nairobi time), what M-Pesa paid in and where it went.

A read-only SQL view over the payment log (mpesa_callback.py): payments received (live payments,
LIVE_PAYMENT_SQL), taken by the POS (claimed for an order), settled outside the POS by a manager
(mpesa_unclaimed.py), still unclaimed, reversed (mpesa_reversal.py), and recovered from M-Pesa's records
(Pull Transactions, a receipt lookup). Received = POS + outside + sent back (an unclaimed payment a
manager refunds by reversal, mpesa_unclaimed.py) + unclaimed, to the shilling; the printed
statement lists the receipts of every payment that is not on an order. Each line shows the latest check
of its day against M-Pesa's own record (mpesa_statement_check.py).
"""

from odoo import fields, models, tools
from odoo.tools import SQL

from .mpesa_callback import LIVE_PAYMENT_SQL, LOCAL_DAY_SQL
from .mpesa_claim import REVERSAL_HOLD, SETTLED_OUTSIDE
from .mpesa_statement_check import payments_of_day

# a payment taken for a POS order (not one a manager settled outside the POS or is sending back)
POS_CLAIM_SQL = "is_claimed AND claim_order_key NOT IN (%s, %s)"


class MpesaDailyStatement(models.Model):
    _name = "mpesa.daily.statement"
    _description = "Daily M-Pesa Statement"
    _auto = False
    _order = "day desc, config_id"
    _rec_name = "day"

    day = fields.Date(readonly=True, help="Nairobi time")
    config_id = fields.Many2one("mpesa.config", string="M-Pesa Account", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    received_count = fields.Integer(string="Payments", readonly=True)
    received_amount = fields.Monetary(string="Received", readonly=True)
    pos_count = fields.Integer(string="On Orders", readonly=True)
    pos_amount = fields.Monetary(string="Taken by the POS", readonly=True)
    outside_amount = fields.Monetary(string="Settled Outside the POS", readonly=True)
    sent_back_count = fields.Integer(
        string="Sent Back", readonly=True, help="Unclaimed payments a manager sent back by M-Pesa reversal."
    )
    sent_back_amount = fields.Monetary(readonly=True)
    unclaimed_count = fields.Integer(string="Unclaimed", readonly=True)
    unclaimed_amount = fields.Monetary(readonly=True)
    reversed_count = fields.Integer(string="Reversed", readonly=True)
    reversed_amount = fields.Monetary(readonly=True)
    recovered_count = fields.Integer(
        string="Recovered", readonly=True, help="Came from M-Pesa's records, not from a confirmation."
    )
    check_id = fields.Many2one("mpesa.statement.check", string="Check Against M-Pesa", readonly=True)
    check_state = fields.Selection(
        [("agrees", "Agrees with M-Pesa"), ("differs", "Differs from M-Pesa")],
        string="M-Pesa Check",
        readonly=True,
        help="Empty: not checked against M-Pesa's record.",
    )

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            SQL(
                """CREATE VIEW %s AS (
                    SELECT day_line.*, checked.id AS check_id, checked.state AS check_state FROM (
                    SELECT min(id) AS id, %s AS day, config_id, company_id, currency_id,
                           count(*) AS received_count,
                           sum(amount) AS received_amount,
                           count(*) FILTER (WHERE %s) AS pos_count,
                           coalesce(sum(amount) FILTER (WHERE %s), 0) AS pos_amount,
                           coalesce(sum(amount) FILTER (WHERE claim_order_key = %s), 0) AS outside_amount,
                           count(*) FILTER (WHERE claim_order_key = %s) AS sent_back_count,
                           coalesce(sum(amount) FILTER (WHERE claim_order_key = %s), 0) AS sent_back_amount,
                           count(*) FILTER (WHERE is_claimed IS NOT TRUE) AS unclaimed_count,
                           coalesce(sum(amount) FILTER (WHERE is_claimed IS NOT TRUE), 0) AS unclaimed_amount,
                           count(*) FILTER (WHERE reversal_state IS NOT NULL) AS reversed_count,
                           coalesce(sum(amount) FILTER (WHERE reversal_state IS NOT NULL), 0)
                               AS reversed_amount,
                           count(*) FILTER (WHERE source IN ('pull', 'status')) AS recovered_count
                      FROM mpesa_callback
                     WHERE %s
                  GROUP BY %s, config_id, company_id, currency_id
                    ) day_line
                    LEFT JOIN mpesa_statement_check checked
                           ON checked.config_id = day_line.config_id AND checked.day = day_line.day
                )""",
                SQL.identifier(self._table),
                SQL(LOCAL_DAY_SQL),
                SQL(POS_CLAIM_SQL, SETTLED_OUTSIDE, REVERSAL_HOLD),
                SQL(POS_CLAIM_SQL, SETTLED_OUTSIDE, REVERSAL_HOLD),
                SETTLED_OUTSIDE,
                REVERSAL_HOLD,
                REVERSAL_HOLD,
                SQL(LIVE_PAYMENT_SQL),
                SQL(LOCAL_DAY_SQL),
            )
        )

    def _payments(self, where=None):
        """The live payments of this statement line, optionally narrowed (a domain)."""
        self.ensure_one()
        return self.env["mpesa.callback"].search(
            [*payments_of_day(self.config_id, self.day), *(where or [])],
            order="received_date",
        )

    def action_check_mpesa(self):
        self.ensure_one()
        return self.env["mpesa.statement.check"]._open_check(self.config_id, self.day)

    def _check_summary(self):
        """What the printed statement says of the check against M-Pesa's record."""
        self.ensure_one()
        check = self.check_id
        if not check:
            if not self.config_id.pull_registered:
                return self.env._(
                    "Not checked against M-Pesa: the account is not registered for Pull Transactions."
                )
            return self.env._("Not checked against M-Pesa.")
        when = fields.Datetime.to_string(fields.Datetime.context_timestamp(self, check.checked_at))
        if check.state == "agrees":
            return self.env._(
                "Agrees with M-Pesa: %(count)s payments, checked on %(when)s.",
                count=check.mpesa_count,
                when=when,
            )
        return self.env._("Differs from M-Pesa (checked on %(when)s):", when=when)

    def action_open_payments(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "mpesa.callback",
            "view_mode": "list,form",
            "domain": [("id", "in", self._payments().ids)],
            "name": self.env._("M-Pesa Payments of %(day)s", day=self.day),
        }


class MpesaCallback(models.Model):
    _inherit = "mpesa.callback"

    def _statement_reason(self):
        """Why this payment is not on an order, as the printed statement says it."""
        self.ensure_one()
        if self.claim_order_key == SETTLED_OUTSIDE:
            reason = self.env._("Settled outside the POS")
        elif self.claim_order_key == REVERSAL_HOLD:
            return (
                self.env._("Sent back to the payer by M-Pesa reversal")
                if self.reversal_state
                else self.env._("Being sent back to the payer by M-Pesa reversal")
            )
        elif self.is_claimed:
            reason = self.env._("Taken by a till; its order is not on the server")
        else:
            reason = self.env._("Unclaimed")
        return reason + (self.env._(", reversed") if self.reversal_state else "")


class MpesaConfig(models.Model):
    _inherit = "mpesa.config"

    def action_view_daily_statement(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("pos_mpesa.action_mpesa_daily_statement")
        action["domain"] = [("config_id", "=", self.id)]
        return action
