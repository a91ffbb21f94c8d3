"""Where the OAuth token lives between calls.

Daraja invalidates the previous token when a new one is issued, so every process that shares an
account must share the token and refresh it one at a time (refresh_lock). Odoo stores it in the
database; MemoryTokenStore serves a single process.
"""

import threading
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable


@runtime_checkable
class TokenStore(Protocol):
    def get(self) -> tuple[str, float] | None:
        """(token, expires_at as epoch seconds), or None when there is none."""

    def set(self, token: str, expires_at: float) -> None: ...

    def refresh_lock(self) -> AbstractContextManager:
        """Held while refreshing; the client re-reads get() inside it before fetching."""


class MemoryTokenStore:
    def __init__(self):
        self._value = None
        self._value_lock = threading.Lock()
        self._refresh_lock = threading.Lock()

    def get(self):
        with self._value_lock:
            return self._value

    def set(self, token, expires_at):
        with self._value_lock:
            self._value = (token, float(expires_at))

    def refresh_lock(self):
        return self._refresh_lock

    def __repr__(self):
        return f"<MemoryTokenStore {'with' if self._value else 'without'} a token>"
