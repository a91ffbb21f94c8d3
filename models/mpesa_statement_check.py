"""A day of the statement checked against M-Pesa's own record (Pull Transactions).

M-Pesa's record of an account's payments is what Pull Transactions answers (mpesa_pull.py): every
payment to the shortcode, STK or C2B, kept for 48 hours. A check asks it for one Nairobi day and
compares it, receipt by receipt, with the live payments we hold for that day:
- *M-Pesa only*: money M-Pesa took that we have no row for (a lost confirmation, an STK payment the
  STK query confirmed without its receipt); "Recover" stores them as Pull does;
- *here only*: a payment we counted that M-Pesa does not know (a forged or misdirected confirmation);
- *amount differs*: the same receipt with another amount.
The day "agrees with M-Pesa" when there is none of these. One check per account and day, the latest
replacing the earlier; a cron checks yesterday of every account registered for Pull, and a manager
can check any day M-Pesa still keeps.
"""

import logging
from datetime import datetime, time, timedelta, timezone

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..daraja import DarajaError
from .mpesa_callback import LIVE_PAYMENT_DOMAIN
from .mpesa_pull import PULL_KEPT
from .mpesa_utils import check_manager

_logger = logging.getLogger(__name__)

EAT_OFFSET = timedelta(hours=3)  # Nairobi keeps UTC+3 all year
# M-Pesa's time of a payment and our received time differ by the confirmation's delay: a receipt of
# ours is looked for in M-Pesa's record this much beyond the day's edges
EDGE_MARGIN = timedelta(minutes=15)


def day_start_utc(day, days=0):
    """The naive UTC moment the Nairobi ``day`` (+days) starts."""
    return datetime.combine(day, time()) + timedelta(days=days) - EAT_OFFSET


def payments_of_day(config, day):
    """The domain of the live payments ``config`` received on the Nairobi ``day`` (a statement line)."""
    return [
        ("config_id", "=", config.id),
        *LIVE_PAYMENT_DOMAIN,
        ("received_date", ">=", day_start_utc(day)),
        ("received_date", "<", day_start_utc(day, 1)),
    ]


