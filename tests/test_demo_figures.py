"""The demo database's M-Pesa figures, recomputed from the rows (models/mpesa_demo.py).

Runs on a database where pos_mpesa was installed with demo data, only when asked by its tag:
`--test-tags pos_mpesa_demo/pos_mpesa` (`make test`'s "install with demo data" step, tools/test.py).
Every expected figure is a plain SQL read of mpesa_callback / pos_payment summed in Python here, never
the module's own queries: the daily statement per account and Nairobi day, the Unclaimed Payments menu,
the link of every M-Pesa line of a demo order, and each till's closing figures.
"""

from collections import defaultdict
from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

from odoo import fields
from odoo.tests import TransactionCase, tagged
from odoo.tools.safe_eval import safe_eval

NAIROBI = ZoneInfo("Africa/Nairobi")
OUTSIDE_KEY = "outside-pos"  # the claim key of a payment settled outside the POS (mpesa_claim.py)
SENT_BACK_KEY = "mpesa-reversal"  # the claim key of an unclaimed payment sent back by reversal (same)
STATEMENT_FIGURES = (
    "received_count",
    "received_amount",
    "pos_count",
    "pos_amount",
    "outside_amount",
    "sent_back_count",
    "sent_back_amount",
    "unclaimed_count",
    "unclaimed_amount",
    "reversed_count",
    "reversed_amount",
    "recovered_count",
)

# received = the sum of these, to the shilling
WHERE_IT_WENT = ("pos_amount", "outside_amount", "sent_back_amount", "unclaimed_amount")


