"""POS-facing JSON routes (README, "Endpoints & callback URLs").

Thin: the work is done by mpesa.callback / mpesa.config."""

import logging

from odoo import http
from odoo.exceptions import ConcurrencyError
from odoo.http import request
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY

_logger = logging.getLogger(__name__)


def _safe(method_name, **params):
    """Run an endpoint; never a traceback or a secret towards the till, only {success, message}."""
    Callback = request.env["mpesa.callback"]
    try:
        return Callback._run_pos_request(method_name, **params)
    except (ConcurrencyError, *PG_CONCURRENCY_EXCEPTIONS_TO_RETRY):
        raise  # Odoo retries the whole request
    except Exception:
        _logger.exception("M-Pesa endpoint %s failed", method_name)
        return {"success": False, "message": request.env._("Unexpected server error; please try again.")}


class MpesaPosController(http.Controller):
    @http.route("/mpesa/stk_push", type="jsonrpc", auth="user", methods=["POST"])
    def stk_push(
        self,
        phone_number=None,
        amount=None,
        order_reference=None,
        payment_method_id=None,
        pos_config_id=None,
        order_uuid=None,
        **_ignored,
    ):
        """Send an STK push to the customer's phone and log the pending request."""
        return _safe(
            "_pos_stk_push",
            phone_number=phone_number,
            amount=amount,
            order_reference=order_reference,
            payment_method_id=payment_method_id,
            pos_config_id=pos_config_id,
            order_uuid=order_uuid,
        )

    @http.route("/mpesa/check_status", type="jsonrpc", auth="user", methods=["POST"])
    def check_status(self, checkout_request_id=None, pos_config_id=None, order_uuid=None, **_ignored):
        """Status of an STK push for the till that sent it: from the database, with a rate-limited
        STK query while pending. A success is claimed for the order the push was sent for."""
        return _safe(
            "_pos_check_status",
            checkout_request_id=checkout_request_id,
            pos_config_id=pos_config_id,
            order_uuid=order_uuid,
        )

    @http.route("/mpesa/cancel_stk", type="jsonrpc", auth="user", methods=["POST"])
    def cancel_stk(self, checkout_request_id=None, pos_config_id=None, order_uuid=None, **_ignored):
        """The till gave up waiting: a later success becomes matchable through the C2B search.
        A success that arrived meanwhile is answered "completed" and stays the till's."""
        return _safe(
            "_pos_cancel_stk",
            checkout_request_id=checkout_request_id,
            pos_config_id=pos_config_id,
            order_uuid=order_uuid,
        )

    @http.route("/mpesa/search_unreconciled_callbacks", type="jsonrpc", auth="user", methods=["POST"])
    def search_unreconciled_callbacks(
        self,
        amount=None,
        max_age_minutes=None,
        payment_method_id=None,
        pos_config_id=None,
        query=None,
        **_ignored,
    ):
        """Successful, unclaimed payments of exactly this amount (absent: any amount) received within
        the window, narrowed by ``query`` (a payer's name, phone digits); a receipt code in ``query``
        finds that payment whenever it came, and asks M-Pesa when it never reached us (``lookup_id``)."""
        return _safe(
            "_pos_search_claimable",
            amount=amount,
            max_age_minutes=max_age_minutes,
            payment_method_id=payment_method_id,
            pos_config_id=pos_config_id,
            query=query,
        )

    @http.route("/mpesa/lookup_status", type="jsonrpc", auth="user", methods=["POST"])
    def lookup_status(self, lookup_id=None, payment_method_id=None, pos_config_id=None, **_ignored):
        """M-Pesa's answer to a receipt lookup the search started; the payment, when it is claimable."""
        return _safe(
            "_pos_lookup_status",
            lookup_id=lookup_id,
            payment_method_id=payment_method_id,
            pos_config_id=pos_config_id,
        )

    @http.route("/mpesa/reconcile_callback", type="jsonrpc", auth="user", methods=["POST"])
    def reconcile_callback(
        self, callback_id=None, order_id=None, payment_method_id=None, pos_config_id=None, **_ignored
    ):
        """Claim a payment for an order, atomically: a payment goes to one order only."""
        return _safe(
            "_pos_claim",
            callback_id=callback_id,
            order_id=order_id,
            payment_method_id=payment_method_id,
            pos_config_id=pos_config_id,
        )

    @http.route("/mpesa/reconcile_callbacks", type="jsonrpc", auth="user", methods=["POST"])
    def reconcile_callbacks(
        self,
        callback_ids=None,
        amount=None,
        order_id=None,
        payment_method_id=None,
        pos_config_id=None,
        **_ignored,
    ):
        """Several payments for one order, summing to ``amount`` exactly: all claimed, or none."""
        return _safe(
            "_pos_claim_several",
            callback_ids=callback_ids,
            amount=amount,
            order_id=order_id,
            payment_method_id=payment_method_id,
            pos_config_id=pos_config_id,
        )

    @http.route("/mpesa/account_code", type="jsonrpc", auth="user", methods=["POST"])
    def account_code(
        self, amount=None, order_uuid=None, payment_method_id=None, pos_config_id=None, qr=False, **_ignored
    ):
        """A code naming the order (the paybill's account number, or a Dynamic QR's reference, ``qr``):
        its payment of exactly ``amount`` is claimed on arrival (bus MPESA_CODE_PAID)."""
        return _safe(
            "_pos_account_code",
            amount=amount,
            order_uuid=order_uuid,
            payment_method_id=payment_method_id,
            pos_config_id=pos_config_id,
            qr=qr,
        )

    @http.route("/mpesa/account_code_status", type="jsonrpc", auth="user", methods=["POST"])
    def account_code_status(self, code_id=None, pos_config_id=None, **_ignored):
        """waiting, paid (with the payment), mismatch (right code, other amount), cancelled, expired."""
        return _safe("_pos_account_code_status", code_id=code_id, pos_config_id=pos_config_id)

    @http.route("/mpesa/account_code_cancel", type="jsonrpc", auth="user", methods=["POST"])
    def account_code_cancel(self, code_id=None, pos_config_id=None, **_ignored):
        """The till stops waiting; a payment that came meanwhile is answered "paid" and stays the order's."""
        return _safe("_pos_account_code_cancel", code_id=code_id, pos_config_id=pos_config_id)

    @http.route("/mpesa/reverse", type="jsonrpc", auth="user", methods=["POST"])
    def reverse(self, order_id=None, amount=None, pos_config_id=None, refund_order_uuid=None, **_ignored):
        """Send back on M-Pesa the payment of exactly ``amount`` of the refunded order (M-Pesa Refunds
        group only); the result comes by bus (MPESA_REVERSAL_RESULT) or /mpesa/reversal_status."""
        return _safe(
            "_pos_reverse",
            order_id=order_id,
            amount=amount,
            pos_config_id=pos_config_id,
            refund_order_uuid=refund_order_uuid,
        )

    @http.route("/mpesa/reversal_status", type="jsonrpc", auth="user", methods=["POST"])
    def reversal_status(self, reversal_id=None, pos_config_id=None, **_ignored):
        """Where a reversal stands: pending, reversed, already_reversed, refused or timeout."""
        return _safe("_pos_reversal_status", reversal_id=reversal_id, pos_config_id=pos_config_id)

    @http.route("/mpesa/register_c2b_urls", type="jsonrpc", auth="user", methods=["POST"])
    def register_c2b_urls(self, mpesa_config_id=None, force=False, **_ignored):
        """Register the C2B confirmation/validation URLs (settings administrators only)."""
        env = request.env
        if not env.user.has_group("base.group_system"):
            return {
                "success": False,
                "message": env._("Access denied: only settings administrators can register C2B URLs"),
            }
        try:
            if mpesa_config_id is None or mpesa_config_id is False or mpesa_config_id == "":
                config = env.company.mpesa_config_id
            elif isinstance(mpesa_config_id, int) and not isinstance(mpesa_config_id, bool):
                config = env["mpesa.config"].browse(mpesa_config_id).exists()
                if config and config.company_id not in env.user.company_ids:
                    config = env["mpesa.config"]
            else:
                return {"success": False, "message": env._("mpesa_config_id must be an integer")}
            if not config:
                return {"success": False, "message": env._("M-Pesa not configured")}
            return config._register_c2b_urls(force=force is True)
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            raise
        except Exception:
            _logger.exception("C2B URL registration failed")
            return {"success": False, "message": env._("Unexpected server error; please try again.")}
