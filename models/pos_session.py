"""Closing a till: what its orders took by M-Pesa next to the payments M-Pesa received.

For each M-Pesa payment method of the session: its payment lines (count and sum), those linked to an
M-Pesa payment, refund lines whose money M-Pesa sent back by Reversal (mpesa_reversal.py), those
validated without a matching payment (a refund without a reversal included), the payments this session's
till claimed whose order never reached the server, and the payments received on the method's account
during the session that no order claimed. The closing popup shows them (get_closing_control_data, key
"mpesa"); the closing is never blocked (Odoo's never is for payment terminals), and any difference is
written on the session when it closes (mpesa_closing_note).
"""

from odoo import fields, models
from odoo.tools import format_amount

from .mpesa_callback import LIVE_PAYMENT_DOMAIN


class PosSession(models.Model):
    _inherit = "pos.session"

    mpesa_closing_note = fields.Text(
        string="M-Pesa at Closing", readonly=True, copy=False, help="The M-Pesa differences seen at closing."
    )

    def _mpesa_closing_figures(self):
        """One dict per M-Pesa payment method of the session (see the module docstring)."""
        self.ensure_one()
        Callback = self.env["mpesa.callback"].sudo()
        payments = self.sudo().order_ids.payment_ids
        end = self.stop_at or fields.Datetime.now()
        figures = []
        for method in self.payment_method_ids.filtered(lambda m: m.use_payment_terminal == "mpesa"):
            lines = payments.filtered(lambda p, method=method: p.payment_method_id == method)
            linked = lines.filtered("mpesa_callback_id")
            reversed_lines = (lines - linked)._mpesa_sent_back()
            unmatched = lines - linked - reversed_lines
            accounts = Callback._c2b_search_accounts(method.sudo().mpesa_config_id)
            not_synced = Callback.search(
                [
                    ("claim_session_id", "=", self.id),
                    ("is_claimed", "=", True),
                    ("pos_payment_id", "=", False),
                ]
            )
            unclaimed = Callback.search(
                [
                    ("config_id", "in", accounts.ids),
                    *LIVE_PAYMENT_DOMAIN,
                    ("is_claimed", "=", False),
                    ("received_date", ">=", self.start_at or self.create_date),
                    ("received_date", "<=", end),
                ]
            )
            figures.append(
                {
                    "payment_method_id": method.id,
                    "name": method.name,
                    "lines_count": len(lines),
                    "lines_amount": sum(lines.mapped("amount")),
                    "linked_count": len(linked),
                    "linked_amount": sum(linked.mapped("amount")),
                    "reversed_count": len(reversed_lines),
                    "reversed_amount": sum(reversed_lines.mapped("amount")),
                    "unmatched_count": len(unmatched),
                    "unmatched_amount": sum(unmatched.mapped("amount")),
                    "not_synced_receipts": not_synced.mapped("mpesa_receipt_number"),
                    "not_synced_amount": sum(not_synced.mapped("amount")),
                    "unclaimed_receipts": unclaimed.mapped("mpesa_receipt_number"),
                    "unclaimed_amount": sum(unclaimed.mapped("amount")),
                }
            )
        return figures

    def _mpesa_closing_text(self):
        """The differences in words, empty when the till's M-Pesa lines and M-Pesa agree."""
        env, currency = self.env, self.currency_id
        lines = []
        for figure in self._mpesa_closing_figures():
            if figure["unmatched_count"]:
                lines.append(
                    env._(
                        "%(method)s: %(count)s line(s) validated without a matching payment (%(amount)s).",
                        method=figure["name"],
                        count=figure["unmatched_count"],
                        amount=format_amount(env, figure["unmatched_amount"], currency),
                    )
                )
            if figure["not_synced_receipts"]:
                lines.append(
                    env._(
                        "%(method)s: taken by this till, order not on the server: %(receipts)s.",
                        method=figure["name"],
                        receipts=", ".join(figure["not_synced_receipts"]),
                    )
                )
            if figure["unclaimed_receipts"]:
                lines.append(
                    env._(
                        "%(method)s: received during the session, on no order: %(receipts)s (%(amount)s).",
                        method=figure["name"],
                        receipts=", ".join(figure["unclaimed_receipts"]),
                        amount=format_amount(env, figure["unclaimed_amount"], currency),
                    )
                )
        return "\n".join(lines)

    def get_closing_control_data(self):
        data = super().get_closing_control_data()
        data["mpesa"] = self._mpesa_closing_figures()
        data["mpesa_differences"] = self._mpesa_closing_text()
        return data

    def close_session_from_ui(self, bank_payment_method_diff_pairs=None):
        self.ensure_one()
        # written before Odoo closes: kept whether the closing goes through or stops for a manager
        self.sudo().mpesa_closing_note = self._mpesa_closing_text() or False
        return super().close_session_from_ui(bank_payment_method_diff_pairs)
