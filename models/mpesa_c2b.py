"""C2B, in one place: the customer paid the till or paybill from the M-Pesa menu.

    validation (optional) ──► pending ──confirmation──► success ──till's search ──► claimed
    confirmation ──────────────────────────────────────► success
    confirmation of a receipt already paid by STK ─────► counted on the STK row (duplicate_count)
    STK success of a receipt already here as C2B ──────► this row becomes duplicate_of the STK row

Here: which account a confirmation lands on, storing it (once per receipt: the unique live-receipt
index holds that across STK and C2B, see mpesa_callback.py), answering validation, the till's search
and the bus message. Taking a payment for an order is mpesa_claim.py.
"""

from datetime import timedelta, timezone
from decimal import InvalidOperation

from odoo import api, fields, models
from odoo.tools import SQL, escape_psql, ormcache

from ..daraja import nairobi_timestamp
from .mpesa_callback import CLAIMABLE
from .mpesa_config import MPESA_CACHE, SHORTCODE_FIELDS
from .mpesa_utils import STK_WAIT_SECONDS, to_decimal

MAX_SEARCH_RESULTS = 50


class MpesaCallback(models.Model):
    _inherit = "mpesa.callback"

    # ================================================================== which account

    @api.model
    def _c2b_accounts_for_shortcode(self, shortcode):
        """Active accounts receiving C2B on this shortcode."""
        code = str(shortcode or "").strip()
        configs = self.env["mpesa.config"].sudo().search([])
        return configs.filtered(lambda c: code and c._get_c2b_shortcode() == code)

    @api.model
    def _c2b_public_account(self, shortcode):
        """The account an unauthenticated public C2B request may land on: a test account only, never
        a production one nor a test sibling standing in for it. Returns (account, refused)."""
        matching = self._c2b_accounts_for_shortcode(shortcode)
        if any(config.environment == "production" for config in matching):
            # a production shortcode: only its token or an allowed IP lets a request in, and a test
            # account sharing the shortcode does not stand in for it
            return self.env["mpesa.config"], True
        tests = matching
        if tests:
            default = self.env.ref("base.main_company").sudo().mpesa_config_id
            return (default if default in tests else tests[:1]), False
        # no account on that shortcode: a hand-made test payload (e.g. from Postman) lands on the test default
        configs = self.env["mpesa.config"].sudo().search([("environment", "!=", "production")])
        default = self.env.ref("base.main_company").sudo().mpesa_config_id
        return (default if default in configs else configs[:1]), False

    # ================================================================== confirmation and validation

    @api.model
    def _c2b_process(self, notif, raw_text, source, config, remote_addr=None):
        """A C2B validation or confirmation for ``config`` (the authenticated account, or the test
        account of an unauthenticated public request)."""
        Callback = self.sudo()
        is_validation = notif.kind == "c2b_validation"
        receipt = notif.trans_id or False
        if receipt:
            seen = Callback.search([("mpesa_receipt_number", "=", receipt)])  # its STK twin, an earlier C2B
            stk_twin = seen.filtered(lambda r: r.callback_type == "stk")[:1]
            if stk_twin and not is_validation:
                # Safaricom also tells the C2B URL about a paybill's STK payments: the same money
                stk_twin._lock_row()
                return stk_twin._record_duplicate(raw_text)
            if not seen and not is_validation:
                stk = Callback._stk_query_only_twins(
                    config, notif.amount, notif.bill_ref_number, notif.trans_time
                )
                if len(stk) == 1:
                    # the STK callback was lost and the query gave no receipt: this is that payment
                    stk._lock_row()
                    stk._stk_take_receipt(receipt)
                    return stk._record_duplicate(raw_text)
                if stk:  # which one is it? a manager decides; no till may take it meanwhile
                    vals = Callback._c2b_vals(notif, raw_text, source, config, remote_addr)
                    vals.update(
                        status="needs_review",
                        review_reason="May be the STK payment " + ", ".join(stk.mapped("name")),
                    )
                    return Callback._insert_row(vals)
            existing = seen.filtered(lambda r: r.callback_type == "c2b")[:1]
            if existing:
                existing._lock_row()
                if existing.is_validation and not is_validation and existing.status == "pending":
                    with existing._payment_guard():
                        existing.write(Callback._c2b_vals(notif, raw_text, source, config, remote_addr))
                    return existing._c2b_stored()
                return existing._record_duplicate(raw_text)
        with Callback._payment_guard():
            row = Callback._insert_row(Callback._c2b_vals(notif, raw_text, source, config, remote_addr))
        return row._c2b_stored()

    def _c2b_stored(self):
        """A new C2B payment: claimed at once when it names a waiting order (mpesa_account_code.py),
        else offered to the tills."""
        if self.env["mpesa.account.code"]._match_payment(self):
            return self
        return self._notify_c2b()

    @api.model
    def _c2b_vals(self, notif, raw_text, source, config, remote_addr):
        is_validation = notif.kind == "c2b_validation"
        vals = {
            "callback_type": "c2b",
            "status": "pending" if is_validation else "success",
            "is_validation": is_validation,
            "mpesa_receipt_number": notif.trans_id or False,
            "amount": float(notif.amount),
            "phone_number": notif.msisdn,
            "customer_name": notif.customer_name,
            "bill_ref_number": notif.bill_ref_number,
            "transaction_type": notif.transaction_type,
            "business_shortcode": notif.business_short_code,
            "transaction_date": notif.trans_time,
            "raw_payload": raw_text,
            "source": source,
            "remote_addr": remote_addr,
            "result_code": "0",
            "reason": "paid" if not is_validation else "pending",
            "config_id": config.id if config else False,
            "company_id": self._company_id_for(config),
        }
        if not config:
            vals.update(status="needs_review", review_reason="No M-Pesa account for this shortcode")
        elif (
            notif.business_short_code
            and str(notif.business_short_code).strip() != config._callback_facts()[1]
            and config._callback_facts()[2] == "production"
        ):
            vals.update(
                status="needs_review", review_reason="Shortcode differs from the account's C2B shortcode"
            )
        return vals

    @api.model
    def _c2b_validation_answer(self, notif, config):
        """Accept, or reject with the code that gives the customer the right SMS
        (docs/daraja.md, "C2B validation and confirmation")."""
        if not config:
            return {"ResultCode": "C2B00015", "ResultDesc": "Rejected"}
        try:
            amount = to_decimal(notif.amount)
        except InvalidOperation:
            return {"ResultCode": "C2B00013", "ResultDesc": "Rejected"}
        if amount <= 0 or amount != amount.to_integral_value():
            return {"ResultCode": "C2B00013", "ResultDesc": "Rejected"}
        return {"ResultCode": "0", "ResultDesc": "Accepted"}

    @api.model
    def _c2b_validate(self, notif, raw_text, source, config, remote_addr=None):
        """Validation: store it, answer accept or the rejection code."""
        answer = self._c2b_validation_answer(notif, config)
        row = self._c2b_process(notif, raw_text, source, config, remote_addr=remote_addr)
        if str(answer["ResultCode"]) != "0" and row.status == "pending":
            row.sudo().write(
                {
                    "status": "failed",
                    "result_code": answer["ResultCode"],
                    "review_reason": "Rejected at validation",
                }
            )
        return answer

    # ================================================================== the till's search

    @api.model
    def _c2b_search_accounts(self, config):
        """Accounts whose payments a till of ``config`` may take: same company and C2B shortcode, and
        the same kind of environment (a production till never sees a test account's payments)."""
        return self.env["mpesa.config"].sudo().browse(self._c2b_search_account_ids(config.id))

    # what _c2b_search_account_ids is read from (active: archived accounts are not searched); writing
    # one of these on an account clears it (mpesa.config._mpesa_cached_fields), so do creating or
    # deleting an account
    _MPESA_SIBLING_FIELDS = frozenset({"active", "company_id", "environment", *SHORTCODE_FIELDS})

    @api.model
    @ormcache("config_id", cache=MPESA_CACHE)
    def _c2b_search_account_ids(self, config_id):
        """Cached in every worker."""
        config = self.env["mpesa.config"].sudo().browse(config_id)
        shortcode = config._get_c2b_shortcode()
        production = config.environment == "production"
        siblings = self.env["mpesa.config"].sudo().search([("company_id", "=", config.company_id.id)])
        return tuple(
            siblings.filtered(
                lambda c: (
                    c._get_c2b_shortcode() == shortcode and (c.environment == "production") == production
                )
            ).ids
        )

    @api.model
    def _c2b_search(self, config, amount, window_minutes, text=None):
        """Claimable payments received within the window, newest first: of exactly ``amount`` (None:
        any amount), and matching ``text`` (a payer's name, or the last digits of a phone number).

        One query on a partial index of the claimable rows (mpesa_callback.py); an STK payment is
        offered once its till gave up or its 75 s are over.
        """
        now = fields.Datetime.now()
        where = [
            CLAIMABLE,
            SQL("config_id = ANY(%s)", self._c2b_search_accounts(config).ids),
            SQL("received_date >= %s", now - timedelta(minutes=window_minutes)),
            SQL(
                "(callback_type = 'c2b' OR stk_abandoned OR request_date <= %s)",
                now - timedelta(seconds=STK_WAIT_SECONDS),
            ),
        ]
        if amount is not None:
            where.append(SQL("amount = %s", amount))
        if text and text.isdigit():
            # masked numbers keep their last digits ("2547 ***** 126"); hashed ones match nothing
            where.append(SQL("phone_number LIKE %s", "%" + text))
        elif text:
            where.append(SQL("customer_name ILIKE %s", "%" + escape_psql(text) + "%"))
        return self._c2b_search_rows(SQL(" AND ").join(where))

    @api.model
    def _c2b_search_receipt(self, config, receipt):
        """The claimable payment with this receipt, whenever it came (the customer shows the SMS)."""
        return self._c2b_search_rows(
            SQL(
                "%s AND config_id = ANY(%s) AND mpesa_receipt_number = %s",
                CLAIMABLE,
                self._c2b_search_accounts(config).ids,
                receipt,
            )
        )

    @api.model
    def _c2b_search_rows(self, where):
        self.flush_model()
        self.env.cr.execute(
            SQL(
                """SELECT id, mpesa_receipt_number, phone_number, customer_name, amount,
                          transaction_date, received_date, callback_type, bill_ref_number, source
                     FROM mpesa_callback
                    WHERE %s
                 ORDER BY received_date DESC, id DESC
                    LIMIT %s""",
                where,
                MAX_SEARCH_RESULTS,
            )
        )
        return [self._c2b_search_result(row) for row in self.env.cr.dictfetchall()]

    @api.model
    def _c2b_search_result(self, row):
        """One /mpesa/search_unreconciled_callbacks result, from the search's own columns."""
        when = row["transaction_date"] or row["received_date"]
        return {
            "id": row["id"],
            "trans_id": row["mpesa_receipt_number"] or "",
            "mpesa_receipt_number": row["mpesa_receipt_number"] or "",
            "phone_number": row["phone_number"] or "",
            "customer_name": row["customer_name"] or "",
            "amount": float(row["amount"]),
            "transaction_date": nairobi_timestamp(when.replace(tzinfo=timezone.utc)),
            "create_date": fields.Datetime.to_string(row["received_date"]),
            "type": row["callback_type"],
            "bill_ref_number": row["bill_ref_number"] or "",
            # "pull" / "status": recovered from M-Pesa's records, its confirmation never came
            "source": row["source"] or "",
        }

    # ================================================================== bus

    def _notify_c2b(self):
        """Tell every open till using this account that a C2B payment arrived (MPESA_C2B_RECEIVED)."""
        if self._bus_later("_notify_c2b"):
            return self
        methods = self.env["pos.config"]._fields["payment_method_ids"]
        for row in self.filtered(
            lambda r: r.callback_type == "c2b" and r.status == "success" and r.config_id
        ):
            # the tills with an open session and an M-Pesa method on this account, in one query
            self.env.cr.execute(
                SQL(
                    """SELECT DISTINCT session.config_id
                         FROM pos_session session
                         JOIN %s rel ON rel.%s = session.config_id
                         JOIN pos_payment_method method ON method.id = rel.%s
                        WHERE session.state IN ('opening_control', 'opened')
                          AND method.mpesa_config_id = %s""",
                    SQL.identifier(methods.relation),
                    SQL.identifier(methods.column1),
                    SQL.identifier(methods.column2),
                    row.config_id.id,
                )
            )
            tills = (
                self.env["pos.config"].sudo().browse([config_id for (config_id,) in self.env.cr.fetchall()])
            )
            for pos_config in tills:
                pos_config._notify(
                    "MPESA_C2B_RECEIVED",
                    {"callback_id": row.id, "amount": row.amount, "mpesa_config_id": row.config_id.id},
                )
        return self
