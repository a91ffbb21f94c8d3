"""The Daraja layer of pos_mpesa: everything said to and read from Safaricom's Daraja API.

Pure Python (requests; cryptography for the SecurityCredential); it imports nothing from Odoo, so
plain pytest can test it. The client (the only part that needs requests) is imported on first use:
the rule tables (urls, results, phone, amounts) serve the standard-library-only simulator too.
"""

from .amounts import MAX_AMOUNT, MIN_AMOUNT, validate_amount
from .api_types import C2BRegisterResponse, StkPushResponse, StkQueryResult
from .callbacks import C2BNotification, StkCallback, detect_callback_kind, load_callback_body, parse_callback
from .config import DarajaConfig
from .environments import BASE_URLS
from .errors import (
    CallbackParseError,
    DarajaAPIError,
    DarajaAuthError,
    DarajaConfigError,
    DarajaError,
    DarajaTransportError,
    DarajaValidationError,
    InvalidAmount,
    InvalidPhoneNumber,
    InvalidUrl,
)
from .config import is_loopback_host
from .phone import normalize_phone
from .urls import BANNED_WORDS
from .results import PaymentStatus, ResultInfo, classify_result, reason_message
from .timeutil import eat_to_utc, nairobi_timestamp
from .tokens import MemoryTokenStore, TokenStore

__all__ = [
    "BANNED_WORDS",
    "BASE_URLS",
    "MAX_AMOUNT",
    "MIN_AMOUNT",
    "TOKEN_ERROR_CODES",
    "C2BNotification",
    "C2BRegisterResponse",
    "CallbackParseError",
    "DarajaAPIError",
    "DarajaAuthError",
    "DarajaClient",
    "DarajaConfig",
    "DarajaConfigError",
    "DarajaError",
    "DarajaTransportError",
    "DarajaValidationError",
    "InvalidAmount",
    "InvalidPhoneNumber",
    "InvalidUrl",
    "MemoryTokenStore",
    "PaymentStatus",
    "ResultInfo",
    "StkCallback",
    "StkPushResponse",
    "StkQueryResult",
    "TokenStore",
    "classify_result",
    "detect_callback_kind",
    "eat_to_utc",
    "is_loopback_host",
    "load_callback_body",
    "nairobi_timestamp",
    "normalize_phone",
    "parse_callback",
    "reason_message",
    "validate_amount",
]


def __getattr__(name):
    if name in ("DarajaClient", "TOKEN_ERROR_CODES"):
        from . import client  # requests is loaded with the client only

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
