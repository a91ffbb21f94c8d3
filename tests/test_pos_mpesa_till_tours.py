"""The till's newer M-Pesa flows in the real POS (headless Chromium), against the Daraja simulator:
the C2B popup's search (receipt code, phone digits, name; M-Pesa asked about a receipt Odoo never
received), several payments for one order, pay to account (paybill + code) and the Dynamic QR.

The class setup is TestPosMpesaTours's (its tests are not run again here).
"""

import threading
from unittest.mock import patch

import requests
from odoo.tests import tagged

from . import common
from . import test_pos_mpesa_tours as base

OTHER_ORDER = "0b0e6c1e-0000-4000-8000-00000000a11a"


@tagged("post_install", "-at_install")
class TestPosMpesaTillTours(base.TestPosMpesaTours):
    # the parent's tours run in their own class only (a non-callable attribute is no test)
    locals().update(
        {
            name: None
            for name in dir(base.TestPosMpesaTours)
            if name.startswith("test_") and callable(getattr(base.TestPosMpesaTours, name))
        }
    )

    def post_payment(
        self, trans_id, name, amount, msisdn="254708374149", bill_ref="Till 1", via_requests=False
    ):
        """A C2B confirmation of ``amount`` with this account number (post_c2b of the tours)."""
        self.post_c2b(
            trans_id,
            name,
            msisdn=msisdn,
            amount=f"{amount:.2f}",
            via_requests=via_requests,
            bill_ref=bill_ref,
        )

    def rows(self, *receipts):
        return self.env["mpesa.callback"].sudo().search([("mpesa_receipt_number", "in", list(receipts))])

    def mpesa_payments(self):
        order = self.last_order()
        self.assertEqual(order.state, "paid")
        return order.payment_ids.filtered(lambda p: p.payment_method_id == self.mpesa_method)

    def assert_linked(self, payments, receipts):
        self.assertEqual(sorted(payments.mapped("mpesa_receipt_number")), sorted(receipts))
        for payment in payments:
            row = payment.mpesa_callback_id
            self.assertTrue(row, "each payment line is linked to its M-Pesa transaction")
            self.assertEqual(row.mpesa_receipt_number, payment.mpesa_receipt_number)
            self.assertEqual((row.pos_payment_id, row.pos_order_id), (payment, payment.pos_order_id))
            self.assertTrue(row.is_claimed)
            self.assertEqual(payment.amount, row.amount)

    def with_initiator(self):
        self.mpesa_config.write(common.TEST_INITIATOR)
        self.mpesa_config.action_register_c2b_urls()

    def after_code_issued(self, then, delay=2.0):
        """Patch the code route: once the till got its code, ``then(answer)`` runs in a thread (the
        customer paying on their phone while the till waits)."""
        Callback = type(self.env["mpesa.callback"])
        original = Callback._pos_account_code
        threads = []

        def issue_then_pay(model, *args, **kwargs):
            answer = original(model, *args, **kwargs)
            if answer.get("success") and not threads:
                thread = threading.Timer(delay, then, args=(answer,))
                threads.append(thread)
                thread.start()
            return answer

        return patch.object(Callback, "_pos_account_code", issue_then_pay), threads

    # ------------------------------------------------------------------ the C2B popup

    def test_two_payments_for_one_order(self):
        self.post_payment("RPART00060", "ALICE WAMBUI", 60, msisdn="254711000001")
        self.post_payment("RPART00040", "BRIAN OTIENO", 40, msisdn="254711000002")
        self.post_payment("ROTHER0250", "CAROL NJERI", 250, msisdn="254711000003")
        self.start_pos_tour("PosMpesaTillTwoPaymentsTour")
        payments = self.mpesa_payments()
        self.assertEqual(len(payments), 2, "one payment line per M-Pesa receipt")
        self.assert_linked(payments, ["RPART00060", "RPART00040"])
        self.assertFalse(self.rows("ROTHER0250").is_claimed)

    def test_search_by_phone_name_and_receipt(self):
        self.post_payment("RSRCH00001", "JOHN DOE", 100, msisdn="254711000001")
        self.post_payment("RSRCH00002", "BRIAN OTIENO", 100, msisdn="254722000555")
        self.post_payment("RSRCH00003", "MARY ATIENO", 100, msisdn="254733000003")
        self.start_pos_tour("PosMpesaTillSearchTour")
        self.assert_linked(self.mpesa_payments(), ["RSRCH00001"])
        self.assertFalse(any(self.rows("RSRCH00002", "RSRCH00003").mapped("is_claimed")))

    def test_receipt_never_received_is_asked_of_mpesa(self):
        self.with_initiator()
        self.post_payment("RKNOWN0001", "JOHN DOE", 100)
        with patch("odoo.addons.pos_mpesa.daraja_simulator.c2b.receipt_number", return_value="SLOST7K001"):
            paid = common.MpesaCase.sim_control(
                self, "POST", "c2b/pay", {"shortcode": base.C2B_SHORTCODE, "amount": 100, "delivery": "lost"}
            )
        self.assertEqual(paid["trans_id"], "SLOST7K001")
        self.start_pos_tour("PosMpesaTillLookupTour")
        self.assert_linked(self.mpesa_payments(), ["SLOST7K001"])
        self.assertFalse(self.rows("RKNOWN0001").is_claimed)

    def test_payment_taken_by_another_till_while_ticked(self):
        self.post_payment("RTAKEN0060", "JOHN DOE", 60, msisdn="254711000001")
        self.post_payment("RJANE00040", "JANE DOE", 40, msisdn="254711000002")
        self.post_payment("RMORE00060", "PETER KAMAU", 60, msisdn="254711000003")
        Callback = type(self.env["mpesa.callback"])
        original = Callback._pos_search_claimable
        method = self.mpesa_method

        def search_while_another_till_claims(model, *args, **kwargs):
            answer = original(model, *args, **kwargs)
            if kwargs.get("query") == "jane":
                # the cashier searches for the second payment: another till takes the first one now
                taken = model.sudo().search([("mpesa_receipt_number", "=", "RTAKEN0060")])
                claimed = model._pos_claim(
                    callback_id=taken.id, order_id=OTHER_ORDER, payment_method_id=method.id
                )
                assert claimed["success"], claimed
            return answer

        with patch.object(Callback, "_pos_search_claimable", search_while_another_till_claims):
            self.start_pos_tour("PosMpesaTillTakenWhileTickedTour")
        self.assert_linked(self.mpesa_payments(), ["RJANE00040", "RMORE00060"])
        self.assertEqual(self.rows("RTAKEN0060").claim_order_key, OTHER_ORDER)

    # ------------------------------------------------------------------ pay to account

    def test_pay_to_account_auto_match(self):
        def customer_pays(answer):
            self.post_payment("RCODE00100", "JOHN DOE", 100, bill_ref=answer["code"], via_requests=True)

        patcher, threads = self.after_code_issued(customer_pays)
        with patcher:
            self.start_pos_tour("PosMpesaTillPayToAccountTour")
        threads[0].join()
        self.assert_linked(self.mpesa_payments(), ["RCODE00100"])
        code = self.env["mpesa.account.code"].sudo().search([])
        self.assertEqual((code.state, code.callback_id), ("paid", self.rows("RCODE00100")))

    def test_pay_to_account_wrong_amount(self):
        def customer_pays_less(answer):
            self.post_payment("RCODE00090", "JOHN DOE", 90, bill_ref=answer["code"], via_requests=True)

        patcher, threads = self.after_code_issued(customer_pays_less)
        with patcher:
            self.start_pos_tour("PosMpesaTillAccountMismatchTour")
        threads[0].join()
        self.assertFalse(self.rows("RCODE00090").is_claimed, "another amount is never claimed")
        self.assertEqual(self.last_order().payment_ids.payment_method_id, self.bank_payment_method)
        self.assertEqual(self.env["mpesa.account.code"].sudo().search([]).state, "cancelled")

    # ------------------------------------------------------------------ Dynamic QR

    def test_dynamic_qr(self):
        self.with_initiator()  # registers the C2B URLs: the simulator posts the QR's payment here

        def customer_scans(answer):
            response = requests.post(
                f"{self.sim.base_url}/__sim__/qr/{answer['code']}/pay", json={}, timeout=30
            )
            response.raise_for_status()
            self.paid_by_qr = response.json()["payment"]

        patcher, threads = self.after_code_issued(customer_scans, delay=4.0)
        with patcher:
            self.start_pos_tour("PosMpesaTillQrTour")
        threads[0].join()
        payment = self.mpesa_payments()
        self.assert_linked(payment, [self.paid_by_qr["trans_id"]])
        self.assertTrue(self.env["mpesa.account.code"].sudo().search([]).qr)
