"""The daily M-Pesa statement, every figure recomputed by hand from the rows of one day."""

import io
import shutil
import uuid
from datetime import datetime, timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools.pdf import PdfReader

from ..models.mpesa_statement_check import EAT_OFFSET
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
        sent_back = self.make_c2b("RKD0000011", amount=45, **at)  # unclaimed, refunded by Reversal
        sent_back.with_user(self.pos_manager)._claim_hold_for_reversal("paid the wrong shop")
        sent_back.sudo().write({"reversal_state": "reversed", "reversal_receipt": "RKR0000002"})
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
            line.sent_back_count,
            line.sent_back_amount,
            line.unclaimed_count,
            line.unclaimed_amount,
            line.reversed_count,
            line.reversed_amount,
            line.recovered_count,
        )
        # received: 100 + 40 + 25 + 60 + 300 + 80 + 70 + 45 + 35 = 755 (9 payments)
        # POS: 100 + 300 + 70; outside: 60; sent back: 45; unclaimed: 40 + 25 + 80 + 35; reversed: 70 + 45
        self.assertEqual(figures, (9, 755, 3, 470, 60, 1, 45, 4, 180, 2, 115, 1))
        self.assertEqual(
            line.received_amount,
            line.pos_amount + line.outside_amount + line.sent_back_amount + line.unclaimed_amount,
        )
        self.assertEqual(order.payment_ids.mpesa_callback_id, on_order)

        report = self.env.ref("pos_mpesa.action_report_mpesa_daily_statement")
        html = str(self.env["ir.actions.report"]._render_qweb_html(report.report_name, line.ids)[0])
        # every payment not on an order, with why; the reversed sale named
        for receipt in (
            "RKD0000002",
            "RKD0000003",
            "RKD0000004",
            "RKD0000005",
            "RKD0000006",
            "RKD0000010",
            "RKD0000011",
        ):
            self.assertIn(receipt, html)
        self.assertIn("Sent back to the payer by M-Pesa reversal", html)
        self.assertIn("Reversed sales: RKD0000007", html)
        self.assertIn("its order is not on the server", html)  # the STK payment taken, order never synced
        self.assertIn("Settled outside the POS", html)
        for receipt in ("RKD0000001", "RKD0000008", "RKD0000009"):
            self.assertNotIn(receipt, html)
        if shutil.which("wkhtmltopdf"):  # `make doctor` says when it is missing
            # Odoo's tests render HTML instead of a PDF unless told otherwise
            pdf, kind = (
                self.env["ir.actions.report"]
                .with_context(force_report_rendering=True)
                ._render_qweb_pdf(report.report_name, line.ids)
            )
            self.assertEqual((kind, pdf[:4]), ("pdf", b"%PDF"))
            # Debian's wkhtmltopdf draws the web fonts as outlines: no text to read back, one page to count
            self.assertEqual(len(PdfReader(io.BytesIO(pdf)).pages), 1)
        action = self.mpesa_config.action_view_daily_statement()
        self.assertEqual(action["domain"], [("config_id", "=", self.mpesa_config.id)])
        self.assertEqual(fields.Date.to_string(line.day), "2026-03-05")


