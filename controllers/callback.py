"""Safaricom-facing routes: JSON in, {"ResultCode": 0, "ResultDesc": "Accepted"} out.

Daraja signs nothing (daraja-reference.md §8): the URLs we give Safaricom carry the account's
secret token, and every request is stored before it is acknowledged — even unreadable ones.
"""

import hmac
import json
import logging
import re

from odoo import http
from odoo.http import request
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY

from ..daraja import CallbackParseError, StkCallback, detect_callback_kind, parse_callback

_logger = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"^[0-9a-f]{16,128}$")
ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
RAW_MAX_BYTES = 64 * 1024  # the most of a body we store (raw_payload); larger ones are refused
READ_LIMIT_BYTES = 1024 * 1024  # a body announced larger than this is not even read


class MpesaCallbackController(http.Controller):
    @http.route(
        "/mpesa/callback", type="http", auth="public", methods=["POST"], csrf=False, save_session=False
    )
    def public_callback(self, **_query):
        """The brief's public route (STK or C2B, detected). Production accounts require the token
        (``?token=`` or header ``X-Callback-Token``) or an allowed source IP."""
        return self._handle(kind=None, config=None, source="public_url")

    @http.route(
        "/pos_lipa/cb/<string:token>/stk",
        type="http",
        auth="public",
        methods=["POST"],
        csrf=False,
        save_session=False,
    )
    def stk_callback(self, token, **_query):
        return self._handle_token(token, "stk")

    @http.route(
        "/pos_lipa/cb/<string:token>/c2b/confirm",
        type="http",
        auth="public",
        methods=["POST"],
        csrf=False,
        save_session=False,
    )
    def c2b_confirmation(self, token, **_query):
        return self._handle_token(token, "c2b_confirmation")

    @http.route(
        "/pos_lipa/cb/<string:token>/c2b/validate",
        type="http",
        auth="public",
        methods=["POST"],
        csrf=False,
        save_session=False,
    )
    def c2b_validation(self, token, **_query):
        return self._handle_token(token, "c2b_validation")

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _find_config_by_token(token):
        """Constant-time comparison against every account's token (there are few accounts)."""
        if not isinstance(token, str):
            return None
        found = None
        configs = request.env["mpesa.config"].sudo().with_context(active_test=False).search([])
        for config in configs:
            expected = config.callback_token or ""
            if expected and hmac.compare_digest(expected.encode(), token.encode()):
                found = config
        return found if found and found.active else None

    @staticmethod
    def _reply(body, status=200):
        return request.make_json_response(body, status=status)

    @staticmethod
    def _read_body():
        """At most RAW_MAX_BYTES of the body; (bytes, truncated). A body over 1 MiB is not even read."""
        httprequest = request.httprequest
        if (httprequest.content_length or 0) > READ_LIMIT_BYTES:
            return b"", True
        data = httprequest.get_data(cache=True)
        return data[:RAW_MAX_BYTES], len(data) > RAW_MAX_BYTES

    def _handle_token(self, token, kind):
        config = self._find_config_by_token(token) if TOKEN_RE.match(token or "") else None
        if not config:
            raw, truncated = self._read_body()
            request.env["mpesa.callback"].sudo()._store_invalid(
                raw.decode("utf-8", "replace"),
                "Unknown callback token",
                None,
                "token_url",
                request.httprequest.remote_addr,
                truncated,
            )
            _logger.warning("M-Pesa callback with an unknown token from %s", request.httprequest.remote_addr)
            return self._reply({"ResultCode": 1, "ResultDesc": "Rejected: unknown URL"}, status=403)
        return self._handle(kind=kind, config=config, source="token_url")

    def _public_authenticated(self, config):
        provided = (
            request.httprequest.args.get("token") or request.httprequest.headers.get("X-Callback-Token") or ""
        )
        expected = config.callback_token or ""
        if provided and expected and hmac.compare_digest(provided.encode(), expected.encode()):
            return True
        return config._is_ip_allowed(request.httprequest.remote_addr)

    def _handle(self, kind, config, source):
        Callback = request.env["mpesa.callback"].sudo()
        remote_addr = request.httprequest.remote_addr
        raw, truncated = self._read_body()
        text = raw.decode("utf-8", "replace")

        def refuse(reason, status, cfg=config, ctype="unknown"):
            Callback._store_invalid(text, reason, cfg, source, remote_addr, truncated, callback_type=ctype)
            return self._reply({"ResultCode": 1, "ResultDesc": reason}, status=status)

        if truncated:
            return refuse(f"Payload larger than {RAW_MAX_BYTES // 1024} KiB", 413)
        if not raw.strip():
            return refuse("Empty body", 400)
        try:
            payload = json.loads(raw)
        except ValueError:
            return refuse("Malformed JSON", 400)
        if not isinstance(payload, dict):
            return refuse("Expected a JSON object", 400)
        if kind is None:
            # the public route takes STK callbacks and C2B confirmations; validation has its own URL
            kind = detect_callback_kind(payload)
            if kind == "c2b_validation":
                kind = "c2b_confirmation"
        if kind not in ("stk", "c2b_confirmation", "c2b_validation"):
            return refuse("Neither an STK callback nor a C2B notification", 400)
        ctype = "stk" if kind == "stk" else "c2b"
        try:
            parsed = parse_callback(payload, kind)
        except CallbackParseError as error:
            return refuse(getattr(error, "message", None) or str(error), 400, ctype=ctype)

        if source == "public_url":
            if isinstance(parsed, StkCallback):
                row = Callback.search([("checkout_request_id", "=", parsed.checkout_request_id)], limit=1)
                account = row.config_id
            else:
                account = Callback._config_for_shortcode(parsed.business_short_code)
            if account and account.environment == "production" and not self._public_authenticated(account):
                _logger.warning(
                    "Unauthenticated M-Pesa callback for a production account from %s", remote_addr
                )
                return refuse(
                    "Rejected: unauthenticated request for a production account", 403, account, ctype
                )
            config = None  # processing finds the account from our own records

        try:
            with request.env.cr.savepoint():
                if kind == "c2b_validation":
                    answer = Callback._c2b_validation_answer(
                        parsed, config or Callback._config_for_shortcode(parsed.business_short_code)
                    )
                    row = Callback._process_c2b(parsed, text, source, config=config, remote_addr=remote_addr)
                    if str(answer["ResultCode"]) != "0" and row.status == "pending":
                        row.write(
                            {
                                "status": "failed",
                                "result_code": answer["ResultCode"],
                                "review_reason": "Rejected at validation",
                            }
                        )
                    return self._reply(answer)
                if isinstance(parsed, StkCallback):
                    Callback._process_stk(parsed, text, source, config=config, remote_addr=remote_addr)
                else:
                    Callback._process_c2b(parsed, text, source, config=config, remote_addr=remote_addr)
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            raise
        except Exception:
            # our own bug must not lose Safaricom's only delivery: keep it for a human
            _logger.exception("M-Pesa callback processing failed; stored for review")
            row = Callback._store_invalid(
                text, "Processing error (see server log)", config, source, remote_addr, callback_type=ctype
            )
            row.write({"status": "needs_review"})
        return self._reply(ACCEPTED)
