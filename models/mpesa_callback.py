"""The M-Pesa payment log (mpesa.callback): one row per transaction, never deleted.

Here: the fields, the invariants PostgreSQL holds for us (indexes and checks), the edit/delete
guards, the row lock, storing what we could not use, and the back-office buttons. A payment's life
is in one file per domain: mpesa_stk.py (push → callback/query → timeout → late result),
mpesa_c2b.py (validation → confirmation → search), and mpesa_claim.py, the only writer of the
claim fields (claim, release, link to a pos.payment). What the till calls is checked
in mpesa_pos_request.py.
"""

from contextlib import contextmanager
from decimal import Decimal

from odoo import api, fields, models
from odoo.exceptions import ConcurrencyError, UserError
from odoo.tools import SQL, mute_logger
from psycopg2 import errors as pg_errors

from .mpesa_utils import check_manager, db_text, to_decimal

CENT = Decimal("0.01")
STATUSES = [
    ("pending", "Pending"),
    ("success", "Success"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
    ("timeout", "Timeout"),
    ("needs_review", "Needs Review"),
    ("invalid", "Invalid"),
]
# written only by mpesa_claim.py (see _check_claim_writer)
CLAIM_FIELDS = frozenset(
    {
        "is_claimed",
        "claim_date",
        "claimed_by_id",
        "claim_order_key",
        "pos_order_id",
        "pos_payment_id",
        "claim_config_id",
        "claim_session_id",
    }
)
# the predicate of a row that is money a till can still take; the same text in the partial
# indexes below and in the SQL of mpesa_claim.py / mpesa_c2b.py, so PostgreSQL matches them
LIVE_PAYMENT_SQL = "status = 'success' AND duplicate_of_id IS NULL"
CLAIMABLE_SQL = LIVE_PAYMENT_SQL + " AND is_claimed IS NOT TRUE"
LIVE_PAYMENT = SQL(LIVE_PAYMENT_SQL)  # for queries: the same text as the indexes' predicates
LIVE_PAYMENT_DOMAIN = [("status", "=", "success"), ("duplicate_of_id", "=", False)]  # for search()
CLAIMABLE = SQL(CLAIMABLE_SQL)
# the Nairobi day a row was received on (Kenya keeps UTC+3 all year): the daily statement groups by it
LOCAL_DAY_SQL = "((received_date AT TIME ZONE 'UTC' AT TIME ZONE 'Africa/Nairobi')::date)"
# an STK payment the query confirmed without a receipt (its callback lost): its C2B twin may bring it
STK_QUERY_ONLY_SQL = (
    "callback_type = 'stk' AND status = 'success' AND mpesa_receipt_number IS NULL"
    " AND duplicate_of_id IS NULL"
)
# context key and transaction data key of the till messages sent after the answer (_bus_later)
BUS_AFTER_ANSWER = "pos_mpesa.bus_after_answer"


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
    order_key = fields.Char(
        readonly=True,
        help="The order the STK push was sent for (its uuid when the till gave it): only that order "
        "can take the payment.",
    )
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
            ("pull", "Pull Transactions"),
            ("status", "Transaction Status"),
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
        "pos.config", string="Point of Sale", readonly=True, index="btree_not_null", help="Till that pushed."
    )
    pos_session_id = fields.Many2one("pos.session", string="Session", readonly=True)
    payment_method_id = fields.Many2one("pos.payment.method", readonly=True)
    user_id = fields.Many2one("res.users", string="Requested By", readonly=True)
    # the claim (mpesa_claim.py is the only writer)
    is_claimed = fields.Boolean(string="Claimed", readonly=True, help="A till took it for an order.")
    claim_date = fields.Datetime(string="Claimed On", readonly=True)
    claimed_by_id = fields.Many2one("res.users", readonly=True)
    claim_order_key = fields.Char(
        string="Claimed For", readonly=True, help="The order the till claimed it for (its uuid)."
    )
    pos_order_id = fields.Many2one("pos.order", string="POS Order", readonly=True, index="btree_not_null")
    pos_payment_id = fields.Many2one(
        "pos.payment", string="POS Payment", readonly=True, index="btree_not_null"
    )
    claim_config_id = fields.Many2one(
        "pos.config",
        string="Claimed By Till",
        readonly=True,
        help="Only this till (or a manager) releases it.",
    )
    claim_session_id = fields.Many2one("pos.session", string="Claimed In Session", readonly=True)
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
    # the money invariant: one receipt is one live payment, whether it came by STK, C2B or both
    _receipt_live_uniq = models.UniqueIndex(
        f"(mpesa_receipt_number) WHERE mpesa_receipt_number IS NOT NULL AND {LIVE_PAYMENT_SQL}",
        "This M-Pesa receipt is already a payment.",
    )
    _payment_uniq = models.UniqueIndex(
        "(pos_payment_id) WHERE pos_payment_id IS NOT NULL",
        "This POS payment is already linked to an M-Pesa payment.",
    )
    _claim_live_check = models.Constraint(
        f"CHECK (is_claimed IS NOT TRUE OR ({LIVE_PAYMENT_SQL}))",
        "Only a successful payment that is not a duplicate can be claimed.",
    )
    _claim_owner_check = models.Constraint(
        "CHECK (is_claimed IS NOT TRUE OR (claim_order_key IS NOT NULL AND claimed_by_id IS NOT NULL))",
        "A claimed payment names its order and who took it.",
    )
    # the C2B search (mpesa_c2b.py): the claimable rows only
    _claimable_idx = models.Index(f"(config_id, amount, received_date DESC) WHERE {CLAIMABLE_SQL}")
    # the daily statement (mpesa_daily_statement.py): a range of days of live payments, per account
    _statement_day_idx = models.Index(f"({LOCAL_DAY_SQL}, config_id) WHERE {LIVE_PAYMENT_SQL}")
    # the till's search of any amount (several payments for one order, a payer's name or phone digits)
    _claimable_recent_idx = models.Index(f"(config_id, received_date DESC) WHERE {CLAIMABLE_SQL}")
    # the STK recovery cron: pending pushes only
    _stk_pending_idx = models.Index("(request_date) WHERE status = 'pending' AND callback_type = 'stk'")
    # every C2B confirmation looks for an STK payment the query confirmed without a receipt (mpesa_stk.py):
    # those rows only, a handful, so the look-up costs nothing at a million rows
    _stk_query_only_idx = models.Index(f"(config_id, amount, request_date) WHERE {STK_QUERY_ONLY_SQL}")

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

    @api.model_create_multi
    def create(self, vals_list):
        return super().create([self._new_row_vals(vals) for vals in vals_list])

    @api.model
    def _new_row_vals(self, vals):
        """What every new row gets (create and _insert_row): NUL-free text, the currency, and the
        name _compute_name would give, set now rather than by an UPDATE after the INSERT."""
        vals = self._clean_vals(vals)
        vals.setdefault("currency_id", self.env["ir.model.data"]._xmlid_lookup("base.KES")[1])  # cached
        if "name" not in vals and (vals.get("mpesa_receipt_number") or vals.get("checkout_request_id")):
            vals["name"] = vals.get("mpesa_receipt_number") or vals["checkout_request_id"]
        return vals

    @api.model
    def _insert_row(self, vals):
        """One new row Safaricom sent, in one INSERT without the ORM's create: the callback's hot
        path (create reads every field's defaults, the currency to round the amount, and fills
        its cache: about a third of a callback's time). It writes what create() would: the audit
        columns and what _new_row_vals gives; the database checks its invariants alike. Takes plain
        values of stored columns only; a row create() would still have to compute (no name yet) or
        round (an amount that is not whole cents) goes through create()."""
        vals = self._new_row_vals(vals)
        amount = vals.get("amount")
        if "name" not in vals or (
            amount is not None and to_decimal(amount) != to_decimal(amount).quantize(CENT)
        ):
            return self.create(vals)
        now = self.env.cr.now()
        row = {
            "received_date": fields.Datetime.now(),
            "create_uid": self.env.uid,
            "write_uid": self.env.uid,
            "create_date": now,
            "write_date": now,
            **vals,
        }
        columns, values = [], []
        for name, value in row.items():
            field = self._fields[name]
            if not field.column_type or field.type in ("one2many", "many2many") or field.translate:
                raise ValueError(f"_insert_row takes plain stored columns, not {name}")
            columns.append(SQL.identifier(name))
            if field.type == "monetary":
                values.append(None if value is None else to_decimal(value))  # whole cents: exact
            else:
                values.append(field.convert_to_column(value, self, row))
        self.env.cr.execute(
            SQL(
                "INSERT INTO mpesa_callback (%s) VALUES (%s) RETURNING id",
                SQL(", ").join(columns),
                SQL(", ").join(SQL("%s", value) for value in values),
            )
        )
        return self.browse(self.env.cr.fetchone()[0])

    def write(self, vals):
        # the only field a human edits; everything else goes through the flows (sudo)
        if not self.env.su and set(vals) - {"note"}:
            raise UserError(self.env._("M-Pesa transactions can only be changed through their actions."))
        self._check_claim_writer(vals)
        return super().write(self._clean_vals(vals))

    def _check_claim_writer(self, vals):
        """Money moves in one place: mpesa_claim.py. Any other writer of a claim field is a bug."""
        if CLAIM_FIELDS & set(vals) and not self.env.context.get("mpesa_claim_writer"):
            raise UserError(self.env._("Claim fields are written by the claim module only."))

    @staticmethod
    def _clean_vals(vals):
        """PostgreSQL refuses NUL in text: whatever a sender put in a string is stored without it."""
        return {key: db_text(value) if isinstance(value, str) else value for key, value in vals.items()}

    # ================================================================== reading a row

    def _note_with(self, line):
        """The row's note with one more line (what a manager did, and who)."""
        self.ensure_one()
        return "\n".join(filter(None, [self.note, line]))

    def _is_live_payment(self):
        """Money M-Pesa received, counted once (LIVE_PAYMENT_SQL, in Python)."""
        self.ensure_one()
        return self.status == "success" and not self.duplicate_of_id

    # ================================================================== locking

    def _lock_row(self, nowait=False):
        """Row lock for this transaction; returns False when nowait and another worker holds it."""
        self.ensure_one()
        if not nowait:  # waits, never refused: no savepoint needed
            self.env.cr.execute("SELECT id FROM mpesa_callback WHERE id = %s FOR UPDATE", (self.id,))
            self.invalidate_recordset()
            return True
        try:
            # a busy row is an expected answer here, not an error worth logging
            with self.env.cr.savepoint(flush=False), mute_logger("odoo.sql_db"):
                self.env.cr.execute(
                    "SELECT id FROM mpesa_callback WHERE id = %s FOR UPDATE NOWAIT", (self.id,)
                )
        except pg_errors.LockNotAvailable:
            return False
        self.invalidate_recordset()
        return True

    @contextmanager
    def _payment_guard(self):
        """Around every write that can make a row a payment (STK success, C2B confirmation).

        The unique index on the live receipt refuses a second payment for one receipt. When it
        fires, a concurrent request committed that payment after our snapshot was taken (Odoo runs
        REPEATABLE READ): retrying the whole request sees it and records a duplicate instead. No
        savepoint: the refused transaction is rolled back whole by the retry.
        """
        try:
            yield
            self.env["mpesa.callback"].flush_model()  # the index decides here, not at commit
        except pg_errors.UniqueViolation as error:
            if not (error.diag.constraint_name or "").startswith("mpesa_callback_"):
                raise
            raise ConcurrencyError(
                f"M-Pesa payment stored concurrently ({error.diag.constraint_name})"
            ) from None

    # ================================================================== till messages after the answer

    def _bus_later(self, method):
        """True when the caller asked (context BUS_AFTER_ANSWER) for the till messages of this
        transaction to be sent after it answered: ``method`` of these rows is queued instead.
        Safaricom waits for the callback's answer, not for the tills; the callback controller
        sends the queue once the transaction committed and the answer was written
        (controllers/callback.py)."""
        return self._bus_queue(self, method)

    @api.model
    def _bus_queue(self, records, method):
        """_bus_later for ``records`` of any model (the results of mpesa_daraja_request.py too)."""
        if not records or not self.env.context.get(BUS_AFTER_ANSWER):
            return False
        queued = self.env.cr.postcommit.data.setdefault(BUS_AFTER_ANSWER, [])
        queued.append((records._name, method, records.ids))
        return True

    @api.model
    def _bus_send_queued(self, queued):
        """Send what _bus_later queued, in this (new) transaction."""
        for model, method, ids in queued:
            getattr(self.env[model].sudo().browse(ids).exists(), method)()

    # ================================================================== what could not be used

    @api.model
    def _company_id_for(self, config):
        """Company of a row Safaricom sent: its account's, else the main company (no account known)."""
        return config._callback_facts()[0] if config else self.env.ref("base.main_company").id

    @api.model
    def _store_invalid(
        self,
        raw_text,
        reason,
        config=None,
        source="public_url",
        remote_addr=None,
        truncated=False,
        callback_type="unknown",
        status="invalid",
    ):
        """An authenticated request we could not use: kept whole (up to the body limit) for a human."""
        return self.sudo().create(
            {
                "callback_type": callback_type,
                "status": status,
                "raw_payload": raw_text,
                "payload_truncated": truncated,
                "review_reason": reason[:250],
                "config_id": config.id if config else False,
                "company_id": self._company_id_for(config),
                "source": source,
                "remote_addr": remote_addr,
            }
        )

    def _record_duplicate(self, raw_text):
        """Safaricom delivers at least once: a repeat is counted on the original row, never paid again."""
        self.ensure_one()
        self.sudo().write(
            {
                "duplicate_count": self.duplicate_count + 1,
                "last_duplicate_date": fields.Datetime.now(),
                "last_duplicate_payload": raw_text,
            }
        )
        return self

    # ================================================================== back office actions

    def action_release_claim(self):
        """A till claimed the payment but its order never reached the server: make it matchable again."""
        check_manager(self.env, self.env._("Only Point of Sale managers can release a payment."))
        for row in self:
            row._claim_release(by_manager=True)
        return True

    def action_mark_reviewed(self):
        check_manager(self.env, self.env._("Only Point of Sale managers can mark payments as reviewed."))
        self.sudo().write(
            {"reviewed": True, "reviewed_by_id": self.env.uid, "reviewed_date": fields.Datetime.now()}
        )
        return True

    def action_query_status(self):
        """Manager: ask Daraja now for a pending STK request."""
        check_manager(self.env, self.env._("Only Point of Sale managers can query M-Pesa."))
        for row in self.filtered(lambda r: r.callback_type == "stk" and r.status == "pending"):
            row.sudo()._stk_query(force=True)
        return True
