"""A C2B confirmation that never arrived (Safaricom gave up while Odoo was down) is recovered from
Daraja's Pull Transactions, once, and offered to the tills like any C2B payment."""

from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from .common import MpesaCase


@tagged("post_install", "-at_install")
class TestPull(MpesaCase):
    def setUp(self):
        super().setUp()
        self.mpesa_config.write({"callback_base_url": self.base_url(), "pull_nominated_number": "0722000000"})
        self.config = self.mpesa_config.with_user(self.pos_manager)
        self.config.action_register_c2b_urls()

    def rows(self, receipt):
        return self.Callback.sudo().search([("mpesa_receipt_number", "=", receipt)])

    def test_a_lost_confirmation_is_recovered_once(self):
        delivered = self.sim_pay(120, "once")
        lost = self.sim_pay(130, "lost")
        self.assertEqual(self.rows(delivered).source, "token_url")
        self.assertFalse(self.rows(lost), "the lost confirmation reached Odoo")

        self.config.action_register_pull()
        self.assertTrue(self.mpesa_config.pull_registered)
        self.env["mpesa.config"]._cron_pull_c2b()
        recovered = self.rows(lost)
        self.assertEqual(
            (len(recovered), recovered.source, recovered.status, recovered.amount),
            (1, "pull", "success", 130),
        )
        self.assertEqual(recovered.config_id, self.mpesa_config)
        self.assertTrue(self.mpesa_config.last_pull_date)

        # the next pull (and a late confirmation) never make a second row or a duplicate
        self.assertEqual(self.mpesa_config.sudo()._pull_missed(), 0)
        self.assertEqual((len(self.rows(lost)), len(self.rows(delivered))), (1, 1))
        self.assertEqual(self.rows(delivered).duplicate_count, 0)

        # the till is offered the recovered payment
        self.as_cashier()
        found = self.rpc("/mpesa/search_unreconciled_callbacks", {"amount": 130})
        self.assertEqual([cb["mpesa_receipt_number"] for cb in found["callbacks"]], [lost])
        self.assertEqual(found["callbacks"][0]["source"], "pull")  # the popup says where it came from

    def test_pull_is_for_managers(self):
        with self.assertRaises(UserError):
            self.mpesa_config.with_user(self.pos_user).action_pull_now()

    def test_a_query_confirmed_stk_payment_gets_its_receipt(self):
        self.sim_control("POST", "options", {"stk_c2b_twin": "off"})  # neither its callback nor its twin came
        self.as_cashier()
        push = self.rpc(
            "/mpesa/stk_push", {"phone_number": "0712345608", "amount": 100, "order_reference": "Order 77"}
        )  # the simulator's ...08: paid, no callback
        self.assertTrue(push["success"], push)
        row = self.Callback.sudo().search([("checkout_request_id", "=", push["checkout_request_id"])])
        row._stk_query(force=True)
        self.assertEqual((row.status, row.mpesa_receipt_number), ("success", False))
        receipt = next(
            t["receipt_number"]
            for t in self.sim_control("GET", "transactions")["transactions"]
            if t.get("checkout_request_id") == push["checkout_request_id"]
        )

        self.config.action_register_pull()
        self.assertEqual(self.mpesa_config.sudo()._pull_missed(), 0)  # no new row: the STK row's receipt
        row.invalidate_recordset()
        self.assertEqual(row.mpesa_receipt_number, receipt)
        live = self.rows(receipt).filtered(lambda r: r._is_live_payment())
        self.assertEqual(live, row)  # one payment, whether its C2B twin came or not

    def test_pull_a_chosen_range(self):
        lost = self.sim_pay(140, "lost")
        self.config.action_register_pull()
        now = fields.Datetime.now()
        self.mpesa_config.sudo().last_pull_date = now  # the cron's window is behind the payment
        Range = self.env["mpesa.pull.range"].with_user(self.pos_manager)
        with self.assertRaises(ValidationError):  # M-Pesa keeps 48 hours
            Range.create({"config_id": self.mpesa_config.id, "start": now - timedelta(hours=49), "end": now})
        wizard = Range.create(
            {
                "config_id": self.mpesa_config.id,
                "start": now - timedelta(hours=1),
                "end": now + timedelta(minutes=1),
            }
        )
        action = wizard.action_pull()
        self.assertIn("1 missed payment", action["params"]["message"])
        self.assertEqual(self.rows(lost).source, "pull")
        pulled_until = self.mpesa_config.last_pull_date
        self.assertTrue(now <= pulled_until <= now + timedelta(minutes=1))
        # a range in the past does not move the next pull's start back
        Range.create(
            {
                "config_id": self.mpesa_config.id,
                "start": now - timedelta(hours=3),
                "end": now - timedelta(hours=2),
            }
        ).action_pull()
        self.assertEqual(self.mpesa_config.last_pull_date, pulled_until)
        with self.assertRaises(UserError):
            Range.with_user(self.pos_user).create(
                {"config_id": self.mpesa_config.id, "start": now - timedelta(hours=1), "end": now}
            ).action_pull()
