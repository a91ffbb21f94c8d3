from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    mpesa_config_id = fields.Many2one(
        "mpesa.config",
        string="Default M-Pesa Account",
        domain="[('company_id', '=', id)]",
        help="Chosen in Settings → Point of Sale → M-Pesa; used by tills whose payment method has none.",
    )
