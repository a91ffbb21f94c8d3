"""pos_mpesa's per-worker caches (ormcache; `make bench` prints what each one saves) are cleared when an
M-Pesa fact changes, and only then; every fact change is seen by the next request.

The observable: a value planted in each cache (ormcache's own add_value) is what the cached method
answers until the cache is cleared."""

from odoo import Command
from odoo.tests import tagged

from .common import MpesaCase, c2b_confirmation, stk_callback

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
PLANTED = ("planted",)


def ormcache_of(model, name):
    """The ormcache of a model's cached method."""
    for klass in type(model).mro():
        func = klass.__dict__.get(name)
        if func is not None and hasattr(func, "__cache__"):
            return func.__cache__
    raise AssertionError(f"{model._name}.{name} is not cached")


@tagged("post_install", "-at_install")
class TestCaches(MpesaCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Config = cls.env["mpesa.config"].sudo()
        cls.Method = cls.env["pos.payment.method"].sudo()
        cls.other_company = cls.env["res.company"].create({"name": "Cache Branch", "currency_id": cls.kes.id})
        cls.env.user.company_ids = [Command.link(cls.other_company.id)]

    # ------------------------------------------------------------------ helpers

    def plant(self):
        """PLANTED in each of our caches, where the real value of this shop's account and method is."""
        Config, Method, Callback = self.Config, self.Method, self.Callback
        config, method = self.mpesa_config, self.mpesa_method
        ormcache_of(Config, "_callback_tokens").add_value(Config, cache_value=PLANTED)
        ormcache_of(Config, "_callback_facts").add_value(config, cache_value=PLANTED)
        ormcache_of(Config, "_till_facts").add_value(config, cache_value=PLANTED)
        ormcache_of(Method, "_mpesa_method_facts").add_value(Method, method.id, cache_value=PLANTED)
        ormcache_of(Callback, "_c2b_search_account_ids").add_value(Callback, config.id, cache_value=PLANTED)

    def answers(self):
        """What each cache answers now."""
        config = self.mpesa_config.sudo()
        return {
            "_callback_tokens": self.Config._callback_tokens(),
            "_callback_facts": config._callback_facts(),
            "_till_facts": config._till_facts(),
            "_mpesa_method_facts": self.Method._mpesa_method_facts(self.mpesa_method.id),
            "_c2b_search_account_ids": self.Callback._c2b_search_account_ids(config.id),
        }

    def assertKept(self, what):
        answers = self.answers()
        self.assertEqual(answers, dict.fromkeys(answers, PLANTED), f"{what} cleared the caches")

    def assertCleared(self, what):
        kept = [name for name, value in self.answers().items() if value == PLANTED]
        self.assertFalse(kept, f"{what} left these caches: {kept}")

    def account(self, label, **vals):
        return self.Config.create(
            {
                "name": f"Cache {label}",
                "company_id": self.company.id,
                "environment": "simulator",
                "simulator_url": self.sim.base_url,
                "account_type": "paybill",
                "business_shortcode": "174379",
                "c2b_shortcode": "600984",
                "consumer_key": "sim-consumer-key",
                "consumer_secret": "sim-consumer-secret",
                "passkey": self.mpesa_config.passkey,
                "callback_base_url": "http://127.0.0.1:9",
                **vals,
            }
        )

    def mpesa_method_of(self, config, name="M-Pesa Cache", company=None):
        company = company or self.company
        journal = self.env["account.journal"].create(
            {"name": name, "type": "bank", "code": name[-4:].upper(), "company_id": company.id}
        )
        return self.Method.create(
            {"name": name, "journal_id": journal.id, "company_id": company.id, "mpesa_config_id": config.id}
        )

    def elsewhere(self):
        """What moves an M-Pesa method to the other company: its journal and account go along."""
        journal = self.env["account.journal"].create(
            {"name": "Elsewhere", "type": "bank", "code": "ELSW", "company_id": self.other_company.id}
        )
        account = self.account("Elsewhere", company_id=self.other_company.id)
        return {"company_id": self.other_company.id, "journal_id": journal.id, "mpesa_config_id": account.id}

    def search(self, method=None):
        params = {"amount": 100, "payment_method_id": (method or self.mpesa_method).id}
        return self.rpc("/mpesa/search_unreconciled_callbacks", params)

    def offered(self, method=None):
        return {row["trans_id"] for row in self.search(method).get("callbacks", [])}

    # ------------------------------------------------------------------ (a) cleared only by an M-Pesa fact

    def test_another_payment_method_leaves_the_caches(self):
        self.plant()
        card = self.Method.create({"name": "Card"})
        card.write({"name": "Card 2", "company_id": self.other_company.id, "active": False})
        card.write({"active": True, "payment_method_type": "none"})
        card.unlink()
        self.assertKept("a payment method that is not M-Pesa")

    def test_an_mpesa_method_change_that_is_no_fact_leaves_the_caches(self):
        self.plant()
        self.mpesa_method.write({"name": "M-Pesa renamed", "sequence": 42})
        self.mpesa_method.write({"active": True, "mpesa_config_id": self.mpesa_config.id})  # the same facts
        self.assertKept("an M-Pesa method's write of no new fact")

    def test_every_mpesa_method_fact_clears_the_caches(self):
        other = self.account("Other Method Account")
        self.plant()
        method = self.mpesa_method_of(self.mpesa_config)
        self.assertEqual(method.use_payment_terminal, "mpesa")
        self.assertCleared("an M-Pesa method's creation")
        for vals in (
            {"mpesa_config_id": other.id},
            {"active": False},
            {"active": True},
            self.elsewhere(),
            {"use_payment_terminal": False},  # no longer an M-Pesa method
            {"use_payment_terminal": "mpesa"},
            {"payment_method_type": "none"},  # Odoo's write empties use_payment_terminal
        ):
            self.plant()
            method.write(vals)
            self.assertCleared(f"an M-Pesa method's write of {vals}")
        method.write({"payment_method_type": "terminal", "use_payment_terminal": "mpesa"})
        self.plant()
        method.unlink()
        self.assertCleared("an M-Pesa method's deletion")

    def test_an_account_clears_the_caches_only_for_a_cached_field(self):
        config = self.account("Fields")
        self.plant()
        config.write({"name": "Cache Fields renamed", "sequence": 3, "allowed_ips": "127.0.0.1/32"})
        config.write({"callback_base_url": "http://127.0.0.1:10", "c2b_registered": True})
        self.assertKept("an account's write of no cached field")
        new_values = {
            "callback_token": "ab" * 24,
            "environment": "sandbox",
            "simulator_url": "http://127.0.0.1:8766",
            "c2b_shortcode": "600985",
            "till_number": "174381",
            "account_type": "till",
            "business_shortcode": "174380",
            "confirm_stk_with_query": True,
            "consumer_key": "other-key",
            "consumer_secret": "other-secret",
            "passkey": "other-passkey",
            "match_window": 30,
            "company_id": self.other_company.id,
            "active": False,
        }
        # every field a cache is read from, and nothing else, clears them
        self.assertEqual(set(new_values), config._mpesa_cached_fields())
        for name, value in new_values.items():
            self.plant()
            config.write({name: value})
            self.assertCleared(f"an account's write of {name}")
        self.plant()
        self.account("Created")
        self.assertCleared("an account's creation")
        self.plant()
        config.unlink()
        self.assertCleared("an account's deletion")

    # ------------------------------------------------------------------ (b) seen by the next request

    def test_callback_token_changes_are_seen_at_once(self):
        def confirm(config, receipt):
            response = self.post_json(self.token_url("confirm", config), c2b_confirmation(receipt))
            return response.status_code

        self.assertEqual(confirm(self.mpesa_config, "RKTOKEN001"), 200)  # the tokens are cached
        old_url = self.token_url("confirm")
        self.mpesa_config.with_user(self.pos_manager).action_rotate_callback_token()
        self.assertEqual(self.post_json(old_url, c2b_confirmation("RKTOKEN002")).status_code, 403)
        self.assertEqual(confirm(self.mpesa_config, "RKTOKEN003"), 200)
        self.mpesa_config.active = False
        self.assertEqual(confirm(self.mpesa_config, "RKTOKEN004"), 403)
        self.mpesa_config.active = True
        self.assertEqual(confirm(self.mpesa_config, "RKTOKEN005"), 200)
        created = self.account("New Token")
        self.assertEqual(confirm(created, "RKTOKEN006"), 200)
        stored = self.Callback.sudo().search([("mpesa_receipt_number", "=like", "RKTOKEN%")])
        self.assertEqual(
            sorted(stored.mapped("mpesa_receipt_number")),
            ["RKTOKEN001", "RKTOKEN003", "RKTOKEN005", "RKTOKEN006"],
        )

    def test_callback_facts_changes_are_seen_at_once(self):
        config = self.account("Facts", environment="production", callback_base_url="https://shop.example.com")

        def confirm(receipt, shortcode="600984"):
            response = self.post_json(
                self.token_url("confirm", config), c2b_confirmation(receipt, shortcode=shortcode)
            )
            self.assertEqual(response.json(), ACCEPTED)
            return self.Callback.sudo().search([("mpesa_receipt_number", "=", receipt)])

        first = confirm("RKFACTS001")  # the account's facts are cached
        self.assertEqual((first.status, first.company_id), ("success", self.company))
        config.c2b_shortcode = "600777"  # a production account checks the shortcode Safaricom names
        self.assertEqual(
            confirm("RKFACTS002").review_reason, "Shortcode differs from the account's C2B shortcode"
        )
        self.assertEqual(confirm("RKFACTS003", shortcode="600777").status, "success")
        config.environment = "sandbox"
        self.assertEqual(confirm("RKFACTS004").status, "success")
        config.company_id = self.other_company
        self.assertEqual(confirm("RKFACTS005").company_id, self.other_company)
        # confirm STK results by query: the callback's result waits for Daraja's answer
        config.write({"company_id": self.company.id, "confirm_stk_with_query": False})
        row = self.make_pending("ws_CO_FACTS1", "m-facts-1", config_id=config.id)
        self.post_json(
            self.token_url("stk", config), stk_callback("ws_CO_FACTS1", "m-facts-1", receipt="QKFACTS001")
        )
        row.invalidate_recordset()
        self.assertEqual((row.status, row.pending_callback), ("success", False))
        config.confirm_stk_with_query = True
        row = self.make_pending("ws_CO_FACTS2", "m-facts-2", config_id=config.id)
        self.post_json(
            self.token_url("stk", config), stk_callback("ws_CO_FACTS2", "m-facts-2", receipt="QKFACTS002")
        )
        row.invalidate_recordset()
        self.assertEqual(row.status, "pending")
        self.assertTrue(row.pending_callback)

    def test_till_facts_changes_are_seen_at_once(self):
        self.as_cashier()
        self.make_c2b("RKTILL0001", minutes_ago=30)
        self.assertEqual(self.search()["count"], 0)  # outside the account's 10 minutes; the facts are cached
        self.mpesa_config.match_window = 60
        self.assertEqual(self.offered(), {"RKTILL0001"})
        self.mpesa_config.consumer_secret = " "
        self.assertEqual(self.search()["message"], "M-Pesa not configured")
        self.mpesa_config.consumer_secret = "sim-consumer-secret"
        self.assertEqual(self.offered(), {"RKTILL0001"})
        self.mpesa_config.company_id = self.other_company
        self.assertEqual(self.search()["message"], "This M-Pesa account belongs to another company")

    def test_method_facts_changes_are_seen_at_once(self):
        self.as_cashier()
        other = self.account("Method Facts", c2b_shortcode="600985")
        self.make_c2b("RKMETH0001")
        self.make_c2b("RKMETH0002", config_id=other.id)
        self.assertEqual(self.offered(), {"RKMETH0001"})  # the method's facts are cached
        self.mpesa_method.mpesa_config_id = other
        self.assertEqual(self.offered(), {"RKMETH0002"})
        self.mpesa_method.payment_method_type = "none"  # Odoo's write empties use_payment_terminal
        self.assertEqual(self.search()["message"], "This payment method is not an M-Pesa payment method")
        self.mpesa_method.write({"payment_method_type": "terminal", "use_payment_terminal": "mpesa"})
        self.assertEqual(self.offered(), {"RKMETH0002"})
        self.mpesa_method.write(self.elsewhere())
        self.assertEqual(self.search()["message"], "Unknown payment method")  # not the cashier's company

    def test_sibling_accounts_changes_are_seen_at_once(self):
        self.as_cashier()
        self.make_c2b("RKSIBL0001")
        self.assertEqual(self.offered(), {"RKSIBL0001"})  # the siblings are cached
        sibling = self.account("Sibling")  # the same company and shortcode
        self.make_c2b("RKSIBL0002", config_id=sibling.id)
        self.assertEqual(self.offered(), {"RKSIBL0001", "RKSIBL0002"})
        sibling.c2b_shortcode = "600985"
        self.assertEqual(self.offered(), {"RKSIBL0001"})
        sibling.c2b_shortcode = "600984"
        self.assertEqual(self.offered(), {"RKSIBL0001", "RKSIBL0002"})
        sibling.write({"environment": "production", "callback_base_url": "https://shop.example.com"})
        self.assertEqual(self.offered(), {"RKSIBL0001"})  # a test till never sees a production payment
        sibling.environment = "simulator"
        self.assertEqual(self.offered(), {"RKSIBL0001", "RKSIBL0002"})
        sibling.active = False
        self.assertEqual(self.offered(), {"RKSIBL0001"})
