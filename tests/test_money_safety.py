"""Twelve money-safety defects found in review, one focused test each (each failed before its fix).

Races that need two real transactions use committed rows and two cursors (TwoCursorCase); the
concurrent-clients proof against a running server is `make reliability` (tools/reliability.py).
"""

import json
import logging
import uuid
from datetime import datetime, timedelta, timezone
from unittest.mock import patch

from odoo import fields
from odoo.api import Environment
from odoo.exceptions import ConcurrencyError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from ..controllers.request_log import CallbackTokenFilter, install, mask_secrets
from ..daraja import classify_result, nairobi_timestamp, parse_callback
from .common import SANDBOX_PASSKEY, MpesaCase, c2b_confirmation, stk_callback

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


@tagged("post_install", "-at_install")
class TestMoneySafety(MpesaCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other_journal = cls.env["account.journal"].create(
            {"name": "M-Pesa Till 2", "type": "bank", "code": "MPTS2", "company_id": cls.company.id}
        )
        cls.other_method = cls.env["pos.payment.method"].create(
            {"name": "M-Pesa 2", "journal_id": cls.other_journal.id, "company_id": cls.company.id}
        )
        cls.other_pos = cls.env["pos.config"].create(
            {"name": "Till 2", "payment_method_ids": [(4, cls.other_method.id)]}
        )
        cls.other_cashier = new_test_user(
            cls.env,
            login="mpesa_cashier2",
            groups="base.group_user,point_of_sale.group_pos_user",
            password="mpesa_cashier2",
        )

    def search(self, amount=100, method=None):
        return self.rpc(
            "/mpesa/search_unreconciled_callbacks",
            {"amount": amount, "payment_method_id": (method or self.mpesa_method).id},
        )

    # 2 ------------------------------------------------------------ forgery through a twin shortcode

    def test_twin_shortcode_test_account_never_feeds_a_production_till(self):
        production = self.env["mpesa.config"].create(
            {
                "name": "Live Paybill",
                "company_id": self.company.id,
                "environment": "production",
                "business_shortcode": "174379",
                "c2b_shortcode": "600984",  # the same shortcode as the simulator account
                "consumer_key": "k",
                "consumer_secret": "s",
                "passkey": "p",
                "callback_base_url": "https://shop.example.com",
            }
        )
        self.other_method.mpesa_config_id = production
        # no token: the production shortcode is refused, and its test twin does not stand in for it
        response = self.post_json("/mpesa/callback", c2b_confirmation("FORGED0001"))
        self.assertEqual(response.status_code, 403)
        self.assertFalse(self.Callback.sudo().search([("mpesa_receipt_number", "=", "FORGED0001")]))
        # the test account still receives on its own token URL, and a production till never sees it
        self.post_json(self.token_url("confirm"), c2b_confirmation("TESTACC001"))
        test_payment = self.Callback.sudo().search([("mpesa_receipt_number", "=", "TESTACC001")])
        self.assertEqual((test_payment.config_id, test_payment.status), (self.mpesa_config, "success"))
        self.as_cashier()
        self.assertEqual(self.search(method=self.other_method)["count"], 0)
        self.assertEqual(self.search()["count"], 1)  # the test account's own till does see it
        refused = self.rpc(
            "/mpesa/reconcile_callback",
            {
                "callback_id": test_payment.id,
                "order_id": str(uuid.uuid4()),
                "payment_method_id": self.other_method.id,
            },
        )
        self.assertFalse(refused["success"])
        self.assertFalse(test_payment.is_claimed)

    # 3 ------------------------------------------------------------ the token never reaches a log

    def test_callback_token_masked_in_every_log_handler(self):
        token = self.mpesa_config.callback_token
        line = f'127.0.0.1 - - "POST /pos_lipa/cb/{token}/stk HTTP/1.1" 200 - /mpesa/callback?token={token}'
        self.assertNotIn(token, mask_secrets(line))
        record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '"%s" %s', (line, 200), None)
        CallbackTokenFilter().filter(record)
        self.assertNotIn(token, record.getMessage())
        install()
        self.assertTrue(logging.getLogger().handlers)
        for handler in logging.getLogger().handlers:
            self.assertTrue(any(isinstance(f, CallbackTokenFilter) for f in handler.filters), handler)

    # 4 ------------------------------------------------------------ hostile bodies: stored, never a 500

    def test_nul_and_deep_nesting_are_stored_not_500(self):
        bodies = [
            json.dumps(c2b_confirmation("NUL\u0000ID01")).encode(),  # NUL inside a JSON string
            b'{"TransID": "X"}\x00',  # a raw NUL byte
            b"[" * 5000 + b"]" * 5000,  # deeper than the JSON parser goes
            b'{"a":' * 3000 + b"1" + b"}" * 3000,
            b"\xff\xfe\x00\x00garbage",
        ]
        for body in bodies:
            before = self.Callback.sudo().search_count([])
            response = self.url_open(
                self.token_url("confirm"), data=body, headers={"Content-Type": "application/json"}
            )
            self.assertEqual(response.status_code, 400, body[:40])
            self.assertEqual(self.Callback.sudo().search_count([]), before + 1, body[:40])
            row = self.Callback.sudo().search([], order="id desc", limit=1)
            self.assertEqual(row.status, "invalid")
            self.assertNotIn("\x00", row.raw_payload)
        self.assertFalse(
            self.Callback.sudo().search(
                [("status", "=", "success"), ("mpesa_receipt_number", "like", "NUL%")]
            )
        )

    # 6 ------------------------------------------------------------ another till's CheckoutRequestID

    def test_cancel_by_another_till_refused(self):
        row = self.make_pending("ws_CO_OTHER", "m-o", status="success", mpesa_receipt_number="QKX1OTHER1")
        self.as_cashier()
        self.assertEqual(
            self.rpc("/mpesa/check_status", {"checkout_request_id": "ws_CO_OTHER"})["status"], "completed"
        )
        self.authenticate("mpesa_cashier2", "mpesa_cashier2")
        for route in ("/mpesa/cancel_stk", "/mpesa/check_status"):
            answer = self.rpc(
                route, {"checkout_request_id": "ws_CO_OTHER", "pos_config_id": self.other_pos.id}
            )
            self.assertFalse(answer["success"], route)
            self.assertIn("another till", answer["message"])
        row.invalidate_recordset()
        self.assertTrue(row.is_claimed)
        self.assertEqual(row.claim_config_id, self.pos_config)
        self.assertEqual(self.search(method=self.other_method)["count"], 0)

    # 7 ------------------------------------------------------------ one login, two devices, two orders

    def test_one_login_cannot_settle_one_payment_on_two_orders(self):
        order_x, order_y = str(uuid.uuid4()), str(uuid.uuid4())
        row = self.make_pending(
            "ws_CO_TWO", "m-t", status="success", mpesa_receipt_number="QKX1TWODEV", order_key=order_x
        )
        self.as_cashier()
        # device B asks for its own order Y: refused, and nothing is claimed for Y
        answer = self.rpc("/mpesa/check_status", {"checkout_request_id": "ws_CO_TWO", "order_uuid": order_y})
        self.assertFalse(answer["success"])
        # the till gave up on X; the customer's late payment is taken by order Y through the C2B search
        row.sudo().write({"stk_abandoned": True})
        taken = self.rpc(
            "/mpesa/reconcile_callback",
            {"callback_id": row.id, "order_id": order_y, "payment_method_id": self.mpesa_method.id},
        )
        self.assertTrue(taken["success"], taken)
        # device A (same user) polls for X: the payment is not X's any more
        answer = self.rpc("/mpesa/check_status", {"checkout_request_id": "ws_CO_TWO", "order_uuid": order_x})
        self.assertEqual(answer["status"], "error")
        self.assertIn("already reconciled", answer["message"])
        cancel = self.rpc("/mpesa/cancel_stk", {"checkout_request_id": "ws_CO_TWO", "order_uuid": order_x})
        self.assertNotEqual(cancel["status"], "completed")  # the till must not think X was paid
        row.invalidate_recordset()
        self.assertEqual(row.claim_order_key, order_y)

    # 8 ------------------------------------------------------------ a late success after a failed query

    def test_success_callback_after_query_failure_goes_to_review(self):
        row = self.make_pending(
            "ws_CO_LATE", "m-l", status="cancelled", result_code="1032", confirmed_by_query=True
        )
        self.post_json(self.token_url(), stk_callback("ws_CO_LATE", "m-l", receipt="QKX1LATE01"))
        row.invalidate_recordset()
        self.assertEqual(row.status, "needs_review")
        self.assertEqual(row.mpesa_receipt_number, "QKX1LATE01")
        self.assertIn("paid after", row.review_reason)

    # 13 ----------------------------------------------------------- a lost STK callback and its C2B twin

    def twin(self, receipt, reference="Order 00001"):
        """The C2B confirmation Safaricom also sends for an STK payment to a paybill: the push's
        AccountReference as BillRefNumber, paid now."""
        now = nairobi_timestamp(datetime.now(timezone.utc))
        return dict(c2b_confirmation(receipt), BillRefNumber=reference, TransTime=now)

    def query_says_paid(self, row):
        row._stk_on_query_result(classify_result(0), {"ResultCode": "0", "ResultDesc": "ok"})

    def test_twin_first_then_the_query_is_one_payment(self):
        row = self.make_pending("ws_CO_TWIN1", "m-t1")
        self.post_json(self.token_url("confirm"), self.twin("QTWIN00001"))
        twin = self.Callback.sudo().search([("mpesa_receipt_number", "=", "QTWIN00001")])
        self.query_says_paid(row)  # the STK callback was lost; the query gives no receipt
        self.assertEqual((row.status, row.mpesa_receipt_number), ("success", "QTWIN00001"))
        self.assertEqual(twin.duplicate_of_id, row)
        self.as_cashier()
        self.assertEqual(self.search()["count"], 0)  # never offered to another till

    def test_query_first_then_the_twin_is_one_payment(self):
        row = self.make_pending("ws_CO_TWIN2", "m-t2")
        self.query_says_paid(row)
        self.assertEqual((row.status, row.mpesa_receipt_number), ("success", False))
        self.post_json(self.token_url("confirm"), self.twin("QTWIN00002"))
        row.invalidate_recordset()
        self.assertEqual((row.mpesa_receipt_number, row.duplicate_count), ("QTWIN00002", 1))
        payments = self.Callback.sudo().search([("mpesa_receipt_number", "=", "QTWIN00002")])
        self.assertEqual(payments, row)
        self.as_cashier()
        self.assertEqual(self.search()["count"], 0)

    def test_twin_of_one_of_two_query_only_payments_waits_for_a_manager(self):
        first = self.make_pending("ws_CO_TWIN3", "m-t3")
        second = self.make_pending("ws_CO_TWIN4", "m-t4")
        self.query_says_paid(first)
        self.query_says_paid(second)
        self.post_json(self.token_url("confirm"), self.twin("QTWIN00003"))
        row = self.Callback.sudo().search([("mpesa_receipt_number", "=", "QTWIN00003")])
        self.assertEqual((row.callback_type, row.status), ("c2b", "needs_review"))
        self.as_cashier()
        self.assertEqual(self.search()["count"], 0)

    # 9 ------------------------------------------------------------ 75 s while the query confirms

    def test_success_waiting_for_confirmation_is_not_a_timeout(self):
        callback = json.dumps(stk_callback("ws_CO_CONF", "m-c", receipt="QKX1CONF01"))
        self.make_pending(
            "ws_CO_CONF",
            "m-c",
            pending_callback=callback,
            callback_received=True,
            request_date=fields.Datetime.now() - timedelta(seconds=80),
            last_query_date=fields.Datetime.now(),  # the query was just asked: no new one now
        )
        self.as_cashier()
        answer = self.rpc("/mpesa/check_status", {"checkout_request_id": "ws_CO_CONF"})
        self.assertEqual(answer["status"], "pending", answer)
        self.assertEqual(answer["reason"], "confirming")
        self.assertNotIn("timeout", answer["message"].lower())

    # 11 ----------------------------------------------------------- a flood of unauthenticated requests

    def test_unauthenticated_flood_costs_one_small_row(self):
        before = self.Callback.sudo().search_count([])
        body = b'{"pad": "' + b"x" * (60 * 1024) + b'"}'
        with self.assertLogs("odoo.addons.pos_mpesa.controllers.callback", "WARNING") as logged:
            for _ in range(30):
                response = self.url_open(
                    "/pos_lipa/cb/{}/c2b/confirm".format("ab" * 24),
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                self.assertEqual(response.status_code, 403)
        self.assertEqual(len(logged.records), 1)  # the log is not flooded either
        self.assertEqual(self.Callback.sudo().search_count([]), before)
        rejected = self.env["mpesa.rejected.request"].sudo().search([])
        self.assertEqual(len(rejected), 1)
        self.assertEqual(rejected.count, 30)
        self.assertLessEqual(len(rejected.body_sample), 512)
        self.assertEqual(rejected.body_bytes, len(body))
        self.assertNotIn("ab" * 24, rejected.route)

    # 12 ----------------------------------------------------------- simulator mode stays on this machine

    def test_simulator_account_reaches_loopback_only(self):
        for url in ("http://10.1.2.3:8765", "https://daraja.example.com", "http://192.168.0.10"):
            with self.assertRaises(ValidationError), self.env.cr.savepoint():
                self.mpesa_config.simulator_url = url
        self.mpesa_config.simulator_url = "http://localhost:8765"
        self.mpesa_config.simulator_url = self.sim.base_url

    # 1 and 5: two real transactions ---------------------------------------------------------------


@tagged("post_install", "-at_install")
class TestMoneySafetyTwoCursors(MpesaCase):
    """Committed rows and two cursors: what a single test transaction cannot show."""

    def setUp(self):
        super().setUp()
        # real cursors, as in a running server (the test registry hands out the test's own cursor):
        # the token store's separate transaction is what defect 5 was about
        self.startPatcher(
            patch.object(self.registry, "cursor", lambda readonly=False: self.registry._db.cursor())
        )
        self.cursors = []
        self.created_sql = []

    def tearDown(self):
        for cr in self.cursors:
            cr.rollback()
            cr.close()
        with self.registry._db.cursor() as cr:
            for sql, params in reversed(self.created_sql):
                cr.execute(sql, params)  # test-only cleanup: the ORM forbids deleting the log
        super().tearDown()

    def env_for(self):
        cr = self.registry._db.cursor()
        self.cursors.append(cr)
        cr.execute("SELECT id FROM res_users WHERE login = 'admin'")
        return Environment(cr, cr.fetchone()[0], {})

    def committed_account(self, env, name, shortcode):
        config = (
            env["mpesa.config"]
            .sudo()
            .create(
                {
                    "name": name,
                    "environment": "simulator",
                    "simulator_url": self.sim.base_url,
                    "business_shortcode": "174379",
                    "c2b_shortcode": shortcode,
                    "consumer_key": "sim-consumer-key",
                    "consumer_secret": "sim-consumer-secret",
                    "passkey": SANDBOX_PASSKEY,
                    "callback_base_url": "http://127.0.0.1:9",
                }
            )
        )
        env.cr.commit()
        self.created_sql.append(("DELETE FROM mpesa_config WHERE id = %s", (config.id,)))
        self.created_sql.append(("DELETE FROM mpesa_oauth_token WHERE config_id = %s", (config.id,)))
        self.created_sql.append(("DELETE FROM mpesa_callback WHERE config_id = %s", (config.id,)))
        return config

    def test_stk_success_and_c2b_twin_in_the_same_moment_is_one_payment(self):
        setup = self.env_for()
        config = self.committed_account(setup, "Twin race", "600770")
        receipt = f"TWIN{config.id:06d}"
        row = (
            setup["mpesa.callback"]
            .sudo()
            .create(
                {
                    "callback_type": "stk",
                    "status": "pending",
                    "checkout_request_id": f"ws_CO_RACE{config.id}",
                    "merchant_request_id": "m-race",
                    "requested_amount": 100,
                    "request_date": fields.Datetime.now(),
                    "config_id": config.id,
                    "company_id": config.company_id.id,
                    "order_key": "order-race",
                }
            )
        )
        setup.cr.commit()
        env_stk, env_c2b = self.env_for(), self.env_for()
        # both take their snapshot before either writes
        self.assertEqual(env_stk["mpesa.callback"].sudo().browse(row.id).status, "pending")
        self.assertTrue(env_c2b["mpesa.callback"].sudo().search_count([]))
        callback = parse_callback(stk_callback(row.checkout_request_id, "m-race", receipt=receipt), "stk")
        env_stk["mpesa.callback"]._stk_process_callback(
            callback, "{}", "token_url", env_stk["mpesa.config"].browse(config.id)
        )
        env_stk.cr.commit()
        twin = parse_callback(c2b_confirmation(receipt, shortcode="600770"), "c2b_confirmation")
        c2b_config = env_c2b["mpesa.config"].browse(config.id)
        # its snapshot cannot see the STK payment: the database refuses a second live row, and the
        # request is run again (ConcurrencyError is what Odoo's retry loop catches)
        with self.assertRaises(ConcurrencyError), mute_logger("odoo.sql_db"):
            env_c2b["mpesa.callback"]._c2b_process(twin, "{}", "token_url", c2b_config)
        env_c2b.cr.rollback()
        env_c2b["mpesa.callback"]._c2b_process(twin, "{}", "token_url", c2b_config)
        env_c2b.cr.commit()
        env_c2b.cr.execute(
            "SELECT count(*) FROM mpesa_callback WHERE mpesa_receipt_number = %s AND status = 'success' "
            "AND duplicate_of_id IS NULL",
            (receipt,),
        )
        self.assertEqual(env_c2b.cr.fetchone()[0], 1)
        env_c2b.cr.execute("SELECT duplicate_count FROM mpesa_callback WHERE id = %s", (row.id,))
        self.assertEqual(env_c2b.cr.fetchone()[0], 1)

    def test_register_c2b_urls_without_cached_token_registers_once(self):
        setup = self.env_for()
        config = self.committed_account(setup, "Register once", "600984")
        env = self.env_for()
        account = env["mpesa.config"].browse(config.id)
        self.assertEqual(account.name, "Register once")  # the request's snapshot, before the token is fetched
        result = account._register_c2b_urls()
        self.assertTrue(result["success"], result)
        # before the fix the token store had committed on this same account row from its own cursor:
        # writing the registration then failed to serialize and Odoo sent registerurl again
        env.flush_all()
        env.cr.commit()
        env.cr.execute("SELECT c2b_registered FROM mpesa_config WHERE id = %s", (config.id,))
        self.assertTrue(env.cr.fetchone()[0])
        env.cr.execute("SELECT access_token FROM mpesa_oauth_token WHERE config_id = %s", (config.id,))
        self.assertTrue(env.cr.fetchone()[0])
