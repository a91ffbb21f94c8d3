"""Missed C2B payments recovered from Daraja's own record (Pull Transactions).

Safaricom gives up on a C2B confirmation after its retries: a payment made while Odoo was down would
never reach a till. An account registered for Pull Transactions is asked, every 15 minutes by a cron
(and by "Pull Now"), for its C2B transactions since its last pull (with an overlap, within the last 48
hours Daraja keeps); every one we have no row for is stored like a confirmation (mpesa_c2b.py), source
"Pull Transactions", under the same one-payment-per-receipt invariant: a pulled payment and its late
confirmation are one row. Pulled payments are claimable like any C2B payment.

A pulled transaction may also be an STK payment that only the STK query confirmed (the query gives no
receipt): it is handled like that payment's C2B twin (mpesa_c2b.py, mpesa_stk.py): its receipt filled
in, or, when several STK payments could be it, a row that waits for a manager.
"""

import json
import logging
from datetime import datetime, timedelta, timezone

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..daraja import DarajaError
from ..daraja.callbacks import C2BNotification
from .mpesa_utils import check_manager

_logger = logging.getLogger(__name__)

PULL_OVERLAP = timedelta(minutes=10)  # a transaction Daraja files late is still seen by the next pull
PULL_KEPT = timedelta(hours=47, minutes=55)  # Daraja answers for the last 48 hours only
PULL_FIRST = timedelta(hours=24)  # how far back the first pull of an account looks


class MpesaConfig(models.Model):
    _inherit = "mpesa.config"

    pull_nominated_number = fields.Char(
        string="Pull nominated number",
        help="The phone number Safaricom knows for this shortcode's Pull Transactions registration.",
    )
    pull_registered = fields.Boolean(string="Registered for Pull Transactions", readonly=True, copy=False)
    last_pull_date = fields.Datetime(string="Last pull", readonly=True, copy=False)

    def action_register_pull(self):
        self.ensure_one()
        check_manager(self.env, self.env._("Only Point of Sale managers can manage M-Pesa accounts."))
        config = self.sudo()
        if not config.pull_nominated_number:
            raise UserError(self.env._("Enter the nominated phone number first."))
        try:
            said = config._get_daraja_client().pull_register(
                config.pull_nominated_number, config.c2b_confirmation_url
            )
        except DarajaError as error:
            raise UserError(
                self.env._("Pull registration failed: %(error)s", error=config._format_daraja_error(error))
            ) from None
        config.write({"pull_registered": True})
        return config._notification(
            self.env._("M-Pesa"), self.env._("Pull Transactions: %(said)s.", said=said), "success"
        )

    def action_pull_now(self):
        self.ensure_one()
        check_manager(self.env, self.env._("Only Point of Sale managers can manage M-Pesa accounts."))
        try:
            stored = self.sudo()._pull_missed()
        except DarajaError as error:
            raise UserError(
                self.env._("Pull failed: %(error)s", error=self._format_daraja_error(error))
            ) from None
        return self._notification(
            self.env._("M-Pesa"),
            self.env._("%(count)s missed payment(s) recovered.", count=stored),
            "success" if stored else "info",
        )

    @api.model
    def _cron_pull_c2b(self):
        """Every registered account, one after the other; an account Daraja refuses waits for the next run."""
        for config in self.sudo().search([("pull_registered", "=", True)]):
            if not config._is_configured():
                continue
            try:
                config._pull_missed()
            except DarajaError as error:
                _logger.warning("M-Pesa pull for account %s failed: %s", config.id, error.message)

    def _pull_missed(self, start=None, end=None):
        """Store the C2B transactions of [start, end] we have no row for; returns how many were stored."""
        self.ensure_one()
        now = datetime.now(timezone.utc)
        end = min(end or now, now)  # nothing is paid in the future
        if start is None:
            last = self.last_pull_date.replace(tzinfo=timezone.utc) if self.last_pull_date else None
            start = (last - PULL_OVERLAP) if last else now - PULL_FIRST
        start = max(start, now - PULL_KEPT)
        transactions = self._get_daraja_client().pull_transactions(start, end, now=now)
        Callback = self.env["mpesa.callback"].sudo()
        receipts = [t.receipt for t in transactions]
        known = set(
            Callback.search([("mpesa_receipt_number", "in", receipts)]).mapped("mpesa_receipt_number")
        )
        stored = 0
        for pulled in transactions:
            if pulled.receipt in known:
                continue
            known.add(pulled.receipt)
            notification = C2BNotification(
                kind="c2b_confirmation",
                transaction_type=pulled.transaction_type,
                trans_id=pulled.receipt,
                trans_time=pulled.occurred_at,
                amount=pulled.amount,
                business_short_code=self._get_c2b_shortcode(),
                bill_ref_number=pulled.bill_ref_number,
                msisdn=pulled.msisdn,
            )
            raw = json.dumps(
                {"pulled": pulled.receipt, "amount": str(pulled.amount), "at": str(pulled.occurred_at)}
            )
            row = Callback._c2b_process(notification, raw, "pull", self)
            stored += row.source == "pull"  # else the receipt of a query-confirmed STK payment
        pulled_until = end.astimezone(timezone.utc).replace(tzinfo=None)
        if not self.last_pull_date or pulled_until > self.last_pull_date:  # a range in the past: no step back
            self.write({"last_pull_date": pulled_until})
        if stored:
            _logger.info("M-Pesa account %s: %s missed C2B payment(s) recovered by pull", self.id, stored)
        return stored


class MpesaPullRange(models.TransientModel):
    _name = "mpesa.pull.range"
    _description = "Pull M-Pesa Payments of a Time Range"

    config_id = fields.Many2one("mpesa.config", string="M-Pesa Account", required=True, readonly=True)
    start = fields.Datetime(required=True, default=lambda self: fields.Datetime.now() - timedelta(hours=2))
    end = fields.Datetime(required=True, default=fields.Datetime.now)

    @api.constrains("start", "end")
    def _check_range(self):
        now = fields.Datetime.now()
        for wizard in self:
            if wizard.start >= wizard.end:
                raise ValidationError(self.env._("The start must be before the end."))
            if wizard.start < now - PULL_KEPT:
                raise ValidationError(self.env._("M-Pesa answers for the last 48 hours only."))

    def action_pull(self):
        self.ensure_one()
        check_manager(self.env, self.env._("Only Point of Sale managers can manage M-Pesa accounts."))
        start, end = (moment.replace(tzinfo=timezone.utc) for moment in (self.start, self.end))
        try:
            stored = self.config_id.sudo()._pull_missed(start, end)
        except DarajaError as error:
            raise UserError(
                self.env._("Pull failed: %(error)s", error=self.config_id._format_daraja_error(error))
            ) from None
        return self.config_id._notification(
            self.env._("M-Pesa"),
            self.env._("%(count)s missed payment(s) recovered.", count=stored),
            "success" if stored else "info",
        )
