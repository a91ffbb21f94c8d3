"""The daily M-Pesa statement, every figure recomputed by hand from the rows of one day."""

import shutil
import uuid
from datetime import datetime, timedelta

from odoo import fields
from odoo.tests import tagged

from .common import MpesaCase


@tagged("post_install", "-at_install")
class TestDailyStatement(MpesaCase):
    def test_a_day_by_hand(self):
        # 2026-03-05 in Nairobi: 21:00 UTC the day before to 20:59 UTC
        noon = datetime(2026, 3, 5, 9, 0)
        at = {"received_date": noon, "transaction_date": noon}
        on_order = self.make_c2b("RKD0000001", amount=100, **at)
        order = self.sync_order(str(uuid.uuid4()), on_order)
        self.make_c2b("RKD0000002", amount=40, **at)  # unclaimed
        released = self.make_c2b("RKD0000003", amount=25, **at, is_claimed=True)
        released.with_user(self.pos_manager).action_release_claim()  # unclaimed again
        outside = self.make_c2b("RKD0000004", amount=60, **at)
        outside.with_user(self.pos_manager)._claim_settle_outside("invoice")
        stk = self.make_pending("ws_CO_DAY1", requested=300)
        stk.sudo().write(
            {
                "status": "success",
                "amount": 300,
                "mpesa_receipt_number": "RKD0000005",
                "source": "query",
                **at,
            }
        )
        stk._claim(str(uuid.uuid4()), pos_config=self.pos_config)
        self.make_c2b("RKD0000006", amount=80, **at, source="pull")  # recovered, unclaimed
        reversed_sale = self.make_c2b("RKD0000007", amount=70, **at)
        self.sync_order(str(uuid.uuid4()), reversed_sale, amount=70)
        reversed_sale.sudo().write({"reversal_state": "reversed", "reversal_receipt": "RKR0000001"})
        self.make_c2b("RKD0000008", amount=999, status="failed", **at)  # not money
        self.make_c2b("RKD0000009", amount=55, received_date=noon + timedelta(hours=13))  # 01:00 the 6th
        self.make_c2b("RKD0000010", amount=35, received_date=datetime(2026, 3, 4, 21, 30))  # 00:30 the 5th

        self.env.flush_all()
        line = self.env["mpesa.daily.statement"].search(
            [("config_id", "=", self.mpesa_config.id), ("day", "=", "2026-03-05")]
        )
        self.assertEqual(len(line), 1)
        figures = (
            line.received_count,
            line.received_amount,
            line.pos_count,
            line.pos_amount,
            line.outside_amount,
            line.unclaimed_count,
            line.unclaimed_amount,
            line.reversed_count,
            line.reversed_amount,
            line.recovered_count,
        )
        # received: 100 + 40 + 25 + 60 + 300 + 80 + 70 + 35 = 710 (8 payments)
        # POS: 100 + 300 + 70; outside: 60; unclaimed: 40 + 25 + 80 + 35
        self.assertEqual(figures, (8, 710, 3, 470, 60, 4, 180, 1, 70, 1))
        self.assertEqual(line.received_amount, line.pos_amount + line.outside_amount + line.unclaimed_amount)
        self.assertEqual(order.payment_ids.mpesa_callback_id, on_order)

        report = self.env.ref("pos_mpesa.action_report_mpesa_daily_statement")
        html = str(self.env["ir.actions.report"]._render_qweb_html(report.report_name, line.ids)[0])
        # every payment not on an order, with why; the reversed sale named
        for receipt in ("RKD0000002", "RKD0000003", "RKD0000004", "RKD0000005", "RKD0000006", "RKD0000010"):
            self.assertIn(receipt, html)
        self.assertIn("Reversed sales: RKD0000007", html)
        self.assertIn("its order is not on the server", html)  # the STK payment taken, order never synced
        self.assertIn("Settled outside the POS", html)
        for receipt in ("RKD0000001", "RKD0000008", "RKD0000009"):
            self.assertNotIn(receipt, html)
        if shutil.which("wkhtmltopdf"):
            pdf, kind = self.env["ir.actions.report"]._render_qweb_pdf(report.report_name, line.ids)
            self.assertEqual((kind, pdf[:4]), ("pdf", b"%PDF"))
        action = self.mpesa_config.action_view_daily_statement()
        self.assertEqual(action["domain"], [("config_id", "=", self.mpesa_config.id)])
        self.assertEqual(fields.Date.to_string(line.day), "2026-03-05")
