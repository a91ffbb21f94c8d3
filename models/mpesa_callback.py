"""The M-Pesa payment log (mpesa.callback): one row per transaction, never deleted.

Here: the model (fields, indexes, edit/delete guards, the row lock), the back-office actions and the
recovery cron. What the till calls: mpesa_callback_pos.py; what Safaricom posts: mpesa_callback_safaricom.py.

An STK push creates a pending row; its callback (or an STK query) completes it. A C2B
confirmation creates a successful row that a till can claim once (reconcile). Every request
Safaricom (or anybody) posts to us lands here first, even unreadable ones (status invalid).
"""

from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import mute_logger
from psycopg2 import errors as pg_errors

from .mpesa_utils import STK_WAIT_SECONDS

STATUSES = [
    ("pending", "Pending"),
    ("success", "Success"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
    ("timeout", "Timeout"),
    ("needs_review", "Needs Review"),
    ("invalid", "Invalid"),
]
STK_REVIEW_AFTER = timedelta(minutes=30)  # no final answer after this: a human checks the statement


class MpesaCallback(models.Model):
    _name = "mpesa.callback"
    _description = "M-Pesa Transaction"
    _order = "received_date desc, id desc"
    _rec_name = "name"

    name = fields.Char(compute="_compute_name", store=True)
    callback_type = fields.Selection(
        [("stk", "STK Push"), ("c2b", "C2B"), ("unknown", "Unknown")],
        string="Type",
        required=True,
        default="unknown",
        readonly=True,
        index=True,
    )
    status = fields.Selection(STATUSES, required=True, default="pending", readonly=True, index=True)
    result_code = fields.Char(readonly=True)
    result_desc = fields.Char(string="Result Description", readonly=True)
    reason = fields.Char(readonly=True, help="Daraja layer reason key (paid, cancelled, timeout, ...).")
    review_reason = fields.Char(readonly=True)
    merchant_request_id = fields.Char(string="MerchantRequestID", readonly=True)
    checkout_request_id = fields.Char(string="CheckoutRequestID", readonly=True, copy=False)
    mpesa_receipt_number = fields.Char(string="Receipt / TransID", readonly=True, copy=False)
    currency_id = fields.Many2one(
        "res.currency", required=True, readonly=True, default=lambda self: self.env.ref("base.KES")
    )
    amount = fields.Monetary(readonly=True, currency_field="currency_id")
    requested_amount = fields.Monetary(
        readonly=True, currency_field="currency_id", help="Amount of our STK push request."
    )
    phone_number = fields.Char(readonly=True, help="As received from M-Pesa: may be masked or hashed.")
    request_phone = fields.Char(string="Phone Pushed To", readonly=True)
    customer_name = fields.Char(readonly=True)
    bill_ref_number = fields.Char(string="Bill Reference", readonly=True)
    transaction_type = fields.Char(readonly=True)
    business_shortcode = fields.Char(readonly=True)
    order_reference = fields.Char(readonly=True, help="Reference the till sent with the STK push.")
    transaction_date = fields.Datetime(readonly=True, help="M-Pesa transaction time (UTC).")
    received_date = fields.Datetime(
        string="Received", readonly=True, required=True, default=fields.Datetime.now
    )
    request_date = fields.Datetime(string="Push Sent", readonly=True)
    raw_payload = fields.Text(readonly=True)
    payload_truncated = fields.Boolean(readonly=True)
    source = fields.Selection(
        [
            ("token_url", "Token URL"),
            ("public_url", "Public URL"),
            ("pos", "POS request"),
            ("query", "STK Query"),
        ],
        readonly=True,
    )
    remote_addr = fields.Char(string="Source IP", readonly=True)
    is_validation = fields.Boolean(string="C2B Validation", readonly=True)
    callback_received = fields.Boolean(readonly=True, help="The STK callback arrived (vs. a query result).")
    pending_callback = fields.Text(readonly=True, help="Success callback waiting for query confirmation.")
    confirmed_by_query = fields.Boolean(readonly=True)
    last_query_date = fields.Datetime(readonly=True)
    query_count = fields.Integer(readonly=True)
    duplicate_count = fields.Integer(readonly=True)
    last_duplicate_date = fields.Datetime(readonly=True)
    last_duplicate_payload = fields.Text(readonly=True)
    duplicate_of_id = fields.Many2one(
        "mpesa.callback",
        readonly=True,
        index="btree_not_null",
        help="The STK row of the same M-Pesa transaction.",
    )
    stk_abandoned = fields.Boolean(string="Till Gave Up", readonly=True)
    config_id = fields.Many2one(
        "mpesa.config", string="M-Pesa Account", readonly=True, ondelete="restrict", index=True
    )
    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, index=True, default=lambda self: self.env.company
    )
    pos_config_id = fields.Many2one(
        "pos.config", string="Point of Sale", readonly=True, index="btree_not_null"
    )
    payment_method_id = fields.Many2one("pos.payment.method", readonly=True)
    user_id = fields.Many2one("res.users", string="Requested By", readonly=True)
    is_reconciled = fields.Boolean(readonly=True, index=True)
    reconciled_date = fields.Datetime(readonly=True)
    reconciled_by_id = fields.Many2one("res.users", readonly=True)
    pos_order_ref = fields.Char(string="Claimed For", readonly=True, help="Order the till claimed it for.")
    pos_order_id = fields.Many2one("pos.order", string="POS Order", readonly=True, index="btree_not_null")
    pos_payment_id = fields.Many2one(
        "pos.payment", string="POS Payment", readonly=True, index="btree_not_null"
    )
    reviewed = fields.Boolean(readonly=True)
    reviewed_by_id = fields.Many2one("res.users", readonly=True)
    reviewed_date = fields.Datetime(readonly=True)
    note = fields.Text()

    _checkout_request_uniq = models.UniqueIndex(
        "(checkout_request_id) WHERE checkout_request_id IS NOT NULL",
        "This CheckoutRequestID is already logged.",
    )
    _receipt_uniq = models.UniqueIndex(
        "(mpesa_receipt_number, callback_type) WHERE mpesa_receipt_number IS NOT NULL",
        "This M-Pesa receipt is already logged.",
    )
    _c2b_search_idx = models.Index(
        "(company_id, config_id, status, is_reconciled, amount, received_date DESC)"
    )

    @api.depends("mpesa_receipt_number", "checkout_request_id", "callback_type")
    def _compute_name(self):
        for row in self:
            row.name = (
                row.mpesa_receipt_number
                or row.checkout_request_id
                or self.env._("Request #%(id)s", id=row.id or "?")
            )

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        raise UserError(self.env._("M-Pesa transactions are kept for audit and cannot be deleted."))

    def write(self, vals):
        # the only fields a human edits; everything else goes through the flows below (sudo)
        if not self.env.su and set(vals) - {"note"}:
            raise UserError(self.env._("M-Pesa transactions can only be changed through their actions."))
        return super().write(vals)

    # ================================================================== locking

    def _lock_row(self, nowait=False):
        """Row lock for this transaction; returns False when nowait and another worker holds it."""
        self.ensure_one()
        try:
            # a busy row is an expected answer here, not an error worth logging
            with self.env.cr.savepoint(flush=False), mute_logger("odoo.sql_db"):
                if nowait:
                    self.env.cr.execute(
                        "SELECT id FROM mpesa_callback WHERE id = %s FOR UPDATE NOWAIT", (self.id,)
                    )
                else:
                    self.env.cr.execute("SELECT id FROM mpesa_callback WHERE id = %s FOR UPDATE", (self.id,))
        except pg_errors.LockNotAvailable:
            return False
        self.invalidate_recordset()
        return True

    # ================================================================== back office actions

    def action_release_claim(self):
        """A till claimed the payment but its order never reached the server: make it matchable again."""
        if not self.env.user.has_group("point_of_sale.group_pos_manager"):
            raise UserError(self.env._("Only Point of Sale managers can release a payment."))
        for row in self:
            if not row.is_reconciled:
                raise UserError(self.env._("%(name)s is not claimed.", name=row.name))
            if row.pos_payment_id:
                raise UserError(
                    self.env._("%(name)s is linked to a POS payment and cannot be released.", name=row.name)
                )
            row.sudo().write(
                {
                    "is_reconciled": False,
                    "reconciled_date": False,
                    "reconciled_by_id": False,
                    "pos_order_ref": False,
                    "pos_order_id": False,
                    "stk_abandoned": True,
                    "note": "\n".join(
                        filter(
                            None,
                            [
                                row.note,
                                self.env._(
                                    "Claim released by %(user)s on %(date)s",
                                    user=self.env.user.name,
                                    date=fields.Datetime.now(),
                                ),
                            ],
                        )
                    ),
                }
            )
        return True

    def action_mark_reviewed(self):
        if not self.env.user.has_group("point_of_sale.group_pos_manager"):
            raise UserError(self.env._("Only Point of Sale managers can mark payments as reviewed."))
        self.sudo().write(
            {"reviewed": True, "reviewed_by_id": self.env.uid, "reviewed_date": fields.Datetime.now()}
        )
        return True

    def action_query_status(self):
        """Manager: ask Daraja now for a pending STK request."""
        if not self.env.user.has_group("point_of_sale.group_pos_manager"):
            raise UserError(self.env._("Only Point of Sale managers can query M-Pesa."))
        for row in self.filtered(lambda r: r.callback_type == "stk" and r.status == "pending"):
            row.sudo()._refresh_by_query(force=True)
        return True

    # ================================================================== cron

    @api.model
    def _cron_recover_stk(self):
        """Lost or unconfirmed STK callbacks: query pending requests past their wait."""
        now = fields.Datetime.now()
        rows = self.sudo().search(
            [
                ("callback_type", "=", "stk"),
                ("status", "=", "pending"),
                ("config_id", "!=", False),
                "|",
                ("pending_callback", "!=", False),
                ("request_date", "<=", now - timedelta(seconds=STK_WAIT_SECONDS)),
            ],
            order="request_date",
            limit=100,
        )
        for row in rows:
            row._refresh_by_query(force=bool(row.pending_callback))
            if row.status == "pending" and row.request_date and now - row.request_date > STK_REVIEW_AFTER:
                row.write(
                    {
                        "status": "needs_review",
                        "review_reason": "No final answer from M-Pesa: check the M-Pesa statement",
                    }
                )
                row._notify_till()
        return len(rows)
