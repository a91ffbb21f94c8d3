"""mpesa.callback, Safaricom's side: the requests controllers/callback.py receives.

Storing unreadable and duplicate requests, processing STK results (verifying the money), and
C2B confirmations and validations (with the account they belong to).
"""

import logging
from decimal import InvalidOperation

from odoo import api, fields, models

from .mpesa_utils import status_value, to_decimal

_logger = logging.getLogger(__name__)

TERMINAL = {"success", "failed", "cancelled", "timeout", "needs_review", "invalid"}


class MpesaCallback(models.Model):
    _inherit = "mpesa.callback"

    # ================================================================== stored as received

    @api.model
    def _company_id_for(self, config):
        """Company of a row Safaricom sent: its account's, else the main company (no account known)."""
        return (config.company_id if config else self.env.ref("base.main_company")).id

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
    ):
        return self.sudo().create(
            {
                "callback_type": callback_type,
                "status": "invalid",
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
        self.ensure_one()
        self.write(
            {
                "duplicate_count": self.duplicate_count + 1,
                "last_duplicate_date": fields.Datetime.now(),
                "last_duplicate_payload": raw_text,
            }
        )
        _logger.info("Duplicate M-Pesa notification recorded on %s", self.id)
        return self

    # ================================================================== STK results

    @api.model
    def _process_stk(self, callback, raw_text, source, config=None, remote_addr=None, reprocess=False):
        self = self.sudo()
        row = self.search([("checkout_request_id", "=", callback.checkout_request_id)], limit=1)
        if not row:
            # not a request we made (forged, another system's, or faster than our commit): keep for review
            return self.create(
                {
                    "callback_type": "stk",
                    "status": "needs_review",
                    "review_reason": "Unknown CheckoutRequestID",
                    "checkout_request_id": callback.checkout_request_id,
                    "merchant_request_id": callback.merchant_request_id,
                    "result_code": callback.result_code,
                    "result_desc": callback.result_desc,
                    "amount": float(callback.amount) if callback.amount is not None else 0.0,
                    "phone_number": callback.phone,
                    "transaction_date": callback.transaction_time,
                    "raw_payload": raw_text,
                    "callback_received": True,
                    "source": source,
                    "remote_addr": remote_addr,
                    "config_id": config.id if config else False,
                    "company_id": self._company_id_for(config),
                }
            )
        row._lock_row()
        status = status_value(callback.result.status)
        if (
            not reprocess
            and not row.callback_received
            and row.status == "success"
            and row.confirmed_by_query
            and not row.mpesa_receipt_number
            and status == "success"
        ):
            # the query completed it first; the late callback brings the receipt
            row._complete_stk_success(
                callback, {"callback_received": True, "raw_payload": raw_text, "remote_addr": remote_addr}
            )
            row._notify_till()
            return row
        if not reprocess and (row.callback_received or row.status in TERMINAL):
            return row._record_duplicate(raw_text)
        base_vals = {
            "callback_received": True,
            "raw_payload": raw_text,
            "remote_addr": remote_addr,
            "result_code": callback.result_code,
            "result_desc": callback.result_desc,
            "reason": callback.result.reason,
        }
        if config and row.config_id and config != row.config_id:
            row.write(
                {
                    **base_vals,
                    "status": "needs_review",
                    "review_reason": "Callback received on another account's URL",
                }
            )
            row._notify_till()
            return row
        if (
            callback.merchant_request_id
            and row.merchant_request_id
            and callback.merchant_request_id != row.merchant_request_id
        ):
            row.write({**base_vals, "status": "needs_review", "review_reason": "MerchantRequestID mismatch"})
            row._notify_till()
            return row
        if status == "success":
            if row.config_id.confirm_stk_with_query:
                # trusted only once the STK query agrees; the cron picks it up at once
                row.write({**base_vals, "pending_callback": raw_text})
                self.env.ref("pos_mpesa.ir_cron_mpesa_recover_stk")._trigger()
                return row
            row._complete_stk_success(callback, base_vals)
        elif status in ("failed", "cancelled", "timeout"):
            row.write({**base_vals, "status": status})
        elif status == "pending":
            row.write(base_vals)
        else:
            row.write(
                {
                    **base_vals,
                    "status": "needs_review",
                    "review_reason": f"Unknown result code {callback.result_code}",
                }
            )
        row._notify_till()
        return row

    def _complete_stk_success(self, callback, vals):
        """Success callback on our pending row: verify the money before marking it paid."""
        self.ensure_one()
        vals = dict(
            vals,
            mpesa_receipt_number=callback.receipt_number or False,
            transaction_date=callback.transaction_time,
            pending_callback=False,
        )
        if callback.phone:
            vals["phone_number"] = callback.phone
        if callback.amount is not None:
            vals["amount"] = float(callback.amount)
        if callback.amount is None or to_decimal(callback.amount) != to_decimal(self.requested_amount):
            vals.update(
                status="needs_review",
                review_reason=(
                    f"Amount mismatch: requested {self.requested_amount:.2f}, callback says {callback.amount}"
                ),
            )
        elif not callback.receipt_number:
            vals.update(status="needs_review", review_reason="Success without a receipt number")
        else:
            vals["status"] = "success"
            twin = self.search(
                [("mpesa_receipt_number", "=", callback.receipt_number), ("callback_type", "=", "c2b")],
                limit=1,
            )
            if twin:
                # the C2B confirmation of this same payment came first
                twin._lock_row()
                if twin.is_reconciled:
                    vals.update(
                        status="needs_review",
                        review_reason=(
                            f"Receipt already taken through C2B ({twin.pos_order_ref or twin.id})"
                        ),
                    )
                else:
                    twin.write({"duplicate_of_id": self.id})
        self.write(vals)

    # ================================================================== C2B confirmation and validation

    @api.model
    def _process_c2b(self, notif, raw_text, source, config=None, remote_addr=None):
        self = self.sudo()
        if not config:
            config = self._config_for_shortcode(notif.business_short_code)
        is_validation = notif.kind == "c2b_validation"
        receipt = notif.trans_id or False
        if receipt:
            stk_twin = self.search(
                [("mpesa_receipt_number", "=", receipt), ("callback_type", "=", "stk")], limit=1
            )
            if stk_twin and not is_validation:
                return stk_twin._record_duplicate(raw_text)
            existing = self.search(
                [("mpesa_receipt_number", "=", receipt), ("callback_type", "=", "c2b")], limit=1
            )
            if existing:
                existing._lock_row()
                if existing.is_validation and not is_validation and existing.status == "pending":
                    existing.write(self._c2b_vals(notif, raw_text, source, config, remote_addr))
                    existing._notify_c2b()
                    return existing
                return existing._record_duplicate(raw_text)
        row = self.create(self._c2b_vals(notif, raw_text, source, config, remote_addr))
        row._notify_c2b()
        return row

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
            and str(notif.business_short_code).strip() != config._get_c2b_shortcode()
            and config.environment == "production"
        ):
            vals.update(
                status="needs_review", review_reason="Shortcode differs from the account's C2B shortcode"
            )
        return vals

    @api.model
    def _config_for_shortcode(self, shortcode):
        """Account receiving a C2B on the public route: by shortcode; in test environments,
        fall back to a sandbox/simulator account so the brief's Postman example works."""
        configs = self.env["mpesa.config"].sudo().search([])
        code = str(shortcode or "").strip()
        matching = configs.filtered(lambda c: code and c._get_c2b_shortcode() == code)
        if matching:
            return matching[0]
        test_configs = configs.filtered(lambda c: c.environment != "production")
        default = self.env.ref("base.main_company").sudo().mpesa_config_id
        if default in test_configs:
            return default
        return test_configs[:1]

    @api.model
    def _c2b_validation_answer(self, notif, config):
        """Accept, or reject with the code that gives the customer the right SMS (reference §6.2)."""
        if not config:
            return {"ResultCode": "C2B00015", "ResultDesc": "Rejected"}
        try:
            amount = to_decimal(notif.amount)
        except InvalidOperation:
            return {"ResultCode": "C2B00013", "ResultDesc": "Rejected"}
        if amount <= 0 or amount != amount.to_integral_value():
            return {"ResultCode": "C2B00013", "ResultDesc": "Rejected"}
        return {"ResultCode": "0", "ResultDesc": "Accepted"}
