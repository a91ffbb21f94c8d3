import hmac
import ipaddress
import logging
import re
import secrets
from urllib.parse import urlsplit

from odoo import _lt, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import ormcache

from ..daraja import BANNED_WORDS, DarajaClient, DarajaConfig, DarajaError, is_loopback_host
from .mpesa_oauth_token import DbTokenStore
from .mpesa_utils import MANAGER_GROUP, check_manager

_logger = logging.getLogger(__name__)

# Paths sent to Safaricom. Safaricom refuses C2B URLs containing mpesa / m-pesa / safaricom /
# exe / exec / cmd / sql / query (any case), so none of these paths may contain them.
CALLBACK_PATH_STK = "/pos_lipa/cb/%s/stk"
CALLBACK_PATH_C2B_CONFIRM = "/pos_lipa/cb/%s/c2b/confirm"
CALLBACK_PATH_C2B_VALIDATE = "/pos_lipa/cb/%s/c2b/validate"
CALLBACK_PATH_RESULT = "/pos_lipa/cb/%s/result"  # Transaction Status and Reversal results
CALLBACK_PATH_TIMEOUT = "/pos_lipa/cb/%s/timeout"  # their queue-timeout notices
PUBLIC_CALLBACK_PATH = "/mpesa/callback"

# Safaricom's published callback source addresses (docs/daraja.md, "Callback security"), offered as a default
SAFARICOM_IPS = (
    "196.201.214.200 196.201.214.206 196.201.213.114 196.201.214.207 196.201.214.208 "
    "196.201.213.44 196.201.212.127 196.201.212.138 196.201.212.129 196.201.212.136 "
    "196.201.212.74 196.201.212.69"
)

TOKEN_RE = re.compile(r"^[0-9a-f]{16,128}$")
# The per-worker caches below (ormcache: every worker keeps its own copy, cleared in all of them at the
# next request after a clear is committed) live in Odoo's "default" cache. Odoo 19's cache names are
# fixed: a registry builds its caches from odoo/orm/registry.py's _REGISTRY_CACHES when it is created,
# before any addon is imported, and _CACHES_BY_KEY names the signaling tables every worker reads on every
# request: an addon cannot add one without patching Odoo's globals for every database of the server.
# "default" is the narrowest that fits: clearing it empties "default" and "templates.cached_values"
# only ("stable" empties "default" too; "templates", "routing", "assets" and "groups" hold compiled
# views, the URL map and asset bundles, dearer to rebuild than Odoo's small lookups in "default").
# So our caches are cleared only when one of their facts really changed (see each cache's fields).
MPESA_CACHE = "default"
# what an account's C2B shortcode is read from (_get_c2b_shortcode), a fact of several caches
SHORTCODE_FIELDS = frozenset({"c2b_shortcode", "account_type", "till_number", "business_shortcode"})


def _new_token():
    # lowercase hex: Daraja has been seen refusing upper-case callback URLs
    return secrets.token_hex(24)


def _mask_token(url, token):
    """URLs shown in answers to the browser hide the secret token."""
    if token and url:
        return url.replace(token, token[:4] + "…")
    return url


