"""Receipt lookup: a receipt code the customer shows, found in our log or asked of M-Pesa.

We answer from our own row when we have one. Otherwise a Transaction Status request
(mpesa_daraja_request.py) asks M-Pesa what the receipt is; when its result says it is a payment to this
account's shortcode, the payment is stored like a C2B confirmation (mpesa_c2b.py), source "Transaction
Status", under the one-payment-per-receipt invariant: a till can then find it with the C2B search.
A receipt paid to another shortcode is reported, never stored.

Transaction Status needs the receipt: it cannot find the receipt of an STK payment that only the STK
query confirmed. Pull Transactions does that (mpesa_pull.py).
"""

from odoo import fields, models
from odoo.exceptions import UserError

from ..daraja import DarajaError, DarajaValidationError
from ..daraja.callbacks import C2BNotification
from ..daraja.records import status_record
from .mpesa_utils import check_manager


def _party(text):
    """'254708374149 - John Doe' -> ('254708374149', 'John Doe')."""
    number, _sep, name = (text or "").partition(" - ")
    return number.strip(), name.strip()


class MpesaConfig(models.Model):
    _inherit = "mpesa.config"

    def _lookup_receipt(self, receipt):
        """(our row, None) when we have the receipt, else (None, the id of the Transaction Status request
        sent: committed after this transaction began, read it in a later one). Raises DarajaError or
        UserError (no initiator)."""
        self.ensure_one()
        receipt = (receipt or "").strip().upper()
        if not (6 <= len(receipt) <= 20 and receipt.isascii() and receipt.isalnum()):
            raise DarajaValidationError(
                self.env._("An M-Pesa receipt is 10 letters and digits, e.g. SGR7ABC123")
            )
        row = (
            self.env["mpesa.callback"]
            .sudo()
            .search(
                [("mpesa_receipt_number", "=", receipt), ("company_id", "=", self.company_id.id)],
                order="duplicate_of_id desc, id",
                limit=1,
            )
        )
        if row:
            return row, None
        config = self.sudo()
        initiator = config._initiator()
        if not initiator:
            raise UserError(
                self.env._("This M-Pesa account has no initiator: a manager sets it on the account first.")
            )
        request_id = (
            self.env["mpesa.daraja.request"]
            .sudo()
            ._send(
                config,
                {"kind": "status", "receipt": receipt},
                lambda client: client.transaction_status(
                    receipt, initiator, config.result_url, config.queue_timeout_url
                ),
            )
        )
        return None, request_id


class MpesaDarajaRequest(models.Model):
    _inherit = "mpesa.daraja.request"

    def _on_result_of_status(self, result):
        record = status_record(result)
        if record is None:
            self.write({"outcome": "not_found" if result.code == "2032" else "refused"})
            return
        config = self.config_id
        shortcode, _name = _party(record.credit_party)
        ours = {config._get_c2b_shortcode(), (config.business_shortcode or "").strip()} - {""}
        if shortcode not in ours or record.amount is None or record.amount <= 0:
            self.write({"outcome": "not_ours", "amount": float(record.amount or 0)})
            return
        msisdn, name = _party(record.debit_party)
        first, _sep, rest = name.partition(" ")
        notification = C2BNotification(
            kind="c2b_confirmation",
            transaction_type="",
            trans_id=(record.receipt or self.receipt).upper(),
            trans_time=record.finalised_at or fields.Datetime.now(),
            amount=record.amount,
            business_short_code=shortcode,
            msisdn=msisdn,
            first_name=first,
            last_name=rest,
        )
        row = (
            self.env["mpesa.callback"]
            .sudo()
            ._c2b_process(notification, self.result_payload, "status", config, self.remote_addr)
        )
        self.write({"outcome": "found", "amount": float(record.amount), "callback_id": row.id})

    def _on_timeout_status(self):
        return None  # the row says so; the lookup can be asked again


class MpesaReceiptLookup(models.TransientModel):
    _name = "mpesa.receipt.lookup"
    _description = "Look Up an M-Pesa Receipt"

    receipt = fields.Char(required=True, help="The code on the customer's M-Pesa message, e.g. SGR7ABC123.")
    config_id = fields.Many2one(
        "mpesa.config",
        string="M-Pesa Account",
        required=True,
        default=lambda self: self.env.company.mpesa_config_id,
        domain="[('company_id', 'in', allowed_company_ids)]",
    )

    def action_look_up(self):
        self.ensure_one()
        check_manager(self.env, self.env._("Only Point of Sale managers can ask M-Pesa about a receipt."))
        try:
            row, request = self.config_id._lookup_receipt(self.receipt)
        except DarajaError as error:
            raise UserError(
                self.env._("Lookup failed: %(error)s", error=self.config_id._format_daraja_error(error))
            ) from None
        return {
            "type": "ir.actions.act_window",
            "res_model": row._name if row else "mpesa.daraja.request",
            "res_id": row.id if row else request,
            "view_mode": "form",
            "target": "current",
        }
