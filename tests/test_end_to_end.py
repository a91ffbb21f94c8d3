"""Over real HTTP: POS route -> simulator -> Safaricom-style callback to Odoo -> status / search / order."""

import time
import uuid
from datetime import timedelta

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import MpesaCase


@tagged("post_install", "-at_install")
class TestEndToEnd(MpesaCase):
    def setUp(self):
        super().setUp()
        # the simulator calls this test server back
        self.mpesa_config.callback_base_url = self.base_url()
        self.as_cashier()

    def wait_status(self, checkout_id, until=("completed", "cancelled", "failed", "error"), seconds=15):
        deadline = time.monotonic() + seconds
        while True:
            result = self.rpc("/mpesa/check_status", {"checkout_request_id": checkout_id})
            if result.get("status") in until or time.monotonic() > deadline:
                return result
            self.let_callbacks_in(0.3)

    def push(self, phone, amount=100, **extra):
        result = self.rpc(
            "/mpesa/stk_push",
            {
                "phone_number": phone,
                "amount": amount,
                "order_reference": "Order 00001-001-0001",
                "payment_method_id": self.mpesa_method.id,
                "pos_config_id": self.pos_config.id,
                **extra,
            },
        )
        self.assertTrue(result["success"], result)
        return result["checkout_request_id"]

    def row(self, checkout_id):
        return self.Callback.sudo().search([("checkout_request_id", "=", checkout_id)])

    def test_stk_success_end_to_end(self):
        order_uuid = str(uuid.uuid4())
        checkout_id = self.push("0712345600", order_uuid=order_uuid)
        result = self.wait_status(checkout_id)
        self.assertEqual(result["status"], "completed", result)
        self.assertEqual(result["message"], "Payment successful!")
        self.assertTrue(result["receipt_number"])
        row = self.row(checkout_id)
        self.assertEqual(row.status, "success")
        self.assertTrue(row.callback_received)
        self.assertEqual(row.amount, 100)
        self.assertEqual(row.mpesa_receipt_number, result["receipt_number"])
        self.assertTrue(row.is_claimed)  # taken by the till that pushed
        # the order reaches the server with the payment line: final link by CheckoutRequestID
        order = self.sync_order(order_uuid, row, checkout_request_id=checkout_id)
        row.invalidate_recordset()
        self.assertEqual(row.pos_order_id, order)
        self.assertEqual(row.pos_payment_id.mpesa_callback_id, row)
        self.assertEqual(row.pos_payment_id.mpesa_receipt_number, row.mpesa_receipt_number)
        # Odoo's own reference of the payment: a bank statement line matches it by the receipt
        self.assertEqual(row.pos_payment_id.transaction_id, row.mpesa_receipt_number)
        self.assertEqual(row.pos_payment_id.mpesa_phone_number, row.phone_number)

    def test_stk_failures_end_to_end(self):
        for phone, status, message in (
            ("0712345601", "cancelled", "Payment cancelled"),
            ("0712345602", "failed", "Insufficient balance"),
            ("0712345603", "failed", "Payment timeout"),
        ):
            checkout_id = self.push(phone)
            result = self.wait_status(checkout_id)
            self.assertEqual((result["status"], result["message"]), (status, message), phone)

    def test_stk_delivered_twice_is_one_payment(self):
        checkout_id = self.push("0712345609")
        self.assertEqual(self.wait_status(checkout_id)["status"], "completed")
        deadline = time.monotonic() + 10
        row = self.row(checkout_id)
        while row.duplicate_count < 1 and time.monotonic() < deadline:
            self.let_callbacks_in(0.3)
        self.assertEqual(row.duplicate_count, 1)
        self.assertEqual(row.status, "success")

    def test_stk_confirmed_by_query(self):
        self.mpesa_config.confirm_stk_with_query = True
        checkout_id = self.push("0712345600")
        result = self.wait_status(checkout_id)
        self.assertEqual(result["status"], "completed", result)
        row = self.row(checkout_id)
        self.assertTrue(row.confirmed_by_query)
        self.assertTrue(row.mpesa_receipt_number)

    def test_stk_result_after_till_gave_up_is_matchable(self):
        checkout_id = self.push("0712345677")  # interactive: nobody answers yet
        row = self.row(checkout_id)
        row.write({"request_date": fields.Datetime.now() - timedelta(seconds=90)})
        gave_up = self.rpc("/mpesa/check_status", {"checkout_request_id": checkout_id})
        self.assertEqual(gave_up["message"], "Payment timeout")
        self.sim_control("POST", f"stk/{checkout_id}/resolve", {"result_code": 0})
        deadline = time.monotonic() + 10
        while row.status == "pending" and time.monotonic() < deadline:
            self.let_callbacks_in(0.3)
        self.assertEqual(row.status, "success")
        found = self.rpc(
            "/mpesa/search_unreconciled_callbacks", {"amount": 100, "payment_method_id": self.mpesa_method.id}
        )
        self.assertIn(row.id, [cb["id"] for cb in found["callbacks"]])

    def test_c2b_found_reconciled_once_and_linked_to_order(self):
        self.authenticate("mpesa_manager", "mpesa_manager")
        self.assertTrue(self.rpc("/mpesa/register_c2b_urls", {})["success"])
        self.as_cashier()
        self.sim_control(
            "POST",
            "c2b/pay",
            {
                "shortcode": "600984",
                "amount": 100,
                "msisdn": "254708374149",
                "bill_ref_number": "Till 1",
                "msisdn_mode": "masked",
            },
        )
        deadline = time.monotonic() + 10
        found = {"count": 0}
        while not found["count"] and time.monotonic() < deadline:
            self.let_callbacks_in(0.3)
            found = self.rpc(
                "/mpesa/search_unreconciled_callbacks",
                {"amount": 100, "payment_method_id": self.mpesa_method.id},
            )
        self.assertEqual(found["count"], 1, found)
        callback = found["callbacks"][0]
        order_uuid = str(uuid.uuid4())
        first = self.rpc(
            "/mpesa/reconcile_callback",
            {
                "callback_id": callback["id"],
                "order_id": order_uuid,
                "payment_method_id": self.mpesa_method.id,
            },
        )
        self.assertTrue(first["success"], first)
        self.assertEqual(first["receipt_number"], callback["mpesa_receipt_number"])
        second = self.rpc(
            "/mpesa/reconcile_callback", {"callback_id": callback["id"], "order_id": str(uuid.uuid4())}
        )
        self.assertIn("already reconciled", second["message"])

        # the order reaches the server: the row gets its final link
        row = self.Callback.sudo().browse(callback["id"])
        order = self.sync_order(order_uuid, row)
        row.invalidate_recordset()
        self.assertEqual(row.pos_order_id, order)
        self.assertEqual(row.pos_payment_id.pos_order_id, order)
        self.assertEqual(row.pos_payment_id.mpesa_receipt_number, row.mpesa_receipt_number)
        # Odoo's own reference of the payment: a bank statement line matches it by the receipt
        self.assertEqual(row.pos_payment_id.transaction_id, row.mpesa_receipt_number)
        self.assertEqual(row.pos_payment_id.mpesa_phone_number, row.phone_number)

        # another order cannot take it through its payment line: that order does not sync
        with (
            self.assertRaises(ValidationError),
            self.env.cr.savepoint(),
            mute_logger("odoo.addons.pos_mpesa"),
        ):
            self.sync_order(str(uuid.uuid4()), row)
        row.invalidate_recordset()
        self.assertEqual(row.pos_order_id, order)
