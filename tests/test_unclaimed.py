"""Unclaimed payments: found once the match window is over, settled by a manager (attached to the
order's M-Pesa line validated without a matching payment, exactly once; or settled outside the POS)."""

import uuid

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..models.mpesa_claim import SETTLED_OUTSIDE
from .common import MpesaCase


@tagged("post_install", "-at_install")
class TestUnclaimed(MpesaCase):
    def unclaimed(self):
        return self.Callback.with_user(self.accountant).search([("is_unclaimed", "=", True)])

    def settle(self, row, user=None, **vals):
        wizard = (
            self.env["mpesa.unclaimed.settle"]
            .with_user(user or self.pos_manager)
            .create({"callback_id": row.id, "reason": "customer came back", **vals})
        )
        return wizard.action_settle()

    def test_unclaimed_after_the_match_window(self):
        old = self.make_c2b("RKU0000001", minutes_ago=30)
        self.make_c2b("RKU0000002", minutes_ago=2)  # the tills still offer it
        self.make_c2b("RKU0000003", minutes_ago=30, is_claimed=True)
        self.make_c2b("RKU0000004", minutes_ago=30, status="failed")
        self.assertEqual(self.unclaimed(), old)
        self.assertTrue(old.is_unclaimed)
        self.assertEqual(old.waiting_time, "0 h 30 min")
        self.assertNotIn(old, self.Callback.search([("is_unclaimed", "=", False)]))
        self.mpesa_config.match_window = 60  # the account's own window decides
        self.assertFalse(self.unclaimed())

    def test_attached_to_the_order_validated_without_it_once(self):
        row = self.make_c2b("RKU0000010", amount=100, minutes_ago=30)
        order = self.sync_order(str(uuid.uuid4()), None)
        line = order.payment_ids
        self.assertFalse(line.mpesa_callback_id)
        with self.assertRaises(AccessError):
            self.settle(row, user=self.pos_user, pos_payment_id=line.id)
        self.settle(row, pos_payment_id=line.id)
        row.invalidate_recordset()
        self.assertEqual((row.pos_payment_id, row.pos_order_id, row.is_claimed), (line, order, True))
        self.assertEqual((line.mpesa_receipt_number, line.transaction_id), ("RKU0000010", "RKU0000010"))
        self.assertIn("customer came back", row.note)
        self.assertIn("mpesa_manager", row.note.lower().replace(" ", "_"))
        self.assertFalse(row.is_unclaimed)
        # a second attach of the same payment, to another order's line: refused, nothing moves
        other = self.sync_order(str(uuid.uuid4()), None).payment_ids
        with self.assertRaises(UserError), mute_logger("odoo.addons.pos_mpesa"):
            self.settle(row, pos_payment_id=other.id)
        row.invalidate_recordset()
        self.assertEqual(row.pos_payment_id, line)
        self.assertFalse(other.mpesa_callback_id)

    def test_settled_outside_the_pos(self):
        row = self.make_c2b("RKU0000020", minutes_ago=30)
        self.settle(row, mode="outside", reason="paid invoice INV/2026/0042")
        row.invalidate_recordset()
        self.assertEqual(
            (row.is_claimed, row.claim_order_key, row.claimed_by_id),
            (True, SETTLED_OUTSIDE, self.pos_manager),
        )
        self.assertIn("INV/2026/0042", row.note)
        self.assertFalse(self.unclaimed())
        self.as_cashier()
        found = self.rpc("/mpesa/search_unreconciled_callbacks", {"query": "RKU0000020"})
        self.assertFalse(found.get("callbacks"), "no till can take it")
        with self.assertRaises(UserError):
            self.settle(row, mode="outside")  # already settled
        row.with_user(self.pos_manager).action_release_claim()  # a mistake: undone
        self.assertTrue(row.is_unclaimed)
