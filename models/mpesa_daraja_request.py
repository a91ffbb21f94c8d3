"""Daraja's asynchronous requests (Transaction Status, Reversal) and their results.

Daraja acknowledges such a request at once and POSTs its Result later to the ResultURL we gave it, or a
notice to the QueueTimeOutURL when the request waited too long in its queue (docs/daraja.md, "APIs for
records and refunds"). Both URLs carry the account's callback token (controllers/callback.py).

Here: one row per request, written in its own committed transaction around the call to Daraja (a
result may come back before the till's request ends); every result stored on its request before it is
acknowledged; a result nobody asked for kept as a row of its own; a second result counted, never
applied twice. What a result means is decided by its domain: mpesa_lookup.py (receipt lookup) and
mpesa_reversal.py (refunds by Reversal).
"""

import json
import logging

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, mute_logger

from ..daraja import CallbackParseError, DarajaError, DarajaTransportError
from ..daraja.records import parse_async_result
from .mpesa_utils import check_manager, db_text

_logger = logging.getLogger(__name__)

KINDS = [("status", "Receipt Lookup"), ("reversal", "Reversal")]
STATES = [
    ("sending", "Sending"),
    ("sent", "Waiting for M-Pesa"),
    ("done", "Answered"),
    ("timeout", "Timed Out in M-Pesa's Queue"),
    ("not_sent", "Not Sent"),
    ("unmatched", "Result Nobody Asked For"),
    ("closed", "Closed by a Manager"),
]
# the note of a result row nobody asked for that came to the QueueTimeOutURL (read when its request adopts it)
TIMEOUT_NOTICE = "Queue timeout notice"
# a reversal that may still move the money, or did: at most one per payment (_reversal_live_uniq)
LIVE_REVERSAL_SQL = (
    "kind = 'reversal' AND (state IN ('sending', 'sent') OR outcome IN ('reversed', 'already_reversed'))"
)