class MpesaStatementCheck(models.Model):
    _name = "mpesa.statement.check"
    _description = "M-Pesa Statement Check"
    _order = "day desc, config_id"
    _rec_name = "day"

    config_id = fields.Many2one("mpesa.config", string="M-Pesa Account", required=True, ondelete="cascade")
    company_id = fields.Many2one(related="config_id.company_id", store=True)
    day = fields.Date(required=True, help="Nairobi time")
    checked_at = fields.Datetime(string="Checked On", required=True)
    checked_by_id = fields.Many2one("res.users")
    state = fields.Selection(
        [("agrees", "Agrees with M-Pesa"), ("differs", "Differs from M-Pesa")],
        string="M-Pesa Check",
        required=True,
    )
    mpesa_count = fields.Integer(string="Payments at M-Pesa", help="In M-Pesa's record of the day.")
    our_count = fields.Integer(string="Payments Here", help="Live payments received on the day.")
    line_ids = fields.One2many("mpesa.statement.check.line", "check_id", string="Differences")

    _config_day_uniq = models.Constraint("UNIQUE(config_id, day)", "One check per account and day.")

    @api.model
    def _check_day(self, config, day):
        """Compare ``day`` of ``config`` with M-Pesa's record; the account's check of that day, updated.
        Raises DarajaError when M-Pesa cannot be asked, UserError when it no longer keeps that day."""
        config = config.sudo()
        now = datetime.now(timezone.utc).replace(tzinfo=None)  # not rounded: a payment of this second counts
        start, end = day_start_utc(day), day_start_utc(day, 1)
        if start < now - PULL_KEPT:
            raise UserError(
                self.env._(
                    "M-Pesa keeps its record for 48 hours only: %(day)s can no longer be checked.", day=day
                )
            )
        if start > now:
            raise UserError(self.env._("%(day)s has not started yet.", day=day))
        asked_from = max(start - EDGE_MARGIN, now - PULL_KEPT)
        asked_to = min(end + EDGE_MARGIN, now)
        record = config._get_daraja_client().pull_transactions(
            asked_from.replace(tzinfo=timezone.utc),
            asked_to.replace(tzinfo=timezone.utc),
            now=now.replace(tzinfo=timezone.utc),
        )
        at_mpesa = {pulled.receipt: pulled for pulled in record}
        of_the_day = {
            pulled.receipt: pulled
            for pulled in record
            if pulled.occurred_at is None or start <= pulled.occurred_at < end
        }
        Callback = self.env["mpesa.callback"].sudo()
        ours = Callback.search(payments_of_day(config, day))
        same_account = [("config_id", "=", config.id), *LIVE_PAYMENT_DOMAIN]
        held = set(
            Callback.search([*same_account, ("mpesa_receipt_number", "in", list(of_the_day))]).mapped(
                "mpesa_receipt_number"
            )
        )
        lines = [
            {
                "kind": "mpesa_only",
                "receipt": pulled.receipt,
                "amount": pulled.amount,
                "paid_at": pulled.occurred_at,
                "payer": pulled.msisdn,
            }
            for receipt, pulled in sorted(of_the_day.items())
            if receipt not in held
        ]
        for row in ours:
            pulled = at_mpesa.get(row.mpesa_receipt_number)
            if not row.mpesa_receipt_number:
                kind = "no_receipt"
            elif not pulled:
                kind = "here_only"
            elif row.currency_id.compare_amounts(row.amount, float(pulled.amount)):
                kind = "amount"
            else:
                continue
            lines.append(
                {
                    "kind": kind,
                    "receipt": row.mpesa_receipt_number,
                    "amount": row.amount,
                    "mpesa_amount": pulled.amount if pulled else False,
                    "paid_at": row.received_date,
                    "payer": row.phone_number,
                    "callback_id": row.id,
                }
            )
        vals = {
            "checked_at": fields.Datetime.now(),
            "checked_by_id": self.env.uid,
            "state": "differs" if lines else "agrees",
            "mpesa_count": len(of_the_day),
            "our_count": len(ours),
            "line_ids": [fields.Command.clear(), *(fields.Command.create(line) for line in lines)],
        }
        check = self.sudo().search([("config_id", "=", config.id), ("day", "=", day)])
        if check:
            check.write(vals)
        else:
            check = self.sudo().create({"config_id": config.id, "day": day, **vals})
        return check

    @api.model
    def _cron_check_yesterday(self):
        """Yesterday (Nairobi) of every account registered for Pull; an account M-Pesa refuses waits."""
        yesterday = (fields.Datetime.now() + EAT_OFFSET).date() - timedelta(days=1)
        for config in self.env["mpesa.config"].sudo().search([("pull_registered", "=", True)]):
            if not config._is_configured():
                continue
            try:
                self._check_day(config, yesterday)
            except (DarajaError, UserError) as error:
                _logger.warning("M-Pesa statement check of account %s failed: %s", config.id, error)

    @api.model
    def _open_check(self, config, day):
        """A manager's check of ``day``: run now, shown in its form."""
        check_manager(self.env, self.env._("Only Point of Sale managers can check M-Pesa statements."))
        if not config.pull_registered:
            raise UserError(
                self.env._(
                    "%(account)s is not registered for Pull Transactions: M-Pesa's record cannot be asked.",
                    account=config.display_name,
                )
            )
        try:
            check = self._check_day(config, day)
        except DarajaError as error:
            raise UserError(
                self.env._("M-Pesa could not be asked: %(error)s", error=config._format_daraja_error(error))
            ) from None
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": check.id,
            "view_mode": "form",
            "target": "current",
        }

    def action_recheck(self):
        self.ensure_one()
        return self._open_check(self.config_id, self.day)

    def action_recover(self):
        """Store M-Pesa's payments of the day we have no row for (as Pull does), then check again."""
        self.ensure_one()
        check_manager(self.env, self.env._("Only Point of Sale managers can check M-Pesa statements."))
        start, end = (day_start_utc(self.day, days).replace(tzinfo=timezone.utc) for days in (0, 1))
        try:
            self.config_id.sudo()._pull_missed(start, end)
        except DarajaError as error:
            raise UserError(
                self.env._("Pull failed: %(error)s", error=self.config_id._format_daraja_error(error))
            ) from None
        return self.action_recheck()


class MpesaStatementCheckLine(models.Model):
    _name = "mpesa.statement.check.line"
    _description = "M-Pesa Statement Difference"
    _order = "kind, paid_at, id"

    check_id = fields.Many2one("mpesa.statement.check", required=True, ondelete="cascade", index=True)
    kind = fields.Selection(
        [
            ("mpesa_only", "At M-Pesa, not here"),
            ("here_only", "Here, not at M-Pesa"),
            ("amount", "Amount differs"),
            ("no_receipt", "No receipt to compare"),
        ],
        required=True,
    )
    receipt = fields.Char()
    currency_id = fields.Many2one(related="check_id.config_id.currency_id")
    amount = fields.Monetary()
    mpesa_amount = fields.Monetary(string="Amount at M-Pesa")
    paid_at = fields.Datetime(string="Paid On")
    payer = fields.Char()
    callback_id = fields.Many2one("mpesa.callback", string="Our Payment")
