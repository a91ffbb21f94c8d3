"""Daraja OAuth token cache stored on the mpesa.config row, shared by every Odoo worker.

Daraja invalidates the previous token when a new one is issued, so two workers must never
refresh at the same time: the refresh runs in its own short transaction that holds a row lock
on the account (SELECT ... FOR NO KEY UPDATE) and commits as soon as the token is stored.
A separate cursor keeps the lock short and the token saved even if the caller's transaction
rolls back later.
"""

import contextlib
import logging

_logger = logging.getLogger(__name__)

# seconds a worker waits for another worker's refresh before giving up
LOCK_TIMEOUT_MS = 15000


class DbTokenStore:
    """TokenStore (Contract A) backed by mpesa_config.access_token / access_token_expires_at."""

    def __init__(self, registry, config_id):
        self._registry = registry
        self._config_id = config_id
        self._locked_cr = None  # set while refresh_lock() is held

    def _read(self, cr):
        cr.execute(
            "SELECT access_token, access_token_expires_at FROM mpesa_config WHERE id = %s",
            (self._config_id,),
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
            cr = self._locked_cr
            self._write(cr, token, expires_at)
            return
        with self._registry.cursor() as cr:
            self._write(cr, token, expires_at)

    def _write(self, cr, token, expires_at):
        cr.execute(
            "UPDATE mpesa_config SET access_token = %s, access_token_expires_at = %s WHERE id = %s",
            (token, expires_at, self._config_id),
        )

    @contextlib.contextmanager
    def refresh_lock(self):
        with self._registry.cursor() as cr:
            # SET LOCAL only lasts for this short transaction
            cr.execute("SET LOCAL lock_timeout = %s", (LOCK_TIMEOUT_MS,))
            cr.execute(
                "SELECT id FROM mpesa_config WHERE id = %s FOR NO KEY UPDATE",
                (self._config_id,),
            )
            self._locked_cr = cr
            try:
                yield
            finally:
                self._locked_cr = None
            # leaving the `with` commits the token and releases the lock
