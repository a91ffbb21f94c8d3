"""The cashier's M-Pesa flows in the real POS (headless Chromium), against the Daraja simulator.

STK results come from the simulator's callbacks (or its STK query); C2B payments are posted by
the test to the confirmation URL exactly as Safaricom posts them.
"""

import threading
import time
import uuid
from unittest.mock import patch
from urllib.parse import urlparse

import requests
from odoo.addons.point_of_sale.tests.test_frontend import TestPointOfSaleHttpCommon
from odoo.addons.pos_mpesa.daraja import nairobi_timestamp
from odoo.tests import tagged

from . import common
from .common import SANDBOX_PASSKEY, start_simulator, tell_tills_in_the_transaction

C2B_SHORTCODE = "600984"


@tagged("post_install", "-at_install")
class TestPosMpesaTours(TestPointOfSaleHttpCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # long enough for the till to show the waiting state before the result arrives
        start_simulator(cls, callback_delay=3.0)
        tell_tills_in_the_transaction(cls)
        company = cls.main_pos_config.company_id
        cls.mpesa_config = cls.env["mpesa.config"].create(
            {
                "name": "Tour Paybill",
                "company_id": company.id,
                "environment": "simulator",
                "simulator_url": cls.sim.base_url,
                "account_type": "paybill",
                "business_shortcode": "174379",
                "c2b_shortcode": C2B_SHORTCODE,
                "consumer_key": "sim-consumer-key",
                "consumer_secret": "sim-consumer-secret",
                "passkey": SANDBOX_PASSKEY,
            }
        )
        cls.mpesa_method = cls.env["pos.payment.method"].create(
            {
                "name": "M-Pesa",
                "payment_method_type": "terminal",
                "use_payment_terminal": "mpesa",
                "mpesa_config_id": cls.mpesa_config.id,
                "journal_id": cls.bank_journal.id,
                "company_id": company.id,
            }
        )
        cls.main_pos_config.write(
            {"payment_method_ids": [(4, cls.mpesa_method.id), (4, cls.bank_payment_method.id)]}
        )
        product_vals = {"available_in_pos": True, "taxes_id": [(5, 0, 0)], "type": "consu"}
        cls.env["product.template"].create(
            [
                {**product_vals, "name": "M-Pesa Soap", "list_price": 100.0},
                {**product_vals, "name": "M-Pesa Sugar", "list_price": 99.5},
            ]
        )
        cls.env["res.partner"].create({"name": "Wanjiru Kamau", "phone": "0712 345 600"})

    def setUp(self):
        super().setUp()
        # the simulator calls this test server back (its requests carry no test cookie)
        self.http_request_allow_all = True
        self.mpesa_config.callback_base_url = self.base_url()
        requests.post(f"{self.sim.base_url}/__sim__/reset", json={}, timeout=10).raise_for_status()

    # ------------------------------------------------------------------ helpers

    def post_c2b(
        self,
        trans_id,
        first_name,
        msisdn="254708374149",
        amount="100.00",
        via_requests=False,
        bill_ref="Till 1",
    ):
        """A C2B confirmation, as Safaricom posts it to the registered confirmation URL."""
        payload = {
            "TransactionType": "Pay Bill",
            "TransID": trans_id,
            "TransTime": nairobi_timestamp(),
            "TransAmount": amount,
            "BusinessShortCode": C2B_SHORTCODE,
            "BillRefNumber": bill_ref,
            "InvoiceNumber": "",
            "OrgAccountBalance": "",
            "ThirdPartyTransID": "",
            "MSISDN": msisdn,
            "FirstName": first_name.split(" ")[0],
            "MiddleName": "",
            "LastName": " ".join(first_name.split(" ")[1:]),
        }
        path = urlparse(self.mpesa_config.c2b_confirmation_url).path
        if via_requests:  # from another thread, while the tour runs
            response = requests.post(self.base_url() + path, json=payload, timeout=30)
        else:
            response = self.url_open(path, json=payload, method="POST")
        response.raise_for_status()
        self.assertEqual(response.json()["ResultCode"], 0, response.text)

    def stk_rows(self):
        return self.env["mpesa.callback"].sudo().search([("callback_type", "=", "stk")])

    def last_order(self):
        return self.env["pos.order"].search(
            [("config_id", "=", self.main_pos_config.id)], order="id desc", limit=1
        )

    def assert_paid_by_mpesa(self, receipt=None, with_receipt=True):
        order = self.last_order()
        payment = order.payment_ids.filtered(lambda p: p.payment_method_id == self.mpesa_method)
        self.assertEqual(order.state, "paid")
        self.assertEqual(len(payment), 1)
        if with_receipt:
            self.assertTrue(payment.mpesa_receipt_number)
        if receipt:
            self.assertEqual(payment.mpesa_receipt_number, receipt)
        row = payment.mpesa_callback_id
        self.assertTrue(row, "the payment line is linked to its M-Pesa transaction")
        self.assertEqual(row.mpesa_receipt_number or False, payment.mpesa_receipt_number or False)
        self.assertEqual(row.pos_order_id, order)
        self.assertEqual(row.pos_payment_id, payment)
        self.assertTrue(row.is_claimed)
        return payment

    # ------------------------------------------------------------------ STK

    def test_stk_paid(self):
        self.start_pos_tour("PosMpesaStkPaidTour")
        payment = self.assert_paid_by_mpesa()
        self.assertEqual(payment.mpesa_phone_number, "254712345600")
        self.assertEqual(len(self.stk_rows()), 1)

    def test_stk_cancelled_then_resent(self):
        self.start_pos_tour("PosMpesaStkCancelledTour")
        self.assert_paid_by_mpesa()
        self.assertEqual(sorted(self.stk_rows().mapped("status")), ["cancelled", "success"])

    def test_stk_insufficient_balance(self):
        self.start_pos_tour("PosMpesaStkInsufficientTour")
        order = self.last_order()
        self.assertEqual(order.state, "paid")
        self.assertEqual(order.payment_ids.payment_method_id, self.bank_payment_method)
        self.assertEqual(self.stk_rows().reason, "insufficient_balance")

    def test_stk_timeout(self):
        self.start_pos_tour("PosMpesaStkTimeoutTour")
        self.assertEqual(self.stk_rows().status, "timeout")

    def test_stk_cancelled_at_till(self):
        self.start_pos_tour("PosMpesaStkCancelAtTillTour")
        row = self.stk_rows()
        self.assertTrue(row.stk_abandoned, "the server knows the till gave up")
        self.assertFalse(row.is_claimed)
        self.assertEqual(self.last_order().payment_ids.payment_method_id, self.bank_payment_method)

    def test_stk_bad_phone(self):
        self.start_pos_tour("PosMpesaBadPhoneTour")
        # the bad number was never sent: one push, to the corrected number
        self.assertEqual(self.stk_rows().request_phone, "254112345600")
        self.assert_paid_by_mpesa()

    def test_amount_with_cents_refused(self):
        self.start_pos_tour("PosMpesaCentsRefusedTour")
        self.assertFalse(self.env["mpesa.callback"].sudo().search([]), "nothing was sent to M-Pesa")
        self.assertEqual(self.last_order().payment_ids.payment_method_id, self.bank_payment_method)

    def test_stk_reload_while_pending(self):
        self.start_pos_tour("PosMpesaStkReloadTour")
        # no callback for this number: the STK query found the payment, so there is no receipt number
        payment = self.assert_paid_by_mpesa(with_receipt=False)
        row = self.stk_rows()
        self.assertTrue(row.confirmed_by_query)
        self.assertEqual(payment.mpesa_checkout_request_id, row.checkout_request_id)

    # ------------------------------------------------------------------ C2B

    def test_c2b_one_found(self):
        self.post_c2b("RKL51ZDR4F", "JOHN DOE")
        self.start_pos_tour("PosMpesaC2bOneFoundTour")
        self.assert_paid_by_mpesa("RKL51ZDR4F")

    def test_c2b_several_found_right_one_selected(self):
        self.post_c2b("RAA10AAA01", "ALICE", msisdn="254711000001")
        self.post_c2b("RBB20BBB02", "BRIAN", msisdn="254711000002")
        Callback = type(self.env["mpesa.callback"])
        original = Callback._pos_search_claimable
        timers = []

        def search_then_pay(model, *args, **kwargs):
            # the customer's payment lands just after the popup opened: it must appear live
            if not timers:
                timer = threading.Timer(
                    2.0,
                    self.post_c2b,
                    args=("RCC30CCC03", "CAROL WANJIKU"),
                    kwargs={"msisdn": "254722000003", "via_requests": True},
                )
                timers.append(timer)
                timer.start()
            return original(model, *args, **kwargs)

        with patch.object(Callback, "_pos_search_claimable", search_then_pay):
            self.start_pos_tour("PosMpesaC2bSeveralFoundTour")
        timers[0].join()
        self.assert_paid_by_mpesa("RCC30CCC03")
        others = (
            self.env["mpesa.callback"]
            .sudo()
            .search([("mpesa_receipt_number", "in", ["RAA10AAA01", "RBB20BBB02"])])
        )
        self.assertFalse(any(others.mapped("is_claimed")))

    def test_c2b_none_found_validate_anyway(self):
        self.post_c2b("ROTHER0001", "JOHN DOE", amount="250.00")  # another amount: not offered
        self.start_pos_tour("PosMpesaC2bNoneFoundTour")
        order = self.last_order()
        self.assertEqual(order.state, "paid")
        self.assertFalse(order.payment_ids.mpesa_receipt_number)
        self.assertFalse(self.env["mpesa.callback"].sudo().search([]).is_claimed)

    def test_c2b_validate_without_matching(self):
        self.post_c2b("RKL51ZDR4F", "JOHN DOE")
        self.start_pos_tour("PosMpesaC2bWithoutMatchingTour")
        order = self.last_order()
        self.assertEqual(order.state, "paid")
        self.assertFalse(order.payment_ids.mpesa_receipt_number)
        self.assertFalse(self.env["mpesa.callback"].sudo().search([]).is_claimed, "left for its own order")

    def test_c2b_already_taken_by_another_till(self):
        self.post_c2b("RTAKEN0001", "JOHN DOE")
        self.post_c2b("RFREE00002", "JANE DOE", msisdn="254733000002")
        self.start_pos_tour("PosMpesaC2bAlreadyTakenTour")
        self.assert_paid_by_mpesa("RFREE00002")
        taken = self.env["mpesa.callback"].sudo().search([("mpesa_receipt_number", "=", "RTAKEN0001")])
        self.assertEqual(taken.claim_order_key, "0b0e6c1e-0000-4000-8000-00000000a11a")

    # ------------------------------------------------------------------ refunds by Reversal

    def paid_sale(self, amount=100):
        """A sale of this till paid with a C2B payment the simulator knows (its session left open, no
        opening dialog); (order, its M-Pesa row). The recipe of test_reversal_lookup.py's paid_order,
        with MpesaCase's helpers (this class is no MpesaCase: it needs Odoo's POS test data)."""
        self.mpesa_config.write(common.TEST_INITIATOR)
        self.mpesa_config.action_register_c2b_urls()
        receipt = common.MpesaCase.sim_control(
            self, "POST", "c2b/pay", {"shortcode": C2B_SHORTCODE, "amount": amount, "delivery": "once"}
        )["trans_id"]
        row = self.env["mpesa.callback"].sudo()
        deadline = time.monotonic() + 15
        while not row and time.monotonic() < deadline:
            common.MpesaCase.let_callbacks_in(self, 0.3)
            row = row.search([("mpesa_receipt_number", "=", receipt), ("status", "=", "success")])
        self.assertTrue(row, f"the confirmation of {receipt} never reached Odoo")
        order_uuid = str(uuid.uuid4())
        self.assertTrue(
            row._claim(order_uuid, pos_config=self.main_pos_config, payment_method=self.mpesa_method)
        )
        self.pos_config = self.main_pos_config  # the till MpesaCase.sync_order pays at
        order = common.MpesaCase.sync_order(self, order_uuid, row, amount=amount)
        row.invalidate_recordset()
        self.assertEqual(row.pos_order_id, order)
        return order, row

    def test_refund_by_reversal(self):
        sale, row = self.paid_sale()
        self.pos_user.group_ids += self.env.ref("pos_mpesa.group_mpesa_refund")
        self.main_pos_config.auto_validate_terminal_payment = False  # the cashier sees the line done
        Callback = type(self.env["mpesa.callback"])
        original = Callback._pos_reversal_status

        def still_pending(model, *args, **kwargs):
            # the polling fallback never sees the result: only the bus push can bring it to the till
            return {**original(model, *args, **kwargs), "status": "pending"}

        with patch.object(Callback, "_pos_reversal_status", still_pending):
            self.start_pos_tour("PosMpesaReversalTour")
        refund = self.last_order()
        self.assertNotEqual(refund, sale)
        self.assertEqual(refund.refunded_order_id, sale)
        self.assertEqual(refund.state, "paid")
        payment = refund.payment_ids
        self.assertEqual((payment.payment_method_id, payment.amount), (self.mpesa_method, -100))
        row.invalidate_recordset()
        self.assertEqual(row.reversal_state, "reversed")
        self.assertTrue(row.reversal_receipt)
        self.assertEqual(payment.transaction_id, row.reversal_receipt, "the till kept the reversal's receipt")
        self.assertFalse(payment.mpesa_callback_id, "the sale's payment stays the sale's")

    def test_refund_by_reversal_refused_without_the_group(self):
        sale, row = self.paid_sale()
        self.start_pos_tour("PosMpesaReversalRefusedTour")
        row.invalidate_recordset()
        self.assertFalse(row.reversal_state)
        self.assertFalse(self.env["mpesa.daraja.request"].sudo().search([("kind", "=", "reversal")]))
        paid = self.env["pos.order"].search(
            [("config_id", "=", self.main_pos_config.id), ("state", "=", "paid")]
        )
        self.assertEqual(paid, sale, "the refund was not validated")