@tagged("post_install", "-at_install", "-standard", "pos_mpesa_demo")
class TestDemoFigures(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.flush_all()
        cls.cr = cls.env.cr
        cls.cr.execute(
            """SELECT id, config_id, received_date, amount, is_claimed, claim_order_key, reversal_state,
                      source, pos_payment_id
                 FROM mpesa_callback
                WHERE status = 'success' AND duplicate_of_id IS NULL"""
        )
        cls.live = cls.cr.dictfetchall()
        cls.demo_accounts = cls.env.ref("pos_mpesa.mpesa_config_demo") | cls.env.ref(
            "pos_mpesa.mpesa_config_demo_till"
        )

    def test_demo_has_payments_to_show(self):
        self.assertTrue(self.live, "no M-Pesa payment: was pos_mpesa installed with demo data?")
        self.assertEqual({row["config_id"] for row in self.live}, set(self.demo_accounts.ids))
        days = {self.nairobi_day(row["received_date"]) for row in self.live}
        self.assertGreaterEqual(len(days), 4)
        self.cr.execute("SELECT callback_type, status, source FROM mpesa_callback")
        seen = set(self.cr.fetchall())
        for kind in [
            ("stk", "success", "pos"),
            ("c2b", "success", "token_url"),
            ("c2b", "success", "pull"),
            ("stk", "cancelled", "pos"),
            ("stk", "needs_review", "pos"),
        ]:
            self.assertIn(kind, seen)
        self.assertTrue({"failed", "timeout"} & {status for _kind, status, _source in seen})

    def test_daily_statement_is_the_sum_of_the_rows(self):
        expected = defaultdict(lambda: dict.fromkeys(STATEMENT_FIGURES, 0))
        for row in self.live:
            figures = expected[row["config_id"], self.nairobi_day(row["received_date"])]
            amount = row["amount"]
            figures["received_count"] += 1
            figures["received_amount"] += amount
            if row["is_claimed"] and row["claim_order_key"] == OUTSIDE_KEY:
                figures["outside_amount"] += amount
            elif row["is_claimed"] and row["claim_order_key"] == SENT_BACK_KEY:
                figures["sent_back_count"] += 1
                figures["sent_back_amount"] += amount
            elif row["is_claimed"]:
                figures["pos_count"] += 1
                figures["pos_amount"] += amount
            else:
                figures["unclaimed_count"] += 1
                figures["unclaimed_amount"] += amount
            if row["reversal_state"]:
                figures["reversed_count"] += 1
                figures["reversed_amount"] += amount
            if row["source"] in ("pull", "status"):
                figures["recovered_count"] += 1

        lines = self.env["mpesa.daily.statement"].search([])
        statement = {
            (line.config_id.id, line.day): {name: line[name] for name in STATEMENT_FIGURES} for line in lines
        }
        self.assertEqual(statement.keys(), expected.keys())
        for key, figures in expected.items():
            self.assertEqual(statement[key], figures, f"account {key[0]}, {key[1]}")
            line = statement[key]
            self.assertEqual(
                line["received_amount"],
                sum(line[name] for name in WHERE_IT_WENT),
            )
        # what the demo is for: every column has money in it somewhere
        for name in (
            "pos_amount",
            "outside_amount",
            "unclaimed_amount",
            "reversed_amount",
            "recovered_count",
        ):
            self.assertTrue(sum(figures[name] for figures in expected.values()), f"no {name} in the demo")

        # the pivot and graph of M-Pesa Callbacks: the same money per account
        groups = self.env["mpesa.callback"]._read_group(
            [("status", "=", "success"), ("duplicate_of_id", "=", False)], ["config_id"], ["amount:sum"]
        )
        by_account = defaultdict(float)
        for row in self.live:
            by_account[row["config_id"]] += float(row["amount"])
        self.assertEqual({account.id: total for account, total in groups}, dict(by_account))

    def test_unclaimed_menu_lists_the_payments_no_till_took(self):
        action = self.env.ref("pos_mpesa.action_mpesa_unclaimed")
        listed = self.env["mpesa.callback"].search(safe_eval(action.domain or "[]"))
        self.cr.execute("SELECT id, match_window FROM mpesa_config")
        windows = dict(self.cr.fetchall())
        now = fields.Datetime.now()
        waiting = {
            row["id"]
            for row in self.live
            if not row["is_claimed"]
            and row["received_date"] < now - timedelta(minutes=windows[row["config_id"]])
        }
        self.assertEqual(set(listed.ids), waiting)
        self.assertGreaterEqual(len(waiting), 2)
        self.assertEqual(listed.config_id, self.demo_accounts, "unclaimed payments on both accounts")

    def test_every_mpesa_line_of_the_demo_orders_is_linked(self):
        self.cr.execute(
            """SELECT p.id, p.amount, p.transaction_id, p.mpesa_receipt_number, p.mpesa_callback_id,
                      p.pos_order_id, m.mpesa_config_id, o.session_id, s.state AS session_state,
                      c.mpesa_receipt_number AS receipt, c.pos_payment_id, c.pos_order_id AS row_order,
                      c.is_claimed, c.status, c.duplicate_of_id
                 FROM pos_payment p
                 JOIN pos_payment_method m ON m.id = p.payment_method_id
                 JOIN pos_order o ON o.id = p.pos_order_id
                 JOIN pos_session s ON s.id = o.session_id
            LEFT JOIN mpesa_callback c ON c.id = p.mpesa_callback_id
                WHERE m.use_payment_terminal = 'mpesa'"""
        )
        lines = self.cr.dictfetchall()
        linked = [line for line in lines if line["mpesa_callback_id"]]
        for line in linked:
            self.assertEqual(line["transaction_id"], line["receipt"])
            self.assertEqual(line["mpesa_receipt_number"], line["receipt"])
            self.assertEqual((line["pos_payment_id"], line["row_order"]), (line["id"], line["pos_order_id"]))
            self.assertEqual(
                (line["is_claimed"], line["status"], line["duplicate_of_id"]), (True, "success", None)
            )
        self.assertEqual({line["mpesa_config_id"] for line in linked}, set(self.demo_accounts.ids))
        self.assertEqual({line["session_state"] for line in linked}, {"opened", "closed"})
        # every payment a till took is on its order's line (none claimed and never synced in the demo)
        claimed = {
            row["id"] for row in self.live if row["is_claimed"] and row["claim_order_key"] != OUTSIDE_KEY
        }
        self.assertEqual(claimed, {line["mpesa_callback_id"] for line in linked})

        unlinked = [line for line in lines if not line["mpesa_callback_id"]]
        sales = [line for line in unlinked if line["amount"] > 0]
        refunds = [line for line in unlinked if line["amount"] < 0]
        # the one line validated without a matching payment: its payment waits in Unclaimed Payments
        self.assertEqual(len(sales), 1)
        self.assertIn(
            (sales[0]["mpesa_config_id"], sales[0]["amount"]),
            {(row["config_id"], row["amount"]) for row in self.live if not row["is_claimed"]},
        )
        # a refund's line carries the receipt of the Reversal that sent the sale's payment back
        self.assertEqual(len(refunds), 1)
        refund = self.env["pos.order"].browse(refunds[0]["pos_order_id"])
        sale = refund.lines.refunded_orderline_id.order_id
        self.cr.execute(
            "SELECT reversal_state, reversal_receipt, amount FROM mpesa_callback WHERE pos_order_id = %s",
            (sale.id,),
        )
        self.assertEqual(
            self.cr.fetchall(), [("reversed", refunds[0]["transaction_id"], -refunds[0]["amount"])]
        )

    def test_closing_figures_of_each_till(self):
        sessions = self.env["pos.session"].search(
            [("config_id.payment_method_ids.use_payment_terminal", "=", "mpesa")]
        )
        shown = 0
        for session in sessions:
            figures = {f["payment_method_id"]: f for f in session._mpesa_closing_figures()}
            if session.state != "closed":
                popup = session.get_closing_control_data()["mpesa"]
                self.assertEqual({f["payment_method_id"]: f for f in popup}, figures)
            end = session.stop_at or fields.Datetime.now()
            for method in session.config_id.payment_method_ids.filtered(
                lambda m: m.use_payment_terminal == "mpesa"
            ):
                self.cr.execute(
                    """SELECT p.amount, p.mpesa_callback_id,
                              EXISTS (SELECT 1 FROM mpesa_daraja_request r
                                       WHERE r.kind = 'reversal'
                                         AND r.outcome IN ('reversed', 'already_reversed')
                                         AND r.refund_order_key = o.uuid AND r.amount = -p.amount)
                         FROM pos_payment p
                         JOIN pos_order o ON o.id = p.pos_order_id
                        WHERE o.session_id = %s AND p.payment_method_id = %s""",
                    (session.id, method.id),
                )
                payments = self.cr.fetchall()
                linked = [amount for amount, row, _sent_back in payments if row]
                # a refund's line whose money a Reversal sent back is no difference
                sent_back = [amount for amount, row, back in payments if not row and back]
                unmatched = [amount for amount, row, back in payments if not row and not back]
                start = session.start_at or session.create_date
                unclaimed = [
                    row
                    for row in self.live
                    if row["config_id"] == method.mpesa_config_id.id
                    and not row["is_claimed"]
                    and start <= row["received_date"] <= end
                ]
                figure = figures[method.id]
                self.assertEqual(
                    (
                        figure["lines_count"],
                        figure["lines_amount"],
                        figure["linked_count"],
                        figure["linked_amount"],
                        figure["reversed_count"],
                        figure["reversed_amount"],
                        figure["unmatched_count"],
                        figure["unmatched_amount"],
                        figure["unclaimed_amount"],
                        len(figure["unclaimed_receipts"]),
                        figure["not_synced_receipts"],
                    ),
                    (
                        len(payments),
                        sum(amount for amount, _row, _back in payments),
                        len(linked),
                        sum(linked),
                        len(sent_back),
                        sum(sent_back),
                        len(unmatched),
                        sum(unmatched),
                        sum(row["amount"] for row in unclaimed),
                        len(unclaimed),
                        [],
                    ),
                    f"{session.name}, {method.name}",
                )
                shown += figure["linked_count"] > 0
        self.assertGreaterEqual(shown, 8, "four days of two tills, each with M-Pesa lines linked")

    @staticmethod
    def nairobi_day(moment):
        return moment.replace(tzinfo=timezone.utc).astimezone(NAIROBI).date()
