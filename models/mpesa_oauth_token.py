"""Daraja's OAuth token, cached in its own row per account and shared by every Odoo worker.

Daraja invalidates the previous token when a new one is issued, so two workers must never refresh
at the same time: the refresh holds a transaction-level advisory lock per account (not a lock on
the account, which an admin may be editing in the same moment). The token is read and written in
short transactions of their own, each started after the lock was taken: a worker that waited sees
the token the other stored, and a stored token survives even if the caller's transaction rolls back.
"""

import contextlib

from odoo import fields, models

# milliseconds a worker waits for another worker's refresh before giving up
LOCK_TIMEOUT_MS = 15000
# first key of the advisory lock (the second is the account id): any constant unique to this lock
REFRESH_LOCK_KEY = 0x6D70_6573  # "mpes"


class MpesaOauthToken(models.Model):
    _name = "mpesa.oauth.token"
    _description = "M-Pesa OAuth Token Cache"
    _log_access = False

    config_id = fields.Many2one("mpesa.config", required=True, ondelete="cascade", index=True)
    access_token = fields.Char()
    expires_at = fields.Float(help="Unix time the token expires at.")

    _config_uniq = models.Constraint("unique(config_id)", "One token row per M-Pesa account.")


class DbTokenStore:
    """TokenStore (daraja.tokens) backed by mpesa_oauth_token; raw SQL on purpose: it runs in its
    own cursors, outside the ORM transaction of the request."""

    def __init__(self, registry, config_id):
        self._registry = registry
        self._config_id = config_id

    def get(self):
        with self._registry.cursor() as cr:
            cr.execute(
                "SELECT access_token, expires_at FROM mpesa_oauth_token WHERE config_id = %s",
                (self._config_id,),
            )
            row = cr.fetchone()
        if not row or not row[0] or not row[1]:
            return None
        return row[0], float(row[1])

    def set(self, token, expires_at):
        with self._registry.cursor() as cr:
            cr.execute(
                """INSERT INTO mpesa_oauth_token (config_id, access_token, expires_at) VALUES (%s, %s, %s)
                   ON CONFLICT (config_id) DO UPDATE SET access_token = EXCLUDED.access_token,
                                                         expires_at = EXCLUDED.expires_at""",
                (self._config_id, token, expires_at),
            )

    @contextlib.contextmanager
    def refresh_lock(self):
        """One refresh per account at a time, across workers; released when the `with` ends."""
        with self._registry.cursor() as cr:
            cr.execute("SET LOCAL lock_timeout = %s", (LOCK_TIMEOUT_MS,))
            cr.execute("SELECT pg_advisory_xact_lock(%s, %s)", (REFRESH_LOCK_KEY, self._config_id))
            yield
