"""Closing a till: its M-Pesa lines next to the payments M-Pesa received, differences on the session."""

import uuid
from datetime import timedelta

from odoo.tests import tagged

from .common import MpesaCase


@tagged("post_install", "-at_install")
class TestSessionClosing(MpesaCase):
    def test_closing_figures_and_the_note(self):
        paid = self.make_c2b("RKC0000001", amount=100)
        self.sync_order(str(uuid.uuid4()), paid)  # opens the session
        session = self.pos_config.current_session_id
        self.sync_order(str(uuid.uuid4()), None, amount=50)  # validated without a matching payment
        taken = self.make_c2b("RKC0000002", amount=70)
        taken._claim(str(uuid.uuid4()), pos_config=self.pos_config)  # its order never synced
        self.make_c2b("RKC0000003", amount=30, minutes_ago=0)  # received during the session, on no order
        before = self.make_c2b("RKC0000004", amount=20)
        before.sudo().received_date = session.start_at - timedelta(hours=1)  # before the session

        data = session.with_user(self.pos_user).get_closing_control_data()
        [figure] = data["mpesa"]
        self.assertEqual(
            (
                figure["lines_count"],
                figure["lines_amount"],
                figure["linked_count"],
                figure["linked_amount"],
                figure["unmatched_count"],
                figure["unmatched_amount"],
                figure["not_synced_receipts"],
                figure["unclaimed_receipts"],
                figure["unclaimed_amount"],
            ),
            (2, 150, 1, 100, 1, 50, ["RKC0000002"], ["RKC0000003"], 30),
        )
        text = data["mpesa_differences"]
        self.assertIn("1 line(s) validated without a matching payment", text)
        self.assertIn("RKC0000002", text)
        self.assertIn("RKC0000003", text)
        self.assertNotIn("RKC0000004", text)

        session.close_session_from_ui()
        self.assertEqual(session.mpesa_closing_note, text)

    def test_a_refund_sent_back_by_reversal_is_no_difference(self):
        sale = self.make_c2b("RKC0000005", amount=80)
        sold = self.sync_order(str(uuid.uuid4()), sale, amount=80)
        session = self.pos_config.current_session_id
        refund_key, unsent_key = str(uuid.uuid4()), str(uuid.uuid4())
        self.env["mpesa.daraja.request"].sudo().create(
            {
                "kind": "reversal",
                "state": "done",
                "outcome": "reversed",
                "receipt": "RKC0000005",
                "amount": 80,
                "callback_id": sale.id,
                "config_id": self.mpesa_config.id,
                "pos_order_id": sold.id,
                "refund_order_key": refund_key,
                "result_receipt": "RKR0000005",
            }
        )
        self.sync_order(refund_key, None, amount=-80)  # its M-Pesa line: the money sent back
        self.sync_order(unsent_key, None, amount=-30)  # refunded on M-Pesa without a reversal

        [figure] = session.get_closing_control_data()["mpesa"]
        self.assertEqual(
            (
                figure["lines_count"],
                figure["lines_amount"],
                figure["linked_count"],
                figure["reversed_count"],
                figure["reversed_amount"],
                figure["unmatched_count"],
                figure["unmatched_amount"],
            ),
            (3, -30, 1, 1, -80, 1, -30),
        )
        text = session._mpesa_closing_text()
        self.assertIn("1 line(s) validated without a matching payment", text)
        self.assertNotIn("80", text)
