"""One pos_mpesa cache off for one request: `make bench` measures what each per-worker cache saves.

A request whose query string says `bench_cache_off=<name>` computes that cache's value afresh (the
method under its ormcache, `__wrapped__`) instead of reading the cache; every other request uses the
cache as production does. pos_mpesa itself knows nothing of this: the bench addon is never shipped.
"""

from odoo import api, models
from odoo.http import request

CACHES = {
    "callback_tokens": ("mpesa.config", "_callback_tokens"),
    "callback_facts": ("mpesa.config", "_callback_facts"),
    "till_facts": ("mpesa.config", "_till_facts"),
    "method_facts": ("pos.payment.method", "_mpesa_method_facts"),
    "search_accounts": ("mpesa.callback", "_c2b_search_account_ids"),
}


def _off(name):
    try:
        return request and request.httprequest.args.get("bench_cache_off") == name
    except RuntimeError:  # no request (cron, shell)
        return False


def _uncached(record, method, *args):
    """The cached method's own code, below its ormcache."""
    for klass in type(record).mro():
        func = klass.__dict__.get(method)
        if func is not None and hasattr(func, "__cache__"):
            return func.__wrapped__(record, *args)
    raise AttributeError(f"{method} is not cached")


class MpesaConfig(models.Model):
    _inherit = "mpesa.config"

    @api.model
    def _callback_tokens(self):
        if _off("callback_tokens"):
            return _uncached(self, "_callback_tokens")
        return super()._callback_tokens()

    def _callback_facts(self):
        if _off("callback_facts"):
            return _uncached(self, "_callback_facts")
        return super()._callback_facts()

    def _till_facts(self):
        if _off("till_facts"):
            return _uncached(self, "_till_facts")
        return super()._till_facts()


class PosPaymentMethod(models.Model):
    _inherit = "pos.payment.method"

    @api.model
    def _mpesa_method_facts(self, method_id):
        if _off("method_facts"):
            return _uncached(self, "_mpesa_method_facts", method_id)
        return super()._mpesa_method_facts(method_id)


class MpesaCallback(models.Model):
    _inherit = "mpesa.callback"

    @api.model
    def _c2b_search_account_ids(self, config_id):
        if _off("search_accounts"):
            return _uncached(self, "_c2b_search_account_ids", config_id)
        return super()._c2b_search_account_ids(config_id)
