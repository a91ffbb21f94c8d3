import re

from odoo import api, fields, models
from odoo.tools import ormcache

# "M-Pesa", "mpesa", "M Pesa", "Lipa na M-Pesa"...
MPESA_NAME_RE = re.compile(r"m[\s\-_]?pesa", re.IGNORECASE)
# what _mpesa_method_facts caches: a change to one of these, on an M-Pesa method, clears it in every worker
FACT_FIELDS = frozenset({"active", "company_id", "use_payment_terminal", "mpesa_config_id"})


class PosPaymentMethod(models.Model):
    _inherit = "pos.payment.method"

    mpesa_config_id = fields.Many2one(
        "mpesa.config",
        string="M-Pesa Account",
        check_company=True,
        domain="[('company_id', '=', company_id)]",
        help="The M-Pesa paybill or till this payment method receives on.",
    )
    mpesa_match_window = fields.Integer(
        related="mpesa_config_id.match_window", string="M-Pesa Match Window (minutes)"
    )
    mpesa_stk_callback_url = fields.Char(
        related="mpesa_config_id.stk_callback_url",
        string="STK Callback URL",
        groups="point_of_sale.group_pos_manager",
    )
    mpesa_c2b_confirmation_url = fields.Char(
        related="mpesa_config_id.c2b_confirmation_url",
        string="C2B Confirmation URL",
        groups="point_of_sale.group_pos_manager",
    )
    mpesa_c2b_validation_url = fields.Char(
        related="mpesa_config_id.c2b_validation_url",
        string="C2B Validation URL",
        groups="point_of_sale.group_pos_manager",
    )

    def _get_payment_terminal_selection(self):
        return [*super()._get_payment_terminal_selection(), ("mpesa", "M-Pesa")]

    @api.model
    def _load_pos_data_fields(self, config):
        # non-secret only: the account id and its match window
        return [*super()._load_pos_data_fields(config), "mpesa_config_id", "mpesa_match_window"]

    @api.model
    def _mpesa_default_vals(self, vals):
        """A method named like M-Pesa gets the M-Pesa terminal and the company's default account."""
        name = vals.get("name") or ""
        if not isinstance(name, str) or not MPESA_NAME_RE.search(name) or vals.get("use_payment_terminal"):
            return vals
        if vals.get("payment_method_type", "none") not in ("none", "terminal"):
            return vals
        journal = self.env["account.journal"].browse(vals["journal_id"]) if vals.get("journal_id") else None
        if journal is None or journal.type != "bank":
            return vals  # cash and customer-account methods cannot use a terminal
        company = (
            self.env["res.company"].browse(vals.get("company_id"))
            if vals.get("company_id")
            else self.env.company
        )
        vals = dict(vals, payment_method_type="terminal", use_payment_terminal="mpesa")
        if not vals.get("mpesa_config_id") and company.sudo().mpesa_config_id:
            vals["mpesa_config_id"] = company.sudo().mpesa_config_id.id
        return vals

    @api.model_create_multi
    def create(self, vals_list):
        methods = super().create([self._mpesa_default_vals(vals) for vals in vals_list])
        if methods._mpesa_any():
            methods._mpesa_clear_method_facts()
        return methods

    def write(self, vals):
        was_mpesa = FACT_FIELDS & set(vals) and self._mpesa_any()
        res = super().write(vals)
        if FACT_FIELDS & set(vals) and (was_mpesa or self._mpesa_any()):
            self._mpesa_clear_method_facts()
        return res

    def unlink(self):
        was_mpesa = self._mpesa_any()
        res = super().unlink()
        if was_mpesa:
            self._mpesa_clear_method_facts()
        return res

    def _mpesa_any(self):
        return any(method.use_payment_terminal == "mpesa" for method in self)

    def _mpesa_clear_method_facts(self):
        """An M-Pesa method changed: _mpesa_method_facts is cleared in every worker. Odoo's cache keys
        are fixed ('default' is the narrowest: it also holds Odoo's own small caches), so it is cleared
        only when an M-Pesa fact changed: another method's change never touches it (its facts only
        choose between two refusals of the till's request)."""
        self.env.registry.clear_cache()

    @api.model
    @ormcache("method_id")
    def _mpesa_method_facts(self, method_id):
        """(company id, is an M-Pesa method, its M-Pesa account id) of an active payment method, or
        None: what every till request needs, cached in every worker (no query per request)."""
        method = self.sudo().search([("id", "=", method_id)])  # archived: not found
        if not method:
            return None
        return (method.company_id.id, method.use_payment_terminal == "mpesa", method.mpesa_config_id.id)

    @api.onchange("name")
    def _onchange_name_mpesa(self):
        for method in self:
            if (
                method.name
                and MPESA_NAME_RE.search(method.name)
                and not method.use_payment_terminal
                and not method.is_cash_count
                and method.type != "pay_later"
            ):
                method.payment_method_type = "terminal"
                method.use_payment_terminal = "mpesa"
                if not method.mpesa_config_id:
                    method.mpesa_config_id = method.company_id.sudo().mpesa_config_id

    @api.onchange("use_payment_terminal")
    def _onchange_use_payment_terminal(self):
        res = super()._onchange_use_payment_terminal()
        for method in self:
            if method.use_payment_terminal != "mpesa":
                method.mpesa_config_id = False
            elif not method.mpesa_config_id:
                method.mpesa_config_id = method.company_id.sudo().mpesa_config_id
        return res
