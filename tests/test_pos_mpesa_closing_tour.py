"""Closing a till with an M-Pesa difference, in the real POS (headless Chromium)."""

import uuid

from odoo import fields
from odoo.addons.point_of_sale.tests.test_frontend import TestPointOfSaleHttpCommon
from odoo.tests import tagged

from .common import order_line


@tagged("post_install", "-at_install")
class TestPosMpesaClosingTour(TestPointOfSaleHttpCommon):
    def test_closing_shows_and_keeps_the_mpesa_difference(self):
        company = self.main_pos_config.company_id
        account = self.env["mpesa.config"].create(
            {
                "name": "Closing Paybill",
                "company_id": company.id,
                "environment": "sandbox",
                "account_type": "paybill",
                "business_shortcode": "174379",
                "c2b_shortcode": "600985",
                "consumer_key": "k",
                "consumer_secret": "s",
                "passkey": "p",
            }
        )
        method = self.env["pos.payment.method"].create(
            {
                "name": "M-Pesa",
                "payment_method_type": "terminal",
                "use_payment_terminal": "mpesa",
                "mpesa_config_id": account.id,
                "journal_id": self.bank_journal.id,
                "company_id": company.id,
            }
        )
        self.main_pos_config.write({"payment_method_ids": [(4, method.id)]})
        self.main_pos_config.with_user(self.pos_user).open_ui()
        session = self.main_pos_config.current_session_id
        session.set_opening_control(0, None)
        product = self.env["product.product"].create(
            {"name": "Closing Chair", "list_price": 50, "available_in_pos": True, "taxes_id": [(5, 0, 0)]}
        )
        self.env["pos.order"].sync_from_ui(
            [
                {
                    "uuid": str(uuid.uuid4()),
                    "name": "Closing order",
                    "session_id": session.id,
                    "pricelist_id": self.main_pos_config.pricelist_id.id,
                    "user_id": self.env.uid,
                    "amount_paid": 50,
                    "amount_return": 0,
                    "amount_tax": 0,
                    "amount_total": 50,
                    "date_order": fields.Datetime.to_string(fields.Datetime.now()),
                    "last_order_preparation_change": "{}",
                    "state": "paid",
                    "lines": [order_line(product, 50)],
                    # validated without a matching M-Pesa payment
                    "payment_ids": [
                        (0, 0, {"amount": 50, "name": fields.Datetime.now(), "payment_method_id": method.id})
                    ],
                }
            ]
        )
        self.env["mpesa.callback"].sudo().create(
            {
                "callback_type": "c2b",
                "status": "success",
                "mpesa_receipt_number": "RKCLOSE002",
                "amount": 50,
                "config_id": account.id,
                "company_id": company.id,
                "source": "token_url",
            }
        )
        self.start_pos_tour("PosMpesaClosingTour", login="pos_user")
        self.assertEqual(session.state, "closed")
        self.assertIn("validated without a matching payment", session.mpesa_closing_note)
        self.assertIn("RKCLOSE002", session.mpesa_closing_note)
