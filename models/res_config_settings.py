from odoo import api, fields, models
from odoo.exceptions import UserError

MANAGER = "point_of_sale.group_pos_manager"

# settings field -> mpesa.config field (plain values)
PLAIN_FIELDS = {
    "mpesa_environment": "environment",
    "mpesa_simulator_url": "simulator_url",
    "mpesa_account_type": "account_type",
    "mpesa_business_shortcode": "business_shortcode",
    "mpesa_till_number": "till_number",
    "mpesa_c2b_shortcode": "c2b_shortcode",
    "mpesa_c2b_api_version": "c2b_api_version",
    "mpesa_callback_base_url": "callback_base_url",
}
# secrets are never sent back to the browser: an empty field means "keep the stored value"
SECRET_FIELDS = {
    "mpesa_consumer_key": "consumer_key",
    "mpesa_consumer_secret": "consumer_secret",
    "mpesa_passkey": "passkey",
}


class ResConfigSettings(models.TransientModel):
    """Settings → M-Pesa Integration: the company's default M-Pesa account."""

    _inherit = "res.config.settings"

    mpesa_config_id = fields.Many2one(
        "mpesa.config", string="Default M-Pesa Account", domain="[('company_id', '=', company_id)]"
    )
    mpesa_environment = fields.Selection(
        [("sandbox", "Sandbox"), ("production", "Production"), ("simulator", "Local simulator")],
        string="M-Pesa Environment",
        default="sandbox",
    )
    mpesa_simulator_url = fields.Char(string="Simulator URL")
    mpesa_account_type = fields.Selection(
        [("paybill", "Paybill"), ("till", "Till (Buy Goods)")],
        string="M-Pesa Account Type",
        default="paybill",
    )
    mpesa_business_shortcode = fields.Char(string="Business Shortcode")
    mpesa_till_number = fields.Char(string="Till Number")
    mpesa_c2b_shortcode = fields.Char(string="C2B Shortcode")
    mpesa_c2b_api_version = fields.Selection(
        [("v1", "v1"), ("v2", "v2")], string="C2B API Version", default="v2"
    )
    mpesa_callback_base_url = fields.Char(string="Callback Base URL")
    mpesa_consumer_key = fields.Char(string="Consumer Key", groups=MANAGER)
    mpesa_consumer_secret = fields.Char(string="Consumer Secret", groups=MANAGER)
    mpesa_passkey = fields.Char(string="Lipa Na M-Pesa Passkey", groups=MANAGER)
    mpesa_credentials_set = fields.Boolean(string="Credentials Stored", readonly=True)
    mpesa_c2b_registered = fields.Boolean(string="C2B URLs Registered", readonly=True)
    mpesa_confirmation_url = fields.Char(string="C2B Confirmation URL", readonly=True, groups=MANAGER)
    mpesa_validation_url = fields.Char(string="C2B Validation URL", readonly=True, groups=MANAGER)

    @api.model
    def get_values(self):
        res = super().get_values()
        config = self.env.company.sudo().mpesa_config_id
        res["mpesa_config_id"] = config.id
        if config:
            for setting, field in PLAIN_FIELDS.items():
                res[setting] = config[field]
            res["mpesa_credentials_set"] = config._is_configured()
            res["mpesa_c2b_registered"] = config.c2b_registered
            if self.env.user.has_group(MANAGER):
                res["mpesa_confirmation_url"] = config.c2b_confirmation_url
                res["mpesa_validation_url"] = config.c2b_validation_url
        return res

    def set_values(self):
        res = super().set_values()
        self._mpesa_save()
        return res

    def _mpesa_save(self):
        """Write the block into the company's default account (created on first use)."""
        self.ensure_one()
        company = self.company_id or self.env.company
        config = self.mpesa_config_id
        if config != company.sudo().mpesa_config_id:
            company.sudo().mpesa_config_id = config
        vals = {field: self[setting] for setting, field in PLAIN_FIELDS.items()}
        if self.env.user.has_group(MANAGER):
            for setting, field in SECRET_FIELDS.items():
                if self[setting]:
                    vals[field] = self[setting].strip()
        elif any(self.sudo()[setting] for setting in SECRET_FIELDS):
            raise UserError(self.env._("Only Point of Sale managers can change M-Pesa credentials."))
        meaningful = any(
            vals.get(f) for f in ("business_shortcode", "consumer_key", "consumer_secret", "passkey")
        )
        if not config:
            if not meaningful:
                return config
            if not self.env.user.has_group(MANAGER):
                raise UserError(self.env._("Only Point of Sale managers can create M-Pesa accounts."))
            config = (
                self.env["mpesa.config"]
                .sudo()
                .create(
                    {
                        "name": self.env._("%(company)s M-Pesa", company=company.name),
                        "company_id": company.id,
                        **{k: v for k, v in vals.items() if v},
                    }
                )
            )
            company.sudo().mpesa_config_id = config
            self.mpesa_config_id = config
            return config
        changed = {k: v for k, v in vals.items() if (config.sudo()[k] or False) != (v or False)}
        if changed:
            config.sudo().write(changed)
        return config

    def _mpesa_config_or_raise(self):
        config = self._mpesa_save()
        if not config:
            raise UserError(self.env._("M-Pesa not configured: fill in the M-Pesa Integration block first."))
        return config

    def action_mpesa_test_connection(self):
        return self._mpesa_config_or_raise().action_test_connection()

    def action_mpesa_register_c2b(self):
        return (
            self._mpesa_config_or_raise()
            .with_context(mpesa_force_register=self.env.context.get("mpesa_force_register", False))
            .action_register_c2b_urls()
        )

    def action_mpesa_open_account(self):
        config = self._mpesa_config_or_raise()
        return {
            "type": "ir.actions.act_window",
            "res_model": "mpesa.config",
            "res_id": config.id,
            "view_mode": "form",
            "target": "current",
        }
