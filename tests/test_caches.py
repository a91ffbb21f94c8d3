"""The per-worker caches of the till's and Safaricom's requests are cleared when an M-Pesa fact changes,
and only then (`make bench` prints what each one saves)."""

from unittest.mock import patch

from odoo.tests import tagged

from .common import MpesaCase


@tagged("post_install", "-at_install")
class TestCaches(MpesaCase):
    def clears(self):
        Method = type(self.env["pos.payment.method"])
        return patch.object(Method, "_mpesa_clear_method_facts", autospec=True)

    def test_another_payment_method_leaves_the_cache(self):
        with self.clears() as clear:
            cash = self.env["pos.payment.method"].create({"name": "Card"})
            cash.write({"name": "Card 2", "active": False})
            cash.unlink()
        clear.assert_not_called()

    def test_an_mpesa_method_fact_clears_it(self):
        with self.clears() as clear:
            journal = self.env["account.journal"].create(
                {"name": "M-Pesa C", "type": "bank", "code": "MPCC", "company_id": self.company.id}
            )
            method = self.env["pos.payment.method"].create({"name": "M-Pesa C", "journal_id": journal.id})
            self.assertEqual(method.use_payment_terminal, "mpesa")
            self.assertEqual(clear.call_count, 1)
            method.write({"name": "M-Pesa C renamed"})  # not a cached fact
            self.assertEqual(clear.call_count, 1)
            method.write({"active": False})
            self.assertEqual(clear.call_count, 2)
            method.write({"use_payment_terminal": False})  # was an M-Pesa method
            self.assertEqual(clear.call_count, 3)

    def test_the_till_sees_a_fact_change_at_once(self):
        self.as_cashier()
        params = {"amount": 100, "payment_method_id": self.mpesa_method.id}
        self.assertTrue(self.rpc("/mpesa/search_unreconciled_callbacks", params)["success"])
        self.mpesa_method.write({"active": False})
        self.assertEqual(
            self.rpc("/mpesa/search_unreconciled_callbacks", params)["message"], "Unknown payment method"
        )
