"""The POS-facing JSON routes with their request/response shapes (README, "Endpoints & callback URLs")."""

from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged
from psycopg2 import errors as pg_errors

from .common import SANDBOX_PASSKEY, MpesaCase


@tagged("post_install", "-at_install")
class TestPosEndpoints(MpesaCase):
    def setUp(self):
        super().setUp()
        self.as_cashier()

    # ------------------------------------------------------------------ stk_push

    def test_stk_push_brief_example(self):
        result = self.rpc(
            "/mpesa/stk_push", {"phone_number": "0712345678", "amount": 100, "order_reference": "ORDER-001"}
        )
        self.assertEqual(set(result), {"success", "message", "checkout_request_id", "merchant_request_id"})
        self.assertTrue(result["success"])
        self.assertEqual(result["message"], "STK Push sent successfully")
        self.assertTrue(result["checkout_request_id"].startswith("ws_CO_"))
        row = self.Callback.sudo().search([("checkout_request_id", "=", result["checkout_request_id"])])
        self.assertEqual(row.status, "pending")
        self.assertEqual(row.requested_amount, 100)
        self.assertEqual(row.request_phone, "254712345678")
        self.assertEqual(row.merchant_request_id, result["merchant_request_id"])
        self.assertEqual(row.user_id, self.pos_user)
        self.assertEqual(row.config_id, self.mpesa_config)
        # the push reached the simulator with our token callback URL and the whole amount
        sim_rows = self.sim_control("GET", "transactions")
        self.assertIn(result["checkout_request_id"], str(sim_rows))

    def test_stk_push_with_till_payment_method(self):
        result = self.rpc(
            "/mpesa/stk_push",
            {
                "phone_number": "+254 712 345 679",
                "amount": "250",
                "order_reference": "Order 00042-001-0001",
                "payment_method_id": self.mpesa_method.id,
                "pos_config_id": self.pos_config.id,
            },
        )
        self.assertTrue(result["success"], result)
        row = self.Callback.sudo().search([("checkout_request_id", "=", result["checkout_request_id"])])
        self.assertEqual((row.pos_config_id, row.payment_method_id), (self.pos_config, self.mpesa_method))

    def test_stk_push_refusals(self):
        cases = [
            ({"phone_number": "12345", "amount": 100}, "Invalid phone number"),
            ({"phone_number": "", "amount": 100}, "Invalid phone number"),
            ({"amount": 100}, "Invalid phone number"),
            ({"phone_number": ["0712345678"], "amount": 100}, "Invalid phone number"),
            ({"phone_number": "0712345678", "amount": 100.5}, None),
            ({"phone_number": "0712345678", "amount": "10.50"}, None),
            ({"phone_number": "0712345678", "amount": 0}, None),
            ({"phone_number": "0712345678", "amount": "abc"}, None),
            ({"phone_number": "0712345678", "amount": True}, None),
            ({"phone_number": "0712345678"}, None),
            (
                {"phone_number": "0712345678", "amount": 10, "payment_method_id": 999999},
                "Unknown payment method",
            ),
            (
                {"phone_number": "0712345678", "amount": 10, "payment_method_id": "x"},
                "payment_method_id must be an integer",
            ),
            ({"phone_number": "0712345678", "amount": 10, "pos_config_id": 999999}, "Unknown point of sale"),
            (
                {"phone_number": "0712345678", "amount": 10, "pos_config_id": "x"},
                "pos_config_id must be an integer",
            ),
        ]
        # with a payment method the point of sale is still checked, not ignored
        with_method = {"phone_number": "0712345678", "amount": 10, "payment_method_id": self.mpesa_method.id}
        cases += [
            ({**with_method, "pos_config_id": "x"}, "pos_config_id must be an integer"),
            ({**with_method, "pos_config_id": True}, "pos_config_id must be an integer"),
            ({**with_method, "pos_config_id": [self.pos_config.id]}, "pos_config_id must be an integer"),
            ({**with_method, "pos_config_id": 999999}, "Unknown point of sale"),
        ]
        before = self.Callback.sudo().search_count([])
        sim_before = self.sim_control("GET", "transactions")
        for params, message in cases:
            result = self.rpc("/mpesa/stk_push", params)
            self.assertFalse(result["success"], params)
            self.assertEqual(set(result), {"success", "message"}, params)
            if message:
                self.assertIn(message, result["message"], params)
            self.assertNotIn("Traceback", result["message"])
        self.assertEqual(self.Callback.sudo().search_count([]), before)
        self.assertEqual(self.sim_control("GET", "transactions"), sim_before)  # no push sent

    def test_stk_push_not_configured(self):
        self.mpesa_config.passkey = False
        result = self.rpc("/mpesa/stk_push", {"phone_number": "0712345678", "amount": 100})
        self.assertEqual(result, {"success": False, "message": "M-Pesa not configured"})

    def test_stk_push_daraja_error_is_clear_and_secret_free(self):
        self.mpesa_config.consumer_secret = "wrong-secret"
        result = self.rpc("/mpesa/stk_push", {"phone_number": "0712345678", "amount": 100})
        self.assertFalse(result["success"])
        self.assertNotIn("wrong-secret", result["message"])
        self.assertNotIn(self.mpesa_config.passkey, result["message"])

    def test_endpoints_refuse_non_pos_users(self):
        self.authenticate("mpesa_accountant", "mpesa_accountant")
        for route, params in [
            ("/mpesa/stk_push", {"phone_number": "0712345678", "amount": 1}),
            ("/mpesa/check_status", {"checkout_request_id": "ws_CO_x"}),
            ("/mpesa/search_unreconciled_callbacks", {"amount": 100}),
            ("/mpesa/reconcile_callback", {"callback_id": 1, "order_id": 1}),
            ("/mpesa/cancel_stk", {"checkout_request_id": "ws_CO_x"}),
            ("/mpesa/register_c2b_urls", {}),
        ]:
            result = self.rpc(route, params)
            self.assertFalse(result["success"], route)
            self.assertIn("Access denied", result["message"], route)

    def test_malformed_jsonrpc_body_changes_nothing(self):
        before = self.Callback.sudo().search_count([])
        response = self.url_open(
            "/mpesa/stk_push", data=b"{oops", headers={"Content-Type": "application/json"}, method="POST"
        )
        self.assertEqual(response.status_code, 400)
        self.assertEqual(self.Callback.sudo().search_count([]), before)

    # ------------------------------------------------------------------ check_status

    def test_check_status_brief_example_unknown(self):
        result = self.rpc("/mpesa/check_status", {"checkout_request_id": "ws_CO_xxx"})
        self.assertEqual(result, {"success": False, "message": "Unknown CheckoutRequestID"})
        for bad in (None, 42, "", ["ws_CO_xxx"]):
            result = self.rpc("/mpesa/check_status", {"checkout_request_id": bad})
            self.assertFalse(result["success"])

    def test_check_status_by_row_status(self):
        now = fields.Datetime.now()
        cases = [
            (
                {
                    "status": "success",
                    "reason": "paid",
                    "result_code": "0",
                    "mpesa_receipt_number": "QKX1CS0001",
                    "amount": 100,
                },
                "completed",
                "Payment successful!",
            ),
            (
                {"status": "cancelled", "reason": "cancelled", "result_code": "1032"},
                "cancelled",
                "Payment cancelled",
            ),
            (
                {"status": "failed", "reason": "insufficient_balance", "result_code": "1"},
                "failed",
                "Insufficient balance",
            ),
            ({"status": "timeout", "reason": "timeout", "result_code": "1037"}, "failed", "Payment timeout"),
            (
                {"status": "needs_review", "reason": "unknown", "result_code": "777"},
                "error",
                "Payment needs review by a manager",
            ),
            (
                {"status": "pending", "last_query_date": now},
                "pending",
                "Waiting for the customer to enter the M-Pesa PIN",
            ),
        ]
        for index, (vals, status, message) in enumerate(cases):
            row = self.make_pending(f"ws_CO_CS{index}", f"m-cs{index}", **vals)
            result = self.rpc("/mpesa/check_status", {"checkout_request_id": row.checkout_request_id})
            self.assertTrue(result["success"])
            self.assertEqual((result["status"], result["message"]), (status, message), vals)
            self.assertEqual(result["callback_id"], row.id)
        completed = self.Callback.sudo().search([("checkout_request_id", "=", "ws_CO_CS0")])
        self.assertTrue(completed.is_claimed)  # the till that pushed now owns it
        self.assertEqual(completed.claim_order_key, "Order 00001")

    def test_check_status_gives_up_after_75_seconds(self):
        row = self.make_pending(
            "ws_CO_LATE", "m-late", request_date=fields.Datetime.now() - timedelta(seconds=80)
        )
        result = self.rpc("/mpesa/check_status", {"checkout_request_id": "ws_CO_LATE"})
        self.assertEqual(
            (result["status"], result["reason"], result["message"]), ("failed", "timeout", "Payment timeout")
        )
        row.invalidate_recordset()
        self.assertEqual(row.status, "pending")  # a late result is still stored as paid
        self.assertTrue(row.stk_abandoned)

    def test_cancel_stk(self):
        row = self.make_pending("ws_CO_CNL", "m-cnl")
        result = self.rpc("/mpesa/cancel_stk", {"checkout_request_id": "ws_CO_CNL"})
        self.assertTrue(result["success"])
        row.invalidate_recordset()
        self.assertTrue(row.stk_abandoned)
        self.assertFalse(self.rpc("/mpesa/cancel_stk", {"checkout_request_id": "ws_CO_NONE"})["success"])

    # ------------------------------------------------------------------ search

    def test_search_brief_example_and_filters(self):
        other_company = self.env["res.company"].create({"name": "Other Co"})
        other_config = self.env["mpesa.config"].create(
            {
                "name": "Other",
                "company_id": other_company.id,
                "environment": "sandbox",
                "business_shortcode": "600984",
                "c2b_shortcode": "600984",
            }
        )
        older = self.make_c2b("RKOLD00001", minutes_ago=3)
        newest = self.make_c2b("RKNEW00001", minutes_ago=1)
        self.make_c2b("RKSTALE001", minutes_ago=30)
        self.make_c2b("RKOTHER001", amount=101)
        self.make_c2b("RKTAKEN001", is_claimed=True)
        self.make_c2b("RKFAILED01", status="failed")
        self.make_c2b("RKOTHCO001", config_id=other_config.id, company_id=other_company.id)
        fresh_stk = self.make_pending(
            "ws_CO_FRESH", "m-fr", status="success", amount=100, mpesa_receipt_number="QKX1FRESH1"
        )
        gave_up = self.make_pending(
            "ws_CO_GAVE",
            "m-gv",
            status="success",
            amount=100,
            mpesa_receipt_number="QKX1GAVEUP",
            stk_abandoned=True,
        )
        result = self.rpc("/mpesa/search_unreconciled_callbacks", {"amount": 100, "max_age_minutes": 10})
        self.assertTrue(result["success"])
        ids = [cb["id"] for cb in result["callbacks"]]
        self.assertEqual(result["count"], len(ids))
        self.assertEqual(set(ids), {older.id, newest.id, gave_up.id})
        self.assertNotIn(fresh_stk.id, ids)
        self.assertLess(ids.index(newest.id), ids.index(older.id))
        item = next(cb for cb in result["callbacks"] if cb["id"] == newest.id)
        for key in (
            "id",
            "trans_id",
            "mpesa_receipt_number",
            "phone_number",
            "customer_name",
            "amount",
            "transaction_date",
            "create_date",
        ):
            self.assertIn(key, item)
        self.assertEqual(item["trans_id"], "RKNEW00001")
        self.assertEqual(item["amount"], 100.0)
        self.assertRegex(item["transaction_date"], r"^\d{14}$")
        self.assertRegex(item["create_date"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        # the window comes from the account when not given, the amount must match exactly
        self.assertEqual(
            self.rpc(
                "/mpesa/search_unreconciled_callbacks",
                {"amount": 100, "payment_method_id": self.mpesa_method.id},
            )["count"],
            3,
        )
        self.assertEqual(self.rpc("/mpesa/search_unreconciled_callbacks", {"amount": 100.01})["count"], 0)
        self.assertEqual(
            self.rpc("/mpesa/search_unreconciled_callbacks", {"amount": 100, "max_age_minutes": 60})["count"],
            4,
        )

    def test_till_account_follows_changes_at_once(self):
        """The till's account comes from per-worker caches: every change that matters is seen by
        the next request (the caches are cleared when a payment method or an account changes)."""
        self.make_c2b("RKCACHE001", minutes_ago=30)
        params = {"amount": 100, "payment_method_id": self.mpesa_method.id}

        def search():
            return self.rpc("/mpesa/search_unreconciled_callbacks", params)

        self.assertEqual(search()["count"], 0)  # outside the account's 10 minutes
        self.mpesa_config.match_window = 60
        self.assertEqual(search()["count"], 1)
        self.mpesa_method.active = False
        self.assertEqual(search()["message"], "Unknown payment method")
        self.mpesa_method.active = True
        self.assertEqual(search()["count"], 1)
        self.mpesa_config.passkey = False
        self.assertEqual(search()["message"], "M-Pesa not configured")
        self.mpesa_config.passkey = SANDBOX_PASSKEY
        self.assertEqual(search()["count"], 1)
        self.mpesa_config.active = False
        self.assertEqual(search()["message"], "M-Pesa not configured")
        self.mpesa_config.active = True
        self.mpesa_method.use_payment_terminal = False
        self.assertEqual(search()["message"], "This payment method is not an M-Pesa payment method")
        self.mpesa_method.use_payment_terminal = "mpesa"
        self.assertEqual(search()["count"], 1)
        # a method of a company the cashier does not work in: as unknown as the record rule makes it
        other_company = self.env["res.company"].create({"name": "Elsewhere Ltd"})
        journal = self.env["account.journal"].create(
            {"name": "Elsewhere Bank", "type": "bank", "code": "ELSB", "company_id": other_company.id}
        )
        elsewhere = self.env["pos.payment.method"].create(
            {"name": "M-Pesa Elsewhere", "journal_id": journal.id, "company_id": other_company.id}
        )
        params["payment_method_id"] = elsewhere.id
        self.assertEqual(search()["message"], "Unknown payment method")

    def test_search_bad_input(self):
        for params in (
            {"amount": "abc"},
            {"amount": -5},
            {"amount": False, "query": 12},  # no amount: any amount, but the query must be text
            {"amount": 100, "max_age_minutes": "ten"},
            {"amount": 100, "max_age_minutes": 0},
            {"amount": 100, "payment_method_id": 999999},
        ):
            result = self.rpc("/mpesa/search_unreconciled_callbacks", params)
            self.assertFalse(result["success"], params)
            self.assertTrue(result["message"])

    # ------------------------------------------------------------------ reconcile

    def test_reconcile_once(self):
        row = self.make_c2b("RKREC00001")
        order_uuid = "0f5c2d1e-1111-4a2b-9c3d-123456789abc"
        result = self.rpc(
            "/mpesa/reconcile_callback",
            {"callback_id": row.id, "order_id": order_uuid, "payment_method_id": self.mpesa_method.id},
        )
        self.assertEqual(
            result,
            {"success": True, "message": "Callback reconciled successfully", "receipt_number": "RKREC00001"},
        )
        row.invalidate_recordset()
        self.assertTrue(row.is_claimed)
        self.assertEqual(row.claim_order_key, order_uuid)
        self.assertEqual(row.claimed_by_id, self.pos_user)
        again = self.rpc("/mpesa/reconcile_callback", {"callback_id": row.id, "order_id": order_uuid})
        self.assertFalse(again["success"])
        self.assertIn("already reconciled", again["message"])
        search = self.rpc("/mpesa/search_unreconciled_callbacks", {"amount": 100})
        self.assertNotIn(row.id, [cb["id"] for cb in search["callbacks"]])

    def test_reconcile_bad_input(self):
        row = self.make_c2b("RKREC00002")
        failed = self.make_c2b("RKREC00003", status="failed")
        cases = [
            ({"callback_id": 999999, "order_id": "0f5c2d1e-1111-4a2b-9c3d-123456789abc"}, "Unknown callback"),
            ({"callback_id": "1", "order_id": 1}, "callback_id must be an integer"),
            ({"callback_id": row.id, "order_id": "not an order"}, "order_id must be the order's id or uuid"),
            ({"callback_id": row.id, "order_id": 123456789}, "Unknown order"),
            ({"callback_id": row.id}, "order_id must be the order's id or uuid"),
            (
                {"callback_id": failed.id, "order_id": "0f5c2d1e-1111-4a2b-9c3d-123456789abc"},
                "Only successful payments can be claimed",
            ),
        ]
        for params, message in cases:
            result = self.rpc("/mpesa/reconcile_callback", params)
            self.assertEqual(result, {"success": False, "message": message}, params)
        row.invalidate_recordset()
        self.assertFalse(row.is_claimed)

    # ------------------------------------------------------------------ register (settings admins)

    def test_register_c2b_urls_route(self):
        self.assertFalse(self.rpc("/mpesa/register_c2b_urls", {})["success"])  # cashier
        self.authenticate("mpesa_manager", "mpesa_manager")
        result = self.rpc("/mpesa/register_c2b_urls", {})
        self.assertTrue(result["success"], result)
        self.assertEqual(result["message"], "C2B URLs registered successfully")
        self.assertNotIn(self.mpesa_config.callback_token, str(result))
        self.assertTrue(self.mpesa_config.c2b_registered)


@tagged("post_install", "-at_install")
class TestClaimRace(MpesaCase):
    """Two real transactions race for one payment: one wins, the other gets 'already reconciled'."""

    def test_two_cursors(self):
        from odoo.api import Environment
        from odoo.sql_db import db_connect

        dbname = self.env.cr.dbname
        connection = db_connect(dbname)
        setup_cr = connection.cursor()
        row_id = None
        try:
            env0 = Environment(setup_cr, self.env.uid, {})
            # committed data, visible to both racers
            env0.cr.execute("SELECT id FROM res_users WHERE login = 'admin'")
            admin_id = env0.cr.fetchone()[0]
            env0 = Environment(setup_cr, admin_id, {})
            config = env0["mpesa.config"].search([("name", "=", "Race account")]) or env0[
                "mpesa.config"
            ].create(
                {
                    "name": "Race account",
                    "environment": "sandbox",
                    "business_shortcode": "600990",
                    "company_id": env0.company.id,
                }
            )
            row = (
                env0["mpesa.callback"]
                .sudo()
                .create(
                    {
                        "callback_type": "c2b",
                        "status": "success",
                        "mpesa_receipt_number": f"RACE{config.id:08d}",
                        "amount": 100,
                        "config_id": config.id,
                        "company_id": config.company_id.id,
                    }
                )
            )
            row_id = row.id
            setup_cr.commit()

            cr_a, cr_b = connection.cursor(), connection.cursor()
            # no till takes payments on the race account in these committed data: the claim's
            # account check (test_claim_scope.py) is given the race account as the till's
            race_account = patch.object(
                type(self.env["mpesa.callback"]),
                "_claim_accounts",
                lambda model, pos_config, payment_method=None: model.env["mpesa.config"].browse(config.id),
            )
            race_account.start()
            try:
                env_a = Environment(cr_a, admin_id, {})
                env_b = Environment(cr_b, admin_id, {})
                # both take their snapshot before either decides
                self.assertEqual(env_a["mpesa.callback"].sudo().browse(row_id).status, "success")
                self.assertEqual(env_b["mpesa.callback"].sudo().browse(row_id).status, "success")
                first = env_a["mpesa.callback"]._run_pos_request(
                    "_pos_claim", callback_id=row_id, order_id="aaaaaaaa-1111-4a2b-9c3d-123456789abc"
                )
                self.assertTrue(first["success"], first)
                # the second till finds the payment being taken: Odoo runs its request again
                with self.assertRaises(pg_errors.LockNotAvailable):
                    env_b["mpesa.callback"]._run_pos_request(
                        "_pos_claim", callback_id=row_id, order_id="bbbbbbbb-1111-4a2b-9c3d-123456789abc"
                    )
                cr_a.commit()
                cr_b.rollback()
                # the loser retries in a fresh transaction: still refused
                third = env_b["mpesa.callback"]._run_pos_request(
                    "_pos_claim", callback_id=row_id, order_id="bbbbbbbb-1111-4a2b-9c3d-123456789abc"
                )
                self.assertFalse(third["success"])
                self.assertIn("already reconciled", third["message"])
                cr_b.rollback()
                cr_a.execute("SELECT claim_order_key FROM mpesa_callback WHERE id = %s", (row_id,))
                self.assertEqual(cr_a.fetchone()[0], "aaaaaaaa-1111-4a2b-9c3d-123456789abc")
            finally:
                race_account.stop()
                cr_a.close()
                cr_b.close()
        finally:
            if row_id:
                # test-only cleanup of committed rows (the ORM forbids deleting the log)
                setup_cr.rollback()
                setup_cr.execute("DELETE FROM mpesa_callback WHERE id = %s", (row_id,))
                setup_cr.execute("DELETE FROM mpesa_config WHERE name = 'Race account'")
                setup_cr.commit()
            setup_cr.close()
