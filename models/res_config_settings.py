from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    """Settings → Point of Sale → M-Pesa: choose the company's default account; everything else is on it."""

    _inherit = "res.config.settings"

    mpesa_config_id = fields.Many2one(
        related="company_id.mpesa_config_id", readonly=False, string="Default M-Pesa Account"
    )
    mpesa_environment = fields.Selection(related="mpesa_config_id.environment")
    mpesa_c2b_registered = fields.Boolean(related="mpesa_config_id.c2b_registered")

    def action_mpesa_test_connection(self):
        return self.mpesa_config_id.action_test_connection()

    def action_mpesa_register_c2b(self):
        return self.mpesa_config_id.action_register_c2b_urls()

    def action_mpesa_open_account(self):
        """The account's own form: the selected account, or a new one for this company."""
        return {
            "type": "ir.actions.act_window",
            "res_model": "mpesa.config",
            "res_id": self.mpesa_config_id.id,
            "view_mode": "form",
            "target": "current",
            "context": {"default_company_id": self.company_id.id},
        }
