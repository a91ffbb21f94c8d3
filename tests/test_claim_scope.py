"""A till claims only its own accounts' payments; a NUL in any request is a clear refusal; one
message per Daraja result.

Each test failed before its fix: a direct /mpesa/reconcile_callback gave a branch till's payment to
another till's order; a NUL in checkout_request_id answered "Unexpected server error"; result
code 8006 reached the cashier as "Wrong M-Pesa PIN".
"""

import uuid

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import SANDBOX_PASSKEY, UNREACHABLE, MpesaCase, order_line, stk_callback


@tagged("post_install", "-at_install")
class TestClaimScope(MpesaCase):
    """Two accounts of one company: the main paybill (self.pos_config) and a branch till."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.branch_account = cls.env["mpesa.config"].create(
            {
                "name": "Branch Till",
                "company_id": cls.company.id,
                "environment": "simulator",
                "simulator_url": cls.sim.base_url,
                "account_type": "till",
                "business_shortcode": "174380",
                "till_number": "174381",
                "consumer_key": "sim-consumer-key",
                "consumer_secret": "sim-consumer-secret",
                "passkey": SANDBOX_PASSKEY,
                "callback_base_url": UNREACHABLE,
            }
        )
        journal = cls.env["account.journal"].create(
            {"name": "M-Pesa Branch", "type": "bank", "code": "MPBR", "company_id": cls.company.id}
        )
        cls.branch_method = cls.env["pos.payment.method"].create(
            {
                "name": "M-Pesa Branch",
                "journal_id": journal.id,
                "company_id": cls.company.id,
                "use_payment_terminal": "mpesa",
                "mpesa_config_id": cls.branch_account.id,
            }
        )
        cls.branch_pos = cls.env["pos.config"].create(
            {"name": "Branch", "payment_method_ids": [(4, cls.branch_method.id)]}
        )
        cls.product = cls.env["product.product"].create(
            {"name": "Bread", "list_price": 100, "available_in_pos": True, "taxes_id": [(5, 0, 0)]}
        )

    def setUp(self):
        super().setUp()
        self.as_cashier()

    def branch_payment(self, receipt):
        return self.make_c2b(receipt, config_id=self.branch_account.id)

    def draft_order(self, pos_config):
        """An order of ``pos_config`` already on the server (synced as draft)."""
        if not pos_config.current_session_id:
            pos_config.open_ui()
            pos_config.current_session_id.set_opening_control(0, None)
        session = pos_config.current_session_id
        order_uuid = str(uuid.uuid4())
        result = (
            self.env["pos.order"]
            .with_user(self.pos_user)
            .sync_from_ui(
                [
                    {
                        "uuid": order_uuid,
                        "name": f"Order {order_uuid}",
                        "session_id": session.id,
                        "pricelist_id": pos_config.pricelist_id.id,
                        "user_id": self.pos_user.id,
                        "amount_paid": 0,
                        "amount_return": 0,
                        "amount_tax": 0,
                        "amount_total": 100,
                        "date_order": fields.Datetime.to_string(fields.Datetime.now()),
                        "last_order_preparation_change": "{}",
                        "state": "draft",
                        "lines": [order_line(self.product)],
                        "payment_ids": [],
                    }
                ]
            )
        )
        return self.env["pos.order"].browse(result["pos.order"][0]["id"])

    def claim(self, row, order_id, **params):
        return self.rpc("/mpesa/reconcile_callback", {"callback_id": row.id, "order_id": order_id, **params})

    def assert_unclaimed(self, row, result):
        self.assertFalse(result["success"], result)
        self.assertIn(
            result["message"],
            (
                "This payment was made to another M-Pesa account",
                "This payment method is not used by this point of sale",
            ),
        )
        row.invalidate_recordset()
        self.assertFalse(row.is_claimed)

    # ------------------------------------------------------------------ a till takes its own accounts' money

    def test_order_of_another_till_cannot_take_a_branch_payment(self):
        payment = self.branch_payment("BRANCH0001")
        order = self.draft_order(self.pos_config)
        # the two original fields only (callback_id, order_id): the order's own till decides the account
        self.assert_unclaimed(payment, self.claim(payment, order.id))
        self.assert_unclaimed(payment, self.claim(payment, order.uuid))
        # whatever the caller says about its till
        self.assert_unclaimed(payment, self.claim(payment, order.id, pos_config_id=self.branch_pos.id))
        self.assert_unclaimed(payment, self.claim(payment, order.id, payment_method_id=self.branch_method.id))

    def test_unsynced_order_takes_only_the_named_tills_accounts(self):
        payment = self.branch_payment("BRANCH0002")
        # an order not yet on the server, no till named: the company's default account only
        self.assert_unclaimed(payment, self.claim(payment, str(uuid.uuid4())))
        self.assert_unclaimed(
            payment, self.claim(payment, str(uuid.uuid4()), pos_config_id=self.pos_config.id)
        )
        # a payment method named alone scopes the claim to its account: the main one's refuses it
        self.assert_unclaimed(
            payment, self.claim(payment, str(uuid.uuid4()), payment_method_id=self.mpesa_method.id)
        )
        # the branch till takes it
        taken = self.claim(payment, str(uuid.uuid4()), pos_config_id=self.branch_pos.id)
        self.assertTrue(taken["success"], taken)
        payment.invalidate_recordset()
        self.assertEqual(payment.claim_config_id, self.branch_pos)

    def test_branch_order_takes_the_branch_payment(self):
        payment = self.branch_payment("BRANCH0003")
        order = self.draft_order(self.branch_pos)
        taken = self.claim(payment, order.id)
        self.assertTrue(taken["success"], taken)
        payment.invalidate_recordset()
        self.assertEqual(payment.pos_order_id, order)

    def test_synced_payment_line_cannot_carry_a_branch_payment(self):
        payment = self.branch_payment("BRANCH0004")
        order = self.draft_order(self.pos_config)
        self.env.invalidate_all()
        with (
            self.assertRaises(ValidationError),
            self.env.cr.savepoint(),
            mute_logger("odoo.addons.pos_mpesa"),
        ):
            self.env["pos.payment"].sudo().create(
                {
                    "pos_order_id": order.id,
                    "amount": 100,
                    "payment_method_id": self.mpesa_method.id,
                    "mpesa_callback_id": payment.id,
                    "mpesa_receipt_number": payment.mpesa_receipt_number,
                }
            )
        payment.invalidate_recordset()
        self.assertFalse(payment.is_claimed)

    # ------------------------------------------------------------------ NUL in a request

    def test_nul_in_any_string_parameter_is_a_clear_refusal(self):
        self.make_pending("ws_CO_NUL0001")
        before = self.Callback.sudo().search_count([])
        nul = "ws_CO_\u0000NUL"
        for route, params in [
            ("/mpesa/check_status", {"checkout_request_id": nul}),
            ("/mpesa/cancel_stk", {"checkout_request_id": nul}),
            ("/mpesa/check_status", {"checkout_request_id": "ws_CO_NUL0001", "order_uuid": "\u0000"}),
            ("/mpesa/stk_push", {"phone_number": "0712345600", "amount": 100, "order_reference": "A\u0000B"}),
            ("/mpesa/stk_push", {"phone_number": "07123\u000045600", "amount": 100}),
            ("/mpesa/search_unreconciled_callbacks", {"amount": "100\u0000"}),
            ("/mpesa/reconcile_callback", {"callback_id": 1, "order_id": "\u0000"}),
        ]:
            with self.assertNoLogs("odoo.addons.pos_mpesa", level="ERROR"):
                result = self.rpc(route, params)
            self.assertEqual(
                result, {"success": False, "message": "A request parameter contains a NUL character"}, route
            )
        self.assertEqual(self.Callback.sudo().search_count([]), before)


@tagged("post_install", "-at_install")
class TestOneMessagePerResult(MpesaCase):
    def test_pin_locked_is_not_a_wrong_pin(self):
        row = self.make_pending("ws_CO_PIN8006", "m-8006")
        locked = stk_callback(
            "ws_CO_PIN8006", "m-8006", result_code=8006, desc="The security credential is locked."
        )
        self.post_json(self.token_url("stk"), locked)
        row.invalidate_recordset()
        self.assertEqual(row.result_code, "8006")
        self.as_cashier()
        answer = self.rpc("/mpesa/check_status", {"checkout_request_id": "ws_CO_PIN8006"})
        self.assertEqual(
            (answer["status"], answer["message"]), ("failed", "The customer's M-Pesa PIN is locked")
        )