@tagged("post_install", "-at_install")
class TestStatementCheck(MpesaCase):
    """A day checked receipt by receipt against M-Pesa's own record (the simulator's Pull Transactions)."""

    def setUp(self):
        super().setUp()
        self.mpesa_config.write({"callback_base_url": self.base_url(), "pull_nominated_number": "0722000000"})
        manager_config = self.mpesa_config.with_user(self.pos_manager)
        manager_config.action_register_c2b_urls()
        manager_config.action_register_pull()
        self.today = (fields.Datetime.now() + EAT_OFFSET).date()

    def check(self, day=None):
        action = (
            self.env["mpesa.statement.check"]
            .with_user(self.pos_manager)
            ._open_check(self.mpesa_config, day or self.today)
        )
        return self.env["mpesa.statement.check"].browse(action["res_id"])

    def differences(self, check):
        return sorted((line.kind, line.receipt) for line in check.line_ids)

    def statement_line(self, day):
        self.env.flush_all()
        return self.env["mpesa.daily.statement"].search(
            [("config_id", "=", self.mpesa_config.id), ("day", "=", day)]
        )

    def test_a_lost_payment_differs_until_recovered(self):
        self.sim_pay(120)
        lost = self.sim_pay(130, "lost")
        check = self.check()
        self.assertEqual(
            (check.state, check.mpesa_count, check.our_count, self.differences(check)),
            ("differs", 2, 1, [("mpesa_only", lost)]),
        )
        self.assertEqual(check.line_ids.amount, 130)
        line = self.statement_line(self.today)
        self.assertEqual((line.check_state, line.check_id), ("differs", check))
        self.assertIn("Differs from M-Pesa", line._check_summary())

        check.with_user(self.pos_manager).action_recover()
        self.assertEqual(self.Callback.sudo().search([("mpesa_receipt_number", "=", lost)]).source, "pull")
        self.assertEqual(
            (check.state, check.mpesa_count, check.our_count, check.line_ids.ids), ("agrees", 2, 2, [])
        )
        self.assertEqual(
            len(self.env["mpesa.statement.check"].search([("config_id", "=", self.mpesa_config.id)])), 1
        )
        self.assertIn("Agrees with M-Pesa: 2 payments", self.statement_line(self.today)._check_summary())

    def test_a_payment_mpesa_does_not_know_and_a_changed_amount(self):
        kept = self.sim_pay(150)
        changed = self.sim_pay(140)
        self.Callback.sudo().search([("mpesa_receipt_number", "=", changed)]).write({"amount": 1400})
        forged = self.make_c2b("RKF0000001", amount=50).mpesa_receipt_number
        no_receipt = self.make_pending("ws_CO_CHECK1", requested=90)
        no_receipt.write({"status": "success", "amount": 90, "received_date": fields.Datetime.now()})
        check = self.check()
        self.assertEqual(
            self.differences(check),
            [("amount", changed), ("here_only", forged), ("no_receipt", False)],
        )
        self.assertEqual(check.line_ids.filtered(lambda x: x.kind == "amount").mpesa_amount, 140)
        self.assertEqual((check.state, check.mpesa_count, check.our_count), ("differs", 2, 4))
        self.assertNotIn(kept, [line.receipt for line in check.line_ids])

        report = self.env.ref("pos_mpesa.action_report_mpesa_daily_statement")
        line = self.statement_line(self.today)
        html = str(self.env["ir.actions.report"]._render_qweb_html(report.report_name, line.ids)[0])
        self.assertIn("Differs from M-Pesa", html)
        self.assertIn("Here, not at M-Pesa", html)
        self.assertIn(forged, html)

    def test_the_cron_checks_yesterday(self):
        yesterday = self.today - timedelta(days=1)
        late = datetime.combine(yesterday, datetime.min.time()) + timedelta(hours=17)  # 20:00 in Nairobi
        forged = self.make_c2b("RKF0000002", amount=75, received_date=late).mpesa_receipt_number
        self.sim_pay(60)  # today: not yesterday's business
        self.env["mpesa.statement.check"]._cron_check_yesterday()
        check = self.env["mpesa.statement.check"].search([("config_id", "=", self.mpesa_config.id)])
        self.assertEqual(
            (check.day, check.state, self.differences(check)), (yesterday, "differs", [("here_only", forged)])
        )

    def test_who_and_which_days(self):
        with self.assertRaisesRegex(UserError, "managers"):
            self.env["mpesa.statement.check"].with_user(self.pos_user)._open_check(
                self.mpesa_config, self.today
            )
        with self.assertRaisesRegex(UserError, "48 hours"):
            self.check(self.today - timedelta(days=3))
        self.mpesa_config.pull_registered = False
        with self.assertRaisesRegex(UserError, "not registered for Pull"):
            self.check()
        self.make_c2b("RKD0000011", amount=10)
        self.assertIn("not registered for Pull", self.statement_line(self.today)._check_summary())
        self.assertFalse(self.env["mpesa.statement.check"].search([]))
