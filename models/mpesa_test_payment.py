"""Send a test C2B payment (sandbox and simulator accounts): Daraja posts a C2B confirmation to the
account's registered URLs, so an admin sees the whole path work before the shop opens, and the
payment appears in M-Pesa Callbacks and in the tills' C2B search like a customer's."""

from odoo import fields, models
from odoo.exceptions import UserError

from ..daraja import DarajaError, DarajaValidationError
from .mpesa_utils import check_manager


class MpesaTestPayment(models.TransientModel):
    _name = "mpesa.test.payment"
    _description = "Send a test M-Pesa C2B payment"

    config_id = fields.Many2one("mpesa.config", string="M-Pesa Account", required=True, ondelete="cascade")
    environment = fields.Selection(related="config_id.environment")
    amount = fields.Integer(required=True, default=1, help="Whole shillings, as M-Pesa takes them.")
    phone_number = fields.Char(
        string="Payer's phone", required=True, default="254708374149", help="07…, 01…, +254… or 254…"
    )
    bill_ref_number = fields.Char(string="Account reference", default="TEST")

    def action_send(self):
        self.ensure_one()
        check_manager(self.env, self.env._("Only Point of Sale managers can send test payments."))
        config = self.config_id.sudo()
        if config.environment == "production":
            raise UserError(self.env._("Test payments exist in the sandbox and the simulator only."))
        if not config.c2b_registered:
            raise UserError(
                self.env._("Register the C2B callback URLs first: the test payment is sent to them.")
            )
        try:
            answer = config._get_daraja_client().simulate_c2b(
                self.amount, self.phone_number or "", self.bill_ref_number or ""
            )
        except DarajaValidationError as error:
            raise UserError(error.message) from None
        except DarajaError as error:
            raise UserError(
                self.env._(
                    "M-Pesa refused the test payment: %(error)s", error=config._format_daraja_error(error)
                )
            ) from None
        return config._notification(
            self.env._("M-Pesa"),
            self.env._(
                "Test payment of %(amount)s sent (%(answer)s). It appears in M-Pesa Callbacks when "
                "M-Pesa posts its confirmation.",
                amount=self.amount,
                answer=answer.get("ResponseDescription") or answer.get("ResponseDesc") or "accepted",
            ),
            "success",
        )
