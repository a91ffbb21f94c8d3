"""Requests to the callback routes that nobody authenticated: evidence kept, cost bounded.

A wrong token, junk on the public route or an unauthenticated request for a production account is
not Safaricom talking to us, so it is neither a payment nor work for the review queue. Each is
counted in one row per (source address, route, reason, hour) with the first body's excerpt and
digest, so a flood costs at most a few hundred bytes per sender and hour, never 64 KiB a request.
Authenticated requests we cannot use are kept whole in mpesa.callback (status Invalid).
"""

import hashlib

from odoo import api, fields, models

from .mpesa_utils import db_text

SAMPLE_BYTES = 512
KEEP_DAYS = 90


class MpesaRejectedRequest(models.Model):
    _name = "mpesa.rejected.request"
    _description = "Rejected M-Pesa Callback Request"
    _order = "last_seen desc, id desc"
    _log_access = False

    remote_addr = fields.Char(string="Source IP", readonly=True)
    route = fields.Char(readonly=True, help="The path, its secret token masked.")
    reason = fields.Char(readonly=True)
    hour = fields.Datetime(readonly=True, help="The hour these requests arrived in (UTC).")
    count = fields.Integer(readonly=True)
    first_seen = fields.Datetime(readonly=True)
    last_seen = fields.Datetime(readonly=True)
    body_bytes = fields.Integer(string="First Body Size", readonly=True)
    body_sha256 = fields.Char(string="First Body SHA-256", readonly=True)
    body_sample = fields.Text(string="First Body (start)", readonly=True)

    _bucket_uniq = models.UniqueIndex(
        "(hour, reason, route, COALESCE(remote_addr, ''))", "One row per sender, route, reason and hour."
    )

    @api.model
    def _record(self, remote_addr, route, reason, body):
        """Count one rejected request (an upsert: concurrent floods never collide). True for the
        first of its sender, route, reason and hour."""
        sample = db_text(body[:SAMPLE_BYTES].decode("utf-8", "replace"))
        self.env.cr.execute(
            """INSERT INTO mpesa_rejected_request
                      (remote_addr, route, reason, hour, count, first_seen, last_seen,
                       body_bytes, body_sha256, body_sample)
               VALUES (%s, %s, %s, date_trunc('hour', now() at time zone 'UTC'), 1,
                       now() at time zone 'UTC', now() at time zone 'UTC', %s, %s, %s)
               ON CONFLICT (hour, reason, route, COALESCE(remote_addr, ''))
               DO UPDATE SET count = mpesa_rejected_request.count + 1, last_seen = EXCLUDED.last_seen
               RETURNING count""",
            (remote_addr, route[:200], reason[:200], len(body), hashlib.sha256(body).hexdigest(), sample),
        )
        return self.env.cr.fetchone()[0] == 1

    @api.autovacuum
    def _gc_old_rejections(self):
        self.env.cr.execute(
            "DELETE FROM mpesa_rejected_request "
            "WHERE hour < now() at time zone 'UTC' - %s * interval '1 day'",
            (KEEP_DAYS,),
        )
