"""Accounts, secrets, settings buttons, token cache, cron, neutralization, access rights."""

import base64
import os
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged
from odoo.tools.misc import file_path

from .common import MpesaCase

FORBIDDEN = ("mpesa", "m-pesa", "safaricom", "exe", "exec", "cmd", "sql", "query")


@tagged("post_install", "-at_install")
class TestMpesaConfig(MpesaCase):
    def test_callback_urls_safe_for_safaricom(self):
        config = self.mpesa_config
        token = config.callback_token
        self.assertRegex(token, r"^[0-9a-f]{48}$")
        for url in (config.stk_callback_url, config.c2b_confirmation_url, config.c2b_validation_url):
            self.assertIn(token, url)
            self.assertEqual(url, url.lower())
            path = url.split("://", 1)[1]
            for word in FORBIDDEN:
                self.assertNotIn(word, path, url)
        with self.assertRaises(ValidationError):
            config.callback_base_url = "https://mpesa.shop.example.com"
        with self.assertRaises(ValidationError):
            config.write({"environment": "production", "callback_base_url": "http://shop.example.com"})

    def test_rotate_token_invalidates_old_url(self):
        old_url = self.token_url()
        self.mpesa_config.with_user(self.pos_manager).action_rotate_callback_token()
        self.assertNotIn(old_url.split("/")[3], self.mpesa_config.stk_callback_url)
        self.assertEqual(self.post_json(old_url, {"Body": {"stkCallback": {}}}).status_code, 403)

    def test_secrets_hidden_from_pos_user(self):
        config_as_cashier = self.mpesa_config.with_user(self.pos_user)
        self.assertEqual(config_as_cashier.name, "Test Paybill")
        for field in (
            "consumer_key",
            "consumer_secret",
            "passkey",
            "callback_token",
            "stk_callback_url",
            "initiator_password",
            "security_credential",
            "initiator_certificate",
        ):
            with self.assertRaises(AccessError, msg=field):
                config_as_cashier.read([field])
        method_as_cashier = self.mpesa_method.with_user(self.pos_user)
        with self.assertRaises(AccessError):
            method_as_cashier.read(["mpesa_stk_callback_url"])
        loaded = (
            self.env["pos.payment.method"].with_user(self.pos_user)._load_pos_data_fields(self.pos_config)
        )
        self.assertIn("mpesa_config_id", loaded)
        self.assertIn("mpesa_match_window", loaded)
        self.assertFalse(
            {"consumer_key", "consumer_secret", "passkey", "mpesa_stk_callback_url"} & set(loaded)
        )
        self.assertFalse(any("secret" in name or "passkey" in name or "token" in name for name in loaded))
        self.assertFalse(self.env["mpesa.config"]._fields["consumer_secret"].copy)
        # a cashier cannot edit the log either
        with self.assertRaises(UserError):
            self.make_c2b("RKACL00001").with_user(self.pos_user).write({"status": "failed"})

    def test_accountant_reads_log_manager_acts(self):
        row = self.make_c2b("RKACC00001", is_claimed=True, claim_order_key="lost-order")
        self.assertEqual(row.with_user(self.accountant).read(["status"])[0]["status"], "success")
        with self.assertRaises(UserError):
            row.with_user(self.accountant).action_release_claim()
        row.with_user(self.pos_manager).action_release_claim()
        self.assertFalse(row.is_claimed)
        review = self.make_pending("ws_CO_REV", "m-rev", status="needs_review")
        review.with_user(self.pos_manager).action_mark_reviewed()
        self.assertTrue(review.reviewed)
        self.assertEqual(review.reviewed_by_id, self.pos_manager)

    def test_multi_company_rule(self):
        other_company = self.env["res.company"].create({"name": "Other Co 2"})
        other = self.env["mpesa.config"].create(
            {"name": "Other", "company_id": other_company.id, "business_shortcode": "600111"}
        )
        row = self.make_c2b("RKMC000001", config_id=other.id, company_id=other_company.id)
        self.assertFalse(self.Callback.with_user(self.accountant).search([("id", "=", row.id)]))
        self.assertFalse(self.env["mpesa.config"].with_user(self.accountant).search([("id", "=", other.id)]))

    def test_payment_method_defaults_to_mpesa_terminal(self):
        method = self.env["pos.payment.method"].create(
            {"name": "Lipa na M-Pesa", "journal_id": self.bank_journal.id}
        )
        self.assertEqual(method.use_payment_terminal, "mpesa")
        self.assertEqual(method.mpesa_config_id, self.mpesa_config)
        plain = self.env["pos.payment.method"].create({"name": "Card", "journal_id": self.bank_journal.id})
        self.assertFalse(plain.use_payment_terminal)
        self.assertIn(("mpesa", "M-Pesa"), self.env["pos.payment.method"]._get_payment_terminal_selection())
        self.assertEqual(self.mpesa_method.use_payment_terminal, "mpesa")

    # ------------------------------------------------------------------ buttons against the simulator

    def test_test_connection_button(self):
        action = self.mpesa_config.with_user(self.pos_manager).action_test_connection()
        self.assertEqual(action["params"]["type"], "success")
        self.env.invalidate_all()  # the token store writes through its own cursor
        token_row = self.env["mpesa.oauth.token"].search([("config_id", "=", self.mpesa_config.id)])
        self.assertTrue(token_row.access_token)
        self.mpesa_config.consumer_secret = "wrong-secret"
        self.assertFalse(token_row.access_token)  # credentials changed: cache dropped
        action = self.mpesa_config.with_user(self.pos_manager).action_test_connection()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertNotIn("wrong-secret", action["params"]["message"])
        self.assertTrue(action["params"]["message"])

    def test_token_cached_and_shared(self):
        client = self.mpesa_config._get_daraja_client()
        first = client.get_access_token()
        again = self.mpesa_config._get_daraja_client().get_access_token()
        self.assertEqual(first, again)
        # its own row, not the account's: refreshing it never locks the account an admin edits
        self.env.cr.execute(
            "SELECT access_token FROM mpesa_oauth_token WHERE config_id = %s", (self.mpesa_config.id,)
        )
        self.assertEqual(self.env.cr.fetchone()[0], first)

    def test_settings_block_and_buttons(self):
        settings = self.env["res.config.settings"].with_user(self.pos_manager).create({})
        self.assertEqual(settings.mpesa_config_id, self.mpesa_config)
        self.assertEqual(settings.mpesa_environment, "simulator")
        self.assertFalse(settings.mpesa_c2b_registered)
        action = settings.action_mpesa_test_connection()
        self.assertEqual(action["params"]["type"], "success")
        action = settings.action_mpesa_register_c2b()
        self.assertIn("C2B URLs registered successfully", action["params"]["message"])
        self.assertTrue(self.mpesa_config.c2b_registered)
        settings.invalidate_recordset()
        self.assertTrue(settings.mpesa_c2b_registered)  # read from the account, not a copy
        action = settings.action_mpesa_open_account()
        self.assertEqual((action["res_model"], action["res_id"]), ("mpesa.config", self.mpesa_config.id))

    def test_settings_fields_are_the_accounts(self):
        """The block holds no value of its own: each field is the company's or its default account's."""
        fields_ = {
            name: field for name, field in self.env["res.config.settings"]._fields.items() if "mpesa" in name
        }
        self.assertTrue(fields_)
        for name, field in fields_.items():
            self.assertTrue(
                field.related and field.related.split(".")[0] in ("company_id", "mpesa_config_id"),
                f"res.config.settings.{name} is not a related field of the company's M-Pesa account",
            )
        self.assertEqual(fields_["mpesa_config_id"].related, "company_id.mpesa_config_id")
        # no credential goes through the settings page
        secrets = {"consumer_key", "consumer_secret", "passkey", "callback_token", "access_token"}
        self.assertFalse({f.related.split(".")[-1] for f in fields_.values()} & secrets)

    def test_settings_choose_default_account(self):
        till = self.env["mpesa.config"].create(
            {
                "name": "Branch Till",
                "account_type": "till",
                "business_shortcode": "174380",
                "till_number": "174381",
            }
        )
        settings = self.env["res.config.settings"].with_user(self.pos_manager).create({})
        settings.mpesa_config_id = till
        settings.execute()
        self.assertEqual(self.company.mpesa_config_id, till)
        self.assertEqual(self.mpesa_config.account_type, "paybill")  # the other account is untouched
        settings = self.env["res.config.settings"].with_user(self.pos_manager).create({})
        self.assertEqual(settings.mpesa_config_id, till)
        self.assertEqual(settings.mpesa_environment, "sandbox")

    def test_settings_without_account_opens_a_new_one(self):
        self.company.mpesa_config_id = False
        accounts = self.env["mpesa.config"].search_count([])
        settings = self.env["res.config.settings"].with_user(self.pos_manager).create({})
        self.assertFalse(settings.mpesa_config_id)
        action = settings.action_mpesa_open_account()
        self.assertEqual(action["res_model"], "mpesa.config")
        self.assertFalse(action["res_id"])
        self.assertEqual(action["context"]["default_company_id"], self.company.id)
        settings.execute()  # saving the page creates nothing
        self.assertFalse(self.company.mpesa_config_id)
        self.assertEqual(self.env["mpesa.config"].search_count([]), accounts)

    def test_production_registration_is_once(self):
        self.mpesa_config.write(
            {
                "environment": "production",
                "callback_base_url": "https://shop.example.com",
                "c2b_registered": True,
            }
        )
        result = self.mpesa_config._register_c2b_urls()
        self.assertFalse(result["success"])
        self.assertIn("only once", result["message"])

    # ------------------------------------------------------------------ cron and neutralize

    def test_cron_recovers_lost_callback(self):
        # suffix 08: the simulator pays but never calls back; only the STK query knows
        self.authenticate("mpesa_cashier", "mpesa_cashier")
        result = self.rpc(
            "/mpesa/stk_push",
            {"phone_number": "0712345608", "amount": 100, "pos_config_id": self.pos_config.id},
        )
        self.assertTrue(result["success"], result)
        row = self.Callback.sudo().search([("checkout_request_id", "=", result["checkout_request_id"])])
        self.assertEqual(row.status, "pending")
        row.write({"request_date": fields.Datetime.now() - timedelta(minutes=2)})
        self.Callback._cron_recover_stk()
        row.invalidate_recordset()
        self.assertEqual(row.status, "success")
        self.assertTrue(row.confirmed_by_query)
        self.assertEqual(row.amount, 100)
        # a row nobody can answer for ends in review after 30 minutes
        stuck = self.make_pending(
            "ws_CO_STUCK", "m-st", request_date=fields.Datetime.now() - timedelta(hours=1)
        )
        self.Callback._cron_recover_stk()
        self.assertEqual(stuck.status, "needs_review")

    def test_neutralize(self):
        path = file_path("pos_mpesa/data/neutralize.sql")
        self.assertTrue(os.path.exists(path))
        self.mpesa_config.write(
            {
                "environment": "production",
                "callback_base_url": "https://shop.example.com",
                "initiator_password": "pw",
                "security_credential": "Y3JlZGVudGlhbA==",
            }
        )
        old_token = self.mpesa_config.callback_token
        self.env.flush_all()
        with open(path) as sql:
            self.env.cr.execute(sql.read())
        self.mpesa_config.invalidate_recordset()
        config = self.mpesa_config.sudo()
        self.assertEqual(config.environment, "sandbox")
        self.assertFalse(config.consumer_secret or config.consumer_key or config.passkey)
        self.assertFalse(config.initiator_password or config.security_credential)
        self.assertFalse(self.env["mpesa.oauth.token"].search_count([]))
        self.assertNotEqual(config.callback_token, old_token)

    def test_send_a_test_c2b_payment(self):
        """The sandbox admin's button: M-Pesa posts the payment to the registered URLs."""
        self.mpesa_config.callback_base_url = self.base_url()
        self.env.flush_all()
        Wizard = self.env["mpesa.test.payment"].with_user(self.pos_manager)
        wizard = Wizard.create(
            {"config_id": self.mpesa_config.id, "amount": 73, "phone_number": "0708374149"}
        )
        with self.assertRaisesRegex(UserError, "Register the C2B callback URLs first"):
            wizard.action_send()
        self.mpesa_config.with_user(self.pos_manager).action_register_c2b_urls()
        action = wizard.action_send()
        self.assertIn("Test payment of 73 sent", action["params"]["message"])
        self.let_callbacks_in(1.5)
        payment = self.Callback.sudo().search([("callback_type", "=", "c2b"), ("amount", "=", 73)])
        self.assertEqual((len(payment), payment.status, payment.config_id), (1, "success", self.mpesa_config))
        # never in production, never for a cashier
        with self.assertRaises(AccessError):
            self.env["mpesa.test.payment"].with_user(self.pos_user).create(
                {"config_id": self.mpesa_config.id}
            )
        self.mpesa_config.write(
            {"environment": "production", "callback_base_url": "https://shop.example.com"}
        )
        with self.assertRaisesRegex(UserError, "sandbox and the simulator only"):
            wizard.action_send()

    def test_register_takes_the_c2b_version_daraja_has(self):
        """The Daraja app has the v2 C2B product (the simulator's default); the account said v1."""
        self.mpesa_config.c2b_api_version = "v1"
        result = self.mpesa_config._register_c2b_urls()
        self.assertTrue(result["success"], result)
        self.assertEqual(self.mpesa_config.c2b_api_version, "v2")
        self.assertIn("C2B API version v2 (Daraja refused v1)", result["message"])
        self.assertTrue(self.mpesa_config.c2b_registered)

    def test_initiator_security_credential(self):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test only")])
        now = fields.Datetime.now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM)
        config = self.mpesa_config.with_user(self.pos_manager)
        config.write(
            {
                "initiator_name": "testapi",
                "initiator_password": "Safaricom999!*!",
                "initiator_certificate": base64.b64encode(pem),
            }
        )
        initiator = config._initiator()
        self.assertEqual(initiator.name, "testapi")
        decrypted = key.decrypt(base64.b64decode(initiator.credential), padding.PKCS1v15())
        self.assertEqual(decrypted, b"Safaricom999!*!")
        config.security_credential = "UGFzdGVkRnJvbVBvcnRhbA=="  # pasted from the Daraja portal: it wins
        self.assertEqual(config._initiator().credential, "UGFzdGVkRnJvbVBvcnRhbA==")
        with self.assertRaises(ValidationError):
            config.write({"initiator_certificate": base64.b64encode(b"not a certificate")})
