"""Safaricom-facing routes: JSON in, {"ResultCode": 0, "ResultDesc": "Accepted"} out.

Daraja signs nothing (docs/daraja.md, "Callback security"): the URLs we give Safaricom carry the account's
secret token (masked in the server log, see request_log.py). Here: read the body once, find which
account authenticated the request, parse it, and hand it to its domain (mpesa_stk.py, mpesa_c2b.py;
the results of receipt lookups and reversals: mpesa_daraja_request.py).
Authenticated requests are stored before they are acknowledged, even unreadable ones; requests
nobody authenticated are only counted (mpesa.rejected.request), so a flood costs almost nothing.
The tills are told after the answer was written (_answer): Safaricom waits for the answer only.
"""

import logging

from odoo import SUPERUSER_ID, api, http
from odoo.exceptions import ConcurrencyError
from odoo.http import request
from odoo.modules.registry import Registry
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from werkzeug.exceptions import RequestEntityTooLarge

from ..daraja import (
    CallbackParseError,
    StkCallback,
    detect_callback_kind,
    load_callback_body,
    parse_callback,
)
from ..models.mpesa_callback import BUS_AFTER_ANSWER
from .request_log import mask_secrets

_logger = logging.getLogger(__name__)

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
RAW_MAX_BYTES = 64 * 1024  # the most of a body we store; larger ones are refused (413)
READ_LIMIT_BYTES = 1024 * 1024  # a body larger than this is not even read
BODY_KEY = "pos_mpesa.body"  # the body, read once: Odoo may run the route again after a conflict
# no route max_content_length: werkzeug would answer 413 before this controller runs, leaving no trace
RESULT_KINDS = ("result", "timeout")  # a result is stored as it came: its domain reads it
ROUTE = {"type": "http", "auth": "public", "methods": ["POST"], "csrf": False, "save_session": False}


class Refused(Exception):
    """The request is answered with an error: kept as an invalid row when an account authenticated it
    (``config``), else only counted as a rejected request."""

    def __init__(self, reason, status, config=None, callback_type="unknown"):
        super().__init__(reason)
        self.reason, self.status, self.config, self.callback_type = reason, status, config, callback_type


