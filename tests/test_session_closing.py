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
