import re

from odoo import api, fields, models
from odoo.tools import ormcache

from .mpesa_config import MPESA_CACHE

# "M-Pesa", "mpesa", "M Pesa", "Lipa na M-Pesa"...
MPESA_NAME_RE = re.compile(r"m[\s\-_]?pesa", re.IGNORECASE)


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
        if methods._mpesa_facts_now():
            methods._mpesa_clear_method_facts()  # a till may have asked for this id before it existed
        return methods

    def write(self, vals):
        # Odoo's write turns a payment_method_type into use_payment_terminal (False unless 'terminal')
        if not (self._MPESA_FACT_FIELDS | {"payment_method_type"}) & set(vals):
            return super().write(vals)
        before = self._mpesa_facts_now()
        res = super().write(vals)
        if self._mpesa_facts_now() != before:
            self._mpesa_clear_method_facts()
        return res

    def unlink(self):
        was_mpesa = bool(self._mpesa_facts_now())
        res = super().unlink()
        if was_mpesa:
            self._mpesa_clear_method_facts()
        return res

    # ------------------------------------------------------------------ the per-worker cache
    # _mpesa_method_facts with the fields it is read from: a change of one of them, on a method that is
    # or was an M-Pesa method, clears it in every worker. Another method's change never clears it: its
    # facts only choose between two refusals of the till's request ("Unknown payment method", "not an
    # M-Pesa payment method"). It lives in the cache of the account's caches, so that deleting an
    # account (the database empties its methods' mpesa_config_id) clears it too.
    _MPESA_FACT_FIELDS = frozenset({"active", "company_id", "use_payment_terminal", "mpesa_config_id"})

    def _mpesa_facts(self):
        """(company id, is an M-Pesa method, its M-Pesa account id) of an active method, else None."""
        self.ensure_one()
        if not self.active:
            return None
        return (self.company_id.id, self.use_payment_terminal == "mpesa", self.mpesa_config_id.id)

    def _mpesa_facts_now(self):
        """{id: facts} of those of these methods that are M-Pesa methods (archived ones included)."""
        return {
            method.id: method._mpesa_facts()
            for method in self.sudo()
            if method.use_payment_terminal == "mpesa"
        }

    def _mpesa_clear_method_facts(self):
        """An M-Pesa method's fact changed: _mpesa_method_facts is cleared here and, once this
        transaction is committed, in every worker."""
        self.env.registry.clear_cache(MPESA_CACHE)

    @api.model
    @ormcache("method_id", cache=MPESA_CACHE)
    def _mpesa_method_facts(self, method_id):
        """_mpesa_facts of an active payment method, else None: what every till request needs, cached
        in every worker (no query per request)."""
        method = self.sudo().search([("id", "=", method_id)])  # archived: not found
        return method._mpesa_facts() if method else None

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