class MpesaCallbackController(http.Controller):
    @http.route("/mpesa/callback", **ROUTE)
    def public_callback(self, **_query):
        """The public route /mpesa/callback (STK or C2B, detected). A production account requires the token
        (``?token=`` or header ``X-Callback-Token``) or an allowed source IP."""
        return self._handle(kind=None, token=None)

    @http.route("/pos_lipa/cb/<string:token>/stk", **ROUTE)
    def stk_callback(self, token, **_query):
        return self._handle("stk", token)

    @http.route("/pos_lipa/cb/<string:token>/c2b/confirm", **ROUTE)
    def c2b_confirmation(self, token, **_query):
        return self._handle("c2b_confirmation", token)

    @http.route("/pos_lipa/cb/<string:token>/c2b/validate", **ROUTE)
    def c2b_validation(self, token, **_query):
        return self._handle("c2b_validation", token)

    @http.route("/pos_lipa/cb/<string:token>/result", **ROUTE)
    def daraja_result(self, token, **_query):
        """The Result of a Transaction Status or Reversal request."""
        return self._handle("result", token)

    @http.route("/pos_lipa/cb/<string:token>/timeout", **ROUTE)
    def daraja_queue_timeout(self, token, **_query):
        """A Transaction Status or Reversal request waited too long in Daraja's queue."""
        return self._handle("timeout", token)

    # ------------------------------------------------------------------ one request

    def _handle(self, kind, token):
        return self._answer(self._process(kind, token))

    def _process(self, kind, token):
        Callback = request.env["mpesa.callback"].sudo().with_context(**self._bus_context())
        httprequest = request.httprequest
        remote_addr = httprequest.remote_addr
        body, too_large = self._read_body()
        text = body.decode("utf-8", "replace")
        source = "token_url" if token is not None else "public_url"
        config = None
        try:
            if token is not None:
                config = request.env["mpesa.config"].sudo()._from_callback_token(token)
                if not config:
                    raise Refused("Unknown callback token", 403)
            if too_large:
                raise Refused(f"Payload larger than {RAW_MAX_BYTES // 1024} KiB", 413, config)
            if kind in RESULT_KINDS:
                if not body.strip():
                    raise Refused("Empty body", 400, config)
                with request.env.cr.savepoint():
                    Requests = request.env["mpesa.daraja.request"].sudo().with_context(**self._bus_context())
                    Requests._on_result(config, text, kind == "timeout", remote_addr)
                return self._reply(ACCEPTED)
            kind, parsed = self._parse(body, kind, config)
            if token is None:
                config = self._public_account(parsed)
            with request.env.cr.savepoint():
                if kind == "c2b_validation":
                    return self._reply(Callback._c2b_validate(parsed, text, source, config, remote_addr))
                if isinstance(parsed, StkCallback):
                    Callback._stk_process_callback(parsed, text, source, config, remote_addr)
                else:
                    Callback._c2b_process(parsed, text, source, config, remote_addr)
        except Refused as refusal:
            if refusal.config:
                Callback._store_invalid(
                    text,
                    refusal.reason,
                    refusal.config,
                    source,
                    remote_addr,
                    too_large,
                    refusal.callback_type,
                )
            else:
                first = (
                    request.env["mpesa.rejected.request"]
                    .sudo()
                    ._record(remote_addr, mask_secrets(httprequest.full_path), refusal.reason, body)
                )
                if first:  # once per sender, route, reason and hour: a flood does not flood the log
                    _logger.warning("M-Pesa callback refused (%s) from %s", refusal.reason, remote_addr)
            return self._reply({"ResultCode": 1, "ResultDesc": refusal.reason}, status=refusal.status)
        except (ConcurrencyError, *PG_CONCURRENCY_EXCEPTIONS_TO_RETRY):
            raise  # Odoo runs the request again in a fresh transaction
        except Exception:
            # our own bug must not lose Safaricom's only delivery: keep it for a human
            _logger.exception("M-Pesa callback processing failed; stored for review")
            request.env.cr.postcommit.data.pop(BUS_AFTER_ANSWER, None)  # rolled back with the savepoint
            Callback._store_invalid(
                text, "Processing error (see server log)", config, source, remote_addr, status="needs_review"
            )
        return self._reply(ACCEPTED)

    # ------------------------------------------------------------------ the tills, after the answer

    @staticmethod
    def _bus_context():
        """The till messages of this request wait for the answer (_answer)."""
        return {BUS_AFTER_ANSWER: True}

    @staticmethod
    def _answer(response):
        """Send the till messages queued by this request (mpesa.callback._bus_later) once the answer
        was written to Safaricom: the bus costs a new PostgreSQL connection, which Safaricom need
        not wait for. werkzeug closes only the response it sent, and Odoo sends it only after the
        transaction committed (a retried attempt's response is dropped unsent). A message lost
        because the worker died in between is made up for by the till's own status polling and
        the C2B search."""
        queued = request.env.cr.postcommit.data.get(BUS_AFTER_ANSWER)
        if not queued:
            return response
        dbname = request.env.cr.dbname

        def send():
            try:
                with Registry(dbname).cursor() as cr:
                    api.Environment(cr, SUPERUSER_ID, {})["mpesa.callback"]._bus_send_queued(queued)
            except Exception:
                _logger.exception("M-Pesa: the tills were not told of a stored payment (they poll)")

        response.call_on_close(send)
        return response

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _reply(body, status=200):
        return request.make_json_response(body, status=status)

    @staticmethod
    def _read_body():
        """At most RAW_MAX_BYTES of the body, read once per request; (bytes, too_large)."""
        environ = request.httprequest.environ
        if BODY_KEY not in environ:
            httprequest = request.httprequest
            if (httprequest.content_length or 0) > READ_LIMIT_BYTES:
                environ[BODY_KEY] = (b"", True)  # not even read
            else:
                try:
                    data = httprequest.get_data(cache=True)  # a chunked body: Odoo's own limit applies
                    environ[BODY_KEY] = (data[:RAW_MAX_BYTES], len(data) > RAW_MAX_BYTES)
                except RequestEntityTooLarge:
                    environ[BODY_KEY] = (b"", True)
        return environ[BODY_KEY]

    @staticmethod
    def _parse(body, kind, config):
        """(kind, parsed callback); Refused (kept as an invalid row when authenticated) otherwise."""
        if not body.strip():
            raise Refused("Empty body", 400, config)
        try:
            payload = load_callback_body(body)
        except CallbackParseError as error:
            raise Refused(getattr(error, "message", None) or str(error), 400, config) from None
        if kind is None:
            # the public route takes STK callbacks and C2B confirmations; validation has its own URL
            kind = detect_callback_kind(payload)
            if kind == "c2b_validation":
                kind = "c2b_confirmation"
            if kind not in ("stk", "c2b_confirmation"):
                raise Refused("Neither an STK callback nor a C2B notification", 400, config)
        callback_type = "stk" if kind == "stk" else "c2b"
        try:
            return kind, parse_callback(payload, kind)
        except CallbackParseError as error:
            raise Refused(getattr(error, "message", None) or str(error), 400, config, callback_type) from None
        except Exception:
            _logger.exception("M-Pesa callback parser failed")
            raise Refused("Unreadable callback", 400, config, callback_type) from None

    @staticmethod
    def _public_account(parsed):
        """The account an unauthenticated-by-URL request lands on: the one whose token it carries
        (query or header), else one allowing its source IP, else (test accounts only) by shortcode.
        Never a sibling of the account it names: that is how forged money would get in."""
        Config = request.env["mpesa.config"].sudo()
        Callback = request.env["mpesa.callback"].sudo()
        httprequest = request.httprequest
        provided = httprequest.args.get("token") or httprequest.headers.get("X-Callback-Token")
        if provided:
            config = Config._from_callback_token(provided)
            if not config:
                raise Refused("Unknown callback token", 403)
            return config
        remote_addr = httprequest.remote_addr
        if isinstance(parsed, StkCallback):
            row = Callback.search([("checkout_request_id", "=", parsed.checkout_request_id)], limit=1)
            account = row.config_id if row else Callback._c2b_public_account(None)[0]
            if not account:
                raise Refused("Rejected: no account takes unauthenticated requests", 403)
            if account.environment == "production" and not account._is_ip_allowed(remote_addr):
                # the CallBackURL we send carries the token: without it, this is not Safaricom
                raise Refused("Rejected: unauthenticated request for a production account", 403)
            return account
        accounts = Callback._c2b_accounts_for_shortcode(parsed.business_short_code)
        allowed = accounts.filtered(lambda c: c._is_ip_allowed(remote_addr))
        if allowed:
            return allowed[:1]
        account, refused = Callback._c2b_public_account(parsed.business_short_code)
        if refused:
            raise Refused("Rejected: unauthenticated request for a production account", 403)
        if not account:
            raise Refused("Rejected: no account takes unauthenticated requests", 403)
        return account