class MpesaConfig(models.Model):
    _name = "mpesa.config"
    _description = "M-Pesa Account"
    _order = "company_id, sequence, id"
    _check_company_auto = True

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    currency_id = fields.Many2one(
        "res.currency", compute="_compute_currency_id", help="M-Pesa works in Kenyan shillings."
    )
    environment = fields.Selection(
        [("sandbox", "Sandbox"), ("production", "Production"), ("simulator", "Local simulator")],
        required=True,
        default="sandbox",
    )
    simulator_url = fields.Char(
        string="Simulator URL",
        default="http://127.0.0.1:8765",
        help="Base URL of the local Daraja simulator (python -m daraja_simulator).",
    )
    account_type = fields.Selection(
        [("paybill", "Paybill"), ("till", "Till (Buy Goods)")], required=True, default="paybill"
    )
    business_shortcode = fields.Char(
        help="Paybill number, or for a Till the store / head-office number (BusinessShortCode).",
    )
    till_number = fields.Char(help="Till number receiving Buy Goods payments (PartyB). Till only.")
    c2b_shortcode = fields.Char(
        help="Shortcode whose C2B confirmations reach this account. Defaults to the paybill / till number.",
    )
    c2b_api_version = fields.Selection(
        [("v1", "v1"), ("v2", "v2")],
        string="C2B API Version",
        default="v2",
        required=True,
        help="Must match the C2B product of your Daraja app, otherwise Daraja answers 401.003.01.",
    )
    consumer_key = fields.Char(
        copy=False,
        groups=MANAGER_GROUP,
        help="Daraja portal → My Apps → your app → Consumer Key.",
    )
    consumer_secret = fields.Char(
        copy=False,
        groups=MANAGER_GROUP,
        help="Daraja portal → My Apps → your app → Consumer Secret.",
    )
    passkey = fields.Char(
        string="Lipa Na M-Pesa Passkey",
        copy=False,
        groups=MANAGER_GROUP,
        help="The Lipa Na M-Pesa Online passkey Safaricom e-mails after go-live "
        "(sandbox: test credentials page).",
    )
    callback_base_url = fields.Char(
        string="Callback Base URL",
        help="Public URL Safaricom calls back. Empty: this database's base URL. "
        "HTTPS is required in production.",
    )
    callback_token = fields.Char(
        copy=False,
        groups=MANAGER_GROUP,
        default=lambda self: _new_token(),
        help="Secret part of the callback URLs. Rotating it invalidates the registered C2B URLs.",
    )
    allowed_ips = fields.Text(
        string="Allowed Source IPs",
        help="Optional. Addresses (or networks) allowed to post to the public /mpesa/callback route "
        "without the token. Behind a proxy, Odoo must run with --proxy-mode.",
    )
    match_window = fields.Integer(
        string="Match Window (minutes)",
        default=10,
        help="How far back the till looks for a C2B payment of the exact amount.",
    )
    confirm_stk_with_query = fields.Boolean(
        string="Confirm STK results by query",
        compute="_compute_confirm_stk_with_query",
        store=True,
        readonly=False,
        help="A successful STK callback is trusted only after an STK query confirms it.",
    )
    c2b_registered = fields.Boolean(string="C2B URLs Registered", readonly=True, copy=False)
    c2b_registration_date = fields.Datetime(readonly=True, copy=False)
    c2b_registration_message = fields.Char(readonly=True, copy=False)
    last_test_date = fields.Datetime(readonly=True, copy=False)
    last_test_message = fields.Char(readonly=True, copy=False)

    stk_callback_url = fields.Char(
        string="STK Callback URL", compute="_compute_callback_urls", groups=MANAGER_GROUP
    )
    c2b_confirmation_url = fields.Char(
        string="C2B Confirmation URL", compute="_compute_callback_urls", groups=MANAGER_GROUP
    )
    c2b_validation_url = fields.Char(
        string="C2B Validation URL", compute="_compute_callback_urls", groups=MANAGER_GROUP
    )
    result_url = fields.Char(
        string="Result URL",
        compute="_compute_callback_urls",
        groups=MANAGER_GROUP,
        help="Where M-Pesa posts the results of receipt lookups and reversals.",
    )
    queue_timeout_url = fields.Char(
        string="Queue Timeout URL",
        compute="_compute_callback_urls",
        groups=MANAGER_GROUP,
        help="Where M-Pesa says that a lookup or reversal waited too long in its queue.",
    )
    public_callback_url = fields.Char(
        string="Public Callback URL",
        compute="_compute_callback_urls",
        help="The public route /mpesa/callback (sandbox tests, Postman). Production accepts it only with the "
        "token or from an allowed IP.",
    )
    callback_count = fields.Integer(compute="_compute_callback_count")

    _company_name_uniq = models.Constraint(
        "unique(company_id, name)", "An M-Pesa account with this name already exists in this company."
    )

    def _compute_currency_id(self):
        kes = self.env.ref("base.KES", raise_if_not_found=False)
        for config in self:
            config.currency_id = kes

    @api.depends("environment")
    def _compute_confirm_stk_with_query(self):
        for config in self:
            config.confirm_stk_with_query = config.environment == "production"

    @api.depends("callback_base_url", "callback_token")
    def _compute_callback_urls(self):
        for config in self:
            base = config._get_callback_base_url()
            token = config.sudo().callback_token or ""
            config.stk_callback_url = base + CALLBACK_PATH_STK % token
            config.c2b_confirmation_url = base + CALLBACK_PATH_C2B_CONFIRM % token
            config.c2b_validation_url = base + CALLBACK_PATH_C2B_VALIDATE % token
            config.result_url = base + CALLBACK_PATH_RESULT % token
            config.queue_timeout_url = base + CALLBACK_PATH_TIMEOUT % token
            config.public_callback_url = base + PUBLIC_CALLBACK_PATH

    def _compute_callback_count(self):
        groups = self.env["mpesa.callback"]._read_group(
            [("config_id", "in", self.ids)], ["config_id"], ["__count"]
        )
        counts = {config.id: count for config, count in groups}
        for config in self:
            config.callback_count = counts.get(config.id, 0)

    def _get_callback_base_url(self):
        self.ensure_one()
        return (self.callback_base_url or self.get_base_url() or "").strip().rstrip("/")

    # ------------------------------------------------------------------ constraints

    @api.constrains("environment", "callback_base_url")
    def _check_callback_base_url(self):
        for config in self:
            base = config._get_callback_base_url()
            parts = urlsplit(base)
            if config.callback_base_url and (parts.scheme not in ("http", "https") or not parts.netloc):
                raise ValidationError(
                    self.env._("The callback base URL must look like https://shop.example.com")
                )
            if config.callback_base_url and parts.query:
                raise ValidationError(self.env._("The callback base URL cannot carry a query string."))
            lowered = base.lower()
            if config.callback_base_url and any(word in lowered for word in BANNED_WORDS):
                raise ValidationError(
                    self.env._(
                        "Safaricom refuses callback URLs containing %(words)s: choose another host name.",
                        words=", ".join(BANNED_WORDS),
                    )
                )
            if config.environment == "production" and config.callback_base_url and parts.scheme != "https":
                raise ValidationError(self.env._("Production callback URLs must use HTTPS."))

    @api.constrains("business_shortcode", "till_number", "c2b_shortcode")
    def _check_shortcodes(self):
        for config in self:
            for label, value in (
                (self.env._("Business shortcode"), config.business_shortcode),
                (self.env._("Till number"), config.till_number),
                (self.env._("C2B shortcode"), config.c2b_shortcode),
            ):
                if value and not value.strip().isdigit():
                    raise ValidationError(self.env._("%(field)s must contain digits only.", field=label))

    @api.constrains("match_window")
    def _check_match_window(self):
        for config in self:
            if not 1 <= config.match_window <= 1440:
                raise ValidationError(self.env._("The match window must be between 1 and 1440 minutes."))

    @api.constrains("allowed_ips")
    def _check_allowed_ips(self):
        for config in self:
            try:
                config._get_allowed_networks()
            except ValueError as error:
                raise ValidationError(
                    self.env._("Invalid IP address or network: %(error)s", error=error)
                ) from None

    @api.constrains("simulator_url", "environment")
    def _check_simulator_url(self):
        for config in self:
            if config.environment == "simulator":
                parts = urlsplit(config.simulator_url or "")
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    raise ValidationError(
                        self.env._("The simulator needs a URL such as http://127.0.0.1:8765")
                    )
                if not is_loopback_host(parts.hostname):
                    raise ValidationError(
                        self.env._(
                            "The local simulator must run on this machine (127.0.0.1, ::1 or localhost): "
                            "an account's credentials are never sent to another host in simulator mode."
                        )
                    )

    # ------------------------------------------------------------------ ORM

    def write(self, vals):
        credential_fields = {
            "environment",
            "simulator_url",
            "consumer_key",
            "consumer_secret",
            "business_shortcode",
        }
        res = super().write(vals)
        if self._mpesa_cached_fields() & set(vals):
            self._mpesa_clear_caches()
        if credential_fields & set(vals):
            # a token issued for other credentials is useless (and would be sent to the wrong host)
            tokens = self.env["mpesa.oauth.token"].sudo().search([("config_id", "in", self.ids)])
            tokens.write({"access_token": False, "expires_at": 0})
        return res

    @api.model_create_multi
    def create(self, vals_list):
        configs = super().create(vals_list)
        configs._mpesa_clear_caches()  # a new token to accept, new siblings for the C2B search
        return configs

    def unlink(self):
        res = super().unlink()
        self._mpesa_clear_caches()  # its token must stop authenticating at once
        return res

    @api.ondelete(at_uninstall=False)
    def _unlink_except_used(self):
        if self.env["mpesa.callback"].sudo().search_count([("config_id", "in", self.ids)], limit=1):
            raise UserError(
                self.env._("An M-Pesa account with logged payments cannot be deleted; archive it.")
            )

    # ------------------------------------------------------------------ helpers

    def _get_allowed_networks(self):
        self.ensure_one()
        networks = []
        for item in (self.allowed_ips or "").replace(",", " ").split():
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        return networks

    def _is_ip_allowed(self, address):
        self.ensure_one()
        if not address:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._get_allowed_networks())

    @api.model
    def _from_callback_token(self, token):
        """The active account whose callback token this is, compared in constant time; else empty."""
        found = None
        if not isinstance(token, str) or not TOKEN_RE.match(token):
            return self.browse()
        for config_id, expected in self._callback_tokens():
            if hmac.compare_digest(expected.encode(), token.encode()):
                found = config_id
        return self.sudo().browse(found) if found else self.browse()

    # ------------------------------------------------------------------ per-worker caches
    # Each cache with the account fields its value is read from. Odoo clears a whole cache, not one
    # method's entries: writing a field of any of these lists (or the payment method's, or the C2B
    # search's siblings') clears them all, in every worker; creating or deleting an account too.

    # active: archived accounts are not searched
    _MPESA_TOKEN_FIELDS = frozenset({"callback_token", "active"})

    @api.model
    @ormcache(cache=MPESA_CACHE)
    def _callback_tokens(self):
        """(id, token) of every active account, cached in every worker: a callback costs no query
        to authenticate."""
        configs = self.sudo().search([("callback_token", "!=", False)])
        return tuple((config.id, config.callback_token) for config in configs)

    _MPESA_CALLBACK_FACT_FIELDS = frozenset(
        {"company_id", "environment", "confirm_stk_with_query", *SHORTCODE_FIELDS}
    )

    @ormcache("self.id", cache=MPESA_CACHE)
    def _callback_facts(self):
        """(company id, C2B shortcode, environment, confirm STK by query): what every callback needs,
        cached in every worker."""
        self.ensure_one()
        config = self.sudo()
        return (
            config.company_id.id,
            config._get_c2b_shortcode(),
            config.environment,
            config.confirm_stk_with_query,
        )

    # _is_configured reads the credentials, the shortcodes, the environment and the simulator's URL
    _MPESA_TILL_FACT_FIELDS = frozenset(
        {
            "active",
            "company_id",
            "match_window",
            "consumer_key",
            "consumer_secret",
            "passkey",
            "environment",
            "simulator_url",
            *SHORTCODE_FIELDS,
        }
    )

    @ormcache("self.id", cache=MPESA_CACHE)
    def _till_facts(self):
        """(usable: active and configured, company id, match window): what every till request
        needs, cached in every worker."""
        self.ensure_one()
        config = self.sudo()
        return (bool(config.active and config._is_configured()), config.company_id.id, config.match_window)

    def _mpesa_cached_fields(self):
        """The account fields a per-worker cache is read from: writing one of them clears the caches."""
        return (
            self._MPESA_TOKEN_FIELDS
            | self._MPESA_CALLBACK_FACT_FIELDS
            | self._MPESA_TILL_FACT_FIELDS
            | self.env["mpesa.callback"]._MPESA_SIBLING_FIELDS
        )

    def _mpesa_clear_caches(self):
        """An M-Pesa fact changed: the per-worker caches are cleared here and, once this transaction
        is committed, in every worker (a rollback clears them again here)."""
        self.env.registry.clear_cache(MPESA_CACHE)

    def _get_c2b_shortcode(self):
        self.ensure_one()
        if self.c2b_shortcode:
            return self.c2b_shortcode.strip()
        if self.account_type == "till" and self.till_number:
            return self.till_number.strip()
        return (self.business_shortcode or "").strip()

    def _is_configured(self):
        self.ensure_one()
        config = self.sudo()
        required = [config.consumer_key, config.consumer_secret, config.business_shortcode, config.passkey]
        if config.account_type == "till":
            required.append(config.till_number)
        if config.environment == "simulator":
            required.append(config.simulator_url)
        return all(value and value.strip() for value in required)

    def _get_daraja_config(self):
        self.ensure_one()
        config = self.sudo()
        return DarajaConfig(
            environment=config.environment,
            consumer_key=(config.consumer_key or "").strip(),
            consumer_secret=(config.consumer_secret or "").strip(),
            passkey=(config.passkey or "").strip(),
            account_type=config.account_type,
            business_shortcode=(config.business_shortcode or "").strip(),
            till_number=(config.till_number or "").strip() or None,
            c2b_shortcode=(config.c2b_shortcode or "").strip() or None,
            c2b_api_version=config.c2b_api_version,
            base_url=(config.simulator_url or "").strip() if config.environment == "simulator" else None,
        )

    @api.private
    def _get_daraja_client(self):
        """The Daraja client for this account, with the OAuth token shared through the database."""
        self.ensure_one()
        if not self._is_configured():
            raise UserError(str(_lt("M-Pesa not configured")))
        store = DbTokenStore(self.env.registry, self.id)
        return DarajaClient(self._get_daraja_config(), token_store=store)

    # ------------------------------------------------------------------ actions

    def action_test_connection(self):
        """Ask Daraja for a fresh OAuth token; show success or Daraja's exact error."""
        self.ensure_one()
        check_manager(self.env, self.env._("Only Point of Sale managers can manage M-Pesa accounts."))
        if not self._is_configured():
            raise UserError(
                self.env._(
                    "M-Pesa not configured: fill in the consumer key and secret, "
                    "the shortcode and the passkey."
                )
            )
        try:
            self._get_daraja_client().get_access_token(force_refresh=True)
        except DarajaError as error:
            message = self._format_daraja_error(error)
            self.sudo().write({"last_test_date": fields.Datetime.now(), "last_test_message": message})
            return self._notification(self.env._("Connection failed"), message, "danger", sticky=True)
        message = self.env._("Connection successful: Daraja issued an access token.")
        self.sudo().write({"last_test_date": fields.Datetime.now(), "last_test_message": message})
        return self._notification(self.env._("M-Pesa"), message, "success")

    def action_register_c2b_urls(self):
        self.ensure_one()
        check_manager(self.env, self.env._("Only Point of Sale managers can manage M-Pesa accounts."))
        result = self._register_c2b_urls(force=self.env.context.get("mpesa_force_register", False))
        if not result["success"]:
            raise UserError(result["message"])
        message = self.env._(
            "%(message)s for shortcode %(shortcode)s.\n"
            "Confirmation: %(confirmation)s\nValidation: %(validation)s",
            message=result["message"],
            shortcode=result["shortcode"],
            confirmation=result["confirmation_url"],
            validation=result["validation_url"],
        )
        return self._notification(self.env._("M-Pesa"), message, "success", sticky=True)

    def action_rotate_callback_token(self):
        self.ensure_one()
        check_manager(self.env, self.env._("Only Point of Sale managers can manage M-Pesa accounts."))
        self.sudo().write({"callback_token": _new_token(), "c2b_registered": False})
        return self._notification(
            self.env._("M-Pesa"),
            self.env._("New callback token generated. Register the C2B URLs again."),
            "warning",
            sticky=True,
        )

    def action_view_callbacks(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("pos_mpesa.action_mpesa_callback")
        action["domain"] = [("config_id", "=", self.id)]
        action["context"] = {}
        return action

    @api.private
    def _register_c2b_urls(self, force=False):
        """Register this account's C2B URLs; returns {success, message, confirmation_url, validation_url}."""
        self.ensure_one()
        if not self._is_configured():
            return {"success": False, "message": str(_lt("M-Pesa not configured"))}
        config = self.sudo()
        if config.environment == "production" and config.c2b_registered and not force:
            return {
                "success": False,
                "message": self.env._(
                    "C2B URLs are already registered. Safaricom allows it only once in production: "
                    "delete them in the Daraja portal (URL Management) before registering again."
                ),
            }
        confirmation_url, validation_url = config.c2b_confirmation_url, config.c2b_validation_url
        try:
            response = self._get_daraja_client().register_c2b_urls(confirmation_url, validation_url)
        except DarajaError as error:
            message = self._format_daraja_error(error)
            config.write({"c2b_registration_message": message})
            return {"success": False, "message": message}
        message = str(_lt("C2B URLs registered successfully"))
        vals = {
            "c2b_registered": True,
            "c2b_registration_date": fields.Datetime.now(),
            "c2b_registration_message": getattr(response, "response_description", "") or message,
        }
        if response.api_version and response.api_version != config.c2b_api_version:
            # the app has the other C2B product: the client tried it once and Daraja took it
            vals["c2b_api_version"] = response.api_version
            vals["c2b_registration_message"] = message = self.env._(
                "%(message)s with C2B API version %(version)s (Daraja refused %(refused)s): the account "
                "now uses %(version)s.",
                message=message,
                version=response.api_version,
                refused=config.c2b_api_version,
            )
        config.write(vals)
        return {
            "success": True,
            "message": message,
            "shortcode": config._get_c2b_shortcode(),
            "confirmation_url": _mask_token(confirmation_url, config.callback_token),
            "validation_url": _mask_token(validation_url, config.callback_token),
        }

    def _format_daraja_error(self, error):
        code = getattr(error, "error_code", None)
        text = getattr(error, "error_message", None) or getattr(error, "message", None) or str(error)
        return f"{code}: {text}" if code else text

    def _notification(self, title, message, kind, sticky=False):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"title": title, "message": message, "type": kind, "sticky": sticky},
        }

    @api.model
    def _setup_demo_pos_payment_method(self, config_id):
        """Demo data: an 'M-Pesa' bank method on the demo shop, paid through the simulator account."""
        config = self.browse(config_id)
        company = config.company_id
        company.mpesa_config_id = config
        journal = self.env["account.journal"].search(
            [("code", "=", "MPESA"), ("company_id", "=", company.id)], limit=1
        ) or self.env["account.journal"].with_company(company).create(
            {"name": "M-Pesa", "type": "bank", "code": "MPESA", "company_id": company.id}
        )
        method = (
            self.env["pos.payment.method"]
            .with_company(company)
            .create(
                {
                    "name": "M-Pesa",
                    "journal_id": journal.id,
                    "company_id": company.id,
                    "payment_method_type": "terminal",
                    "use_payment_terminal": "mpesa",
                    "mpesa_config_id": config.id,
                }
            )
        )
        shop = self.env.ref("point_of_sale.pos_config_main", raise_if_not_found=False)
        if shop and not shop.current_session_id:
            shop.write({"payment_method_ids": [(4, method.id)]})
        return method.id