class MpesaDarajaRequest(models.Model):
    _name = "mpesa.daraja.request"
    _description = "M-Pesa Status or Reversal Request"
    _order = "id desc"
    _rec_name = "display_name"

    kind = fields.Selection(KINDS, readonly=True, index=True)
    state = fields.Selection(STATES, required=True, default="sending", readonly=True, index=True)
    outcome = fields.Selection(
        [
            ("found", "Payment Found"),
            ("not_ours", "Paid to Another Shortcode"),
            ("not_found", "No Such Receipt"),
            ("reversed", "Reversed"),
            ("already_reversed", "Already Reversed"),
            ("invalid_original", "Not a Reversible Payment"),
            ("refused", "Refused by M-Pesa"),
        ],
        readonly=True,
    )
    config_id = fields.Many2one("mpesa.config", string="M-Pesa Account", readonly=True, index=True)
    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, default=lambda self: self.env.company
    )
    receipt = fields.Char(string="Receipt Asked About", readonly=True, index="btree_not_null")
    currency_id = fields.Many2one(
        "res.currency", required=True, readonly=True, default=lambda self: self.env.ref("base.KES")
    )
    amount = fields.Monetary(readonly=True, currency_field="currency_id")
    callback_id = fields.Many2one(
        "mpesa.callback",
        string="M-Pesa Payment",
        readonly=True,
        index="btree_not_null",
        help="The payment reversed, or the payment the lookup found or stored.",
    )
    conversation_id = fields.Char(string="ConversationID", readonly=True)
    originator_conversation_id = fields.Char(string="OriginatorConversationID", readonly=True)
    result_code = fields.Char(readonly=True)
    result_desc = fields.Char(string="M-Pesa's Answer", readonly=True)
    result_receipt = fields.Char(readonly=True, help="The receipt of the reversal M-Pesa made.")
    result_payload = fields.Text(readonly=True, help="What M-Pesa posted, stored before it was acknowledged.")
    result_date = fields.Datetime(string="Answered On", readonly=True)
    remote_addr = fields.Char(string="Source IP", readonly=True)
    duplicate_count = fields.Integer(string="Results Received Again", readonly=True)
    note = fields.Char(readonly=True)
    user_id = fields.Many2one("res.users", string="Requested By", readonly=True)
    pos_config_id = fields.Many2one("pos.config", string="Point of Sale", readonly=True)
    pos_order_id = fields.Many2one("pos.order", string="Order Refunded", readonly=True)
    refund_order_key = fields.Char(readonly=True, help="The refund order (its uuid) the reversal pays back.")

    _originator_uniq = models.UniqueIndex(
        "(originator_conversation_id) WHERE originator_conversation_id IS NOT NULL AND state != 'unmatched'",
        "This OriginatorConversationID is already a request.",
    )
    _reversal_live_uniq = models.UniqueIndex(
        f"(callback_id) WHERE {LIVE_REVERSAL_SQL}",
        "This M-Pesa payment is already being reversed, or was reversed.",
    )

    @api.depends("kind", "receipt", "state")
    def _compute_display_name(self):
        labels = dict(self._fields["kind"]._description_selection(self.env))
        for request in self:
            request.display_name = " ".join(
                part for part in (labels.get(request.kind) or self.env._("Result"), request.receipt) if part
            )

    def action_close(self):
        """A request M-Pesa never answered (no acknowledgement, no result): a manager who checked the
        payment on the M-PESA portal closes it, so that the payment can be reversed again."""
        check_manager(self.env, self.env._("Only Point of Sale managers can close an M-Pesa request."))
        if any(request.state not in ("sending", "sent") for request in self):
            raise UserError(self.env._("Only a request still waiting for M-Pesa can be closed."))
        self.sudo().write(
            {"state": "closed", "note": self.env._("Closed by %(user)s", user=self.env.user.name)}
        )
        # a payment held for its reversal is unclaimed again (mpesa_reversal.py, _on_close_reversal)
        for request in self.sudo():
            request._dispatch("_on_close")
        return True

    # ================================================================== sending

    @api.model
    def _send(self, config, vals, call):
        """Reserve the row (committed: the unique indexes decide here), ``call(client)`` Daraja, then
        record its acknowledgement, each step in its own transaction. Returns the row's id: this
        transaction's snapshot may be older than that row, so the caller answers without reading it.
        A DarajaError is raised after marking the row "not sent" (or, when the request may have
        reached Daraja, left waiting)."""
        vals = {"config_id": config.id, "company_id": config.company_id.id, "user_id": self.env.uid, **vals}
        # a unique index refusing the row is an expected answer (a payment already being reversed)
        with self.env.registry.cursor() as cr, mute_logger("odoo.sql_db"):
            request_id = self.env(cr=cr, su=True)[self._name].create(vals).id
        try:
            ack = call(config._get_daraja_client())
        except DarajaError as error:
            ambiguous = isinstance(error, DarajaTransportError) and error.ambiguous
            self._write_committed(
                request_id,
                {
                    "state": "sent" if ambiguous else "not_sent",
                    "note": (
                        "No acknowledgement from M-Pesa: the request may have been received"
                        if ambiguous
                        else error.message[:250]
                    ),
                },
            )
            raise
        with self.env.registry.cursor() as cr:
            self.env(cr=cr, su=True)[self._name].browse(request_id)._acknowledged(ack)
        return request_id

    def _write_committed(self, request_id, vals):
        with self.env.registry.cursor() as cr:
            self.env(cr=cr, su=True)[self._name].browse(request_id).write(vals)

    def _acknowledged(self, ack):
        """Daraja took the request. A result faster than our commit was kept unmatched: adopt it."""
        self.write(
            {
                "state": "sent",
                "conversation_id": ack.conversation_id or False,
                "originator_conversation_id": ack.originator_conversation_id or False,
            }
        )
        early = self.search(
            [
                ("state", "=", "unmatched"),
                ("config_id", "=", self.config_id.id),
                ("originator_conversation_id", "=", ack.originator_conversation_id or "-"),
            ],
            order="id",
        )
        for orphan in early:
            self._apply(orphan.result_payload, orphan.note == TIMEOUT_NOTICE, orphan.remote_addr)
            orphan.unlink()

    # ================================================================== results

    @api.model
    def _on_result(self, config, raw_text, timed_out, remote_addr=None):
        """A Result (or, ``timed_out``, a queue-timeout notice) posted to ``config``'s URL. Stored before
        the controller acknowledges it; returns the row that holds it."""
        ids = _conversation_ids(raw_text)
        request = self._find_request(config, ids, raw_text)
        if not request:
            return self.sudo().create(
                {
                    "state": "unmatched",
                    "config_id": config.id,
                    "company_id": config.company_id.id,
                    "originator_conversation_id": ids[0] or False,
                    "conversation_id": ids[1] or False,
                    "result_payload": db_text(raw_text),
                    "remote_addr": remote_addr,
                    "note": TIMEOUT_NOTICE if timed_out else False,
                    "result_date": fields.Datetime.now(),
                }
            )
        request._apply(raw_text, timed_out, remote_addr)
        return request

    def _find_request(self, config, ids, raw_text):
        """The request this result answers, locked; empty when we never sent it."""
        originator, conversation = ids
        # Daraja's own id of our request names it; the ConversationID only when it is absent
        if originator:
            clauses = [SQL("originator_conversation_id = %s", originator)]
        else:
            clauses = [SQL("conversation_id = %s", conversation)] if conversation else []
        original = _original_receipt(raw_text)
        if original:
            # a reversal whose acknowledgement was lost has no ids yet: its receipt names it
            clauses.append(
                SQL(
                    "(kind = 'reversal' AND state = 'sent' AND originator_conversation_id IS NULL"
                    " AND receipt = %s)",
                    original,
                )
            )
        if not clauses:
            return self.browse()
        self.flush_model()
        self.env.cr.execute(
            SQL(
                "SELECT id FROM mpesa_daraja_request WHERE config_id = %s AND state != 'unmatched' AND (%s)"
                " ORDER BY id LIMIT 1 FOR UPDATE",
                config.id,
                SQL(" OR ").join(clauses),
            )
        )
        return self.sudo().browse([row_id for (row_id,) in self.env.cr.fetchall()])

    def _apply(self, raw_text, timed_out, remote_addr=None):
        """Record a result on this request, once: a second one is only counted."""
        self.ensure_one()
        if self.state == "done" or (self.state == "timeout" and timed_out):
            self.write({"duplicate_count": self.duplicate_count + 1})
            return
        vals = {"result_payload": db_text(raw_text), "result_date": fields.Datetime.now()}
        if remote_addr:
            vals["remote_addr"] = remote_addr
        if timed_out:
            self.write({**vals, "state": "timeout", "result_desc": "Timed out in M-Pesa's queue"})
            self._dispatch("_on_timeout")
            return
        try:
            result = parse_async_result(raw_text)
        except CallbackParseError as error:
            self.write({**vals, "note": f"Unreadable result: {error.message}"[:250]})
            return  # stays waiting: a readable result (or the till's check) may still come
        self.write(
            {
                **vals,
                "state": "done",
                "result_code": result.code,
                "result_desc": result.description[:250] or False,
                "result_receipt": result.transaction_id or False,
                "conversation_id": self.conversation_id or result.conversation_id or False,
                "originator_conversation_id": (
                    self.originator_conversation_id or result.originator_conversation_id or False
                ),
            }
        )
        self._dispatch("_on_result_of", result)

    def _dispatch(self, prefix, *args):
        """``_on_timeout_status``, ``_on_result_of_reversal``...: the domain of this kind decides."""
        handler = getattr(self, f"{prefix}_{self.kind}", None)
        if handler:
            handler(*args)


def _conversation_ids(raw_text):
    """(OriginatorConversationID, ConversationID) of a result or a timeout notice, "" when absent."""
    try:
        data = json.loads(raw_text)
    except ValueError:
        return "", ""
    if isinstance(data, dict) and isinstance(data.get("Result"), dict):
        data = data["Result"]
    if not isinstance(data, dict):
        return "", ""

    def text(key):
        value = data.get(key)
        return value.strip()[:100] if isinstance(value, str) else ""

    return text("OriginatorConversationID"), text("ConversationID")


def _original_receipt(raw_text):
    """The OriginalTransactionID a reversal result names, "" when it names none."""
    try:
        result = parse_async_result(raw_text)
    except CallbackParseError:
        return ""
    return result.parameter("OriginalTransactionID").upper()
