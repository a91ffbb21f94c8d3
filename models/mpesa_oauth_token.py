"""Daraja's OAuth token, cached in its own row per account and shared by every Odoo worker.

Daraja invalidates the previous token when a new one is issued, so two workers must never refresh
at the same time: the refresh holds a row lock on this account's token row (not on the account,
which an admin may be editing in the same moment) in its own short transaction, committed as soon
as the token is stored, so the token survives even if the caller's transaction rolls back.
"""

import contextlib

from odoo import fields, models
from odoo.sql_db import Cursor

# milliseconds a worker waits for another worker's refresh before giving up
LOCK_TIMEOUT_MS = 15000


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
    own cursor, outside the ORM transaction of the request."""

    def __init__(self, registry, config_id):
        self._registry = registry
        self._config_id = config_id
        self._locked_cr = None  # set while refresh_lock() is held

    def _read(self, cr):
        cr.execute(
            "SELECT access_token, expires_at FROM mpesa_oauth_token WHERE config_id = %s", (self._config_id,)
        )
        row = cr.fetchone()
        if not row or not row[0] or not row[1]:
            return None
        return row[0], float(row[1])

    def get(self):
        if self._locked_cr is not None:
            return self._read(self._locked_cr)
        with self._registry.cursor() as cr:
            return self._read(cr)

    def set(self, token, expires_at):
        if self._locked_cr is not None:
            self._write(self._locked_cr, token, expires_at)
            return
        with self._registry.cursor() as cr:
            self._write(cr, token, expires_at)

    def _write(self, cr, token, expires_at):
        cr.execute(
            """INSERT INTO mpesa_oauth_token (config_id, access_token, expires_at) VALUES (%s, %s, %s)
               ON CONFLICT (config_id) DO UPDATE SET access_token = EXCLUDED.access_token,
                                                     expires_at = EXCLUDED.expires_at""",
            (self._config_id, token, expires_at),
        )

    @contextlib.contextmanager
    def refresh_lock(self):
        with self._registry.cursor() as cr:
            # READ COMMITTED: after waiting for another worker's refresh, read the token it stored
            # (REPEATABLE READ would fail to serialize there); SET LOCAL lasts for this transaction
            if isinstance(cr, Cursor):  # a test's cursor shares the test transaction: leave it
                cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            cr.execute("SET LOCAL lock_timeout = %s", (LOCK_TIMEOUT_MS,))
            cr.execute(
                "INSERT INTO mpesa_oauth_token (config_id) VALUES (%s) ON CONFLICT (config_id) DO NOTHING",
                (self._config_id,),
            )
            cr.execute(
                "SELECT id FROM mpesa_oauth_token WHERE config_id = %s FOR NO KEY UPDATE", (self._config_id,)
            )
            self._locked_cr = cr
            try:
                yield
            finally:
                self._locked_cr = None
            # leaving the `with` commits the token and releases the lock
