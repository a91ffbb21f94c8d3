"""Free-text STK fields: AccountReference (max 12) and TransactionDesc (max 13).

Daraja wants short, non-empty, plain values: the reference is printed on the PIN prompt and in the
customer's SMS, and characters such as @ # & have broken requests (docs/daraja.md, "STK push").
"""

import re

from .errors import DarajaValidationError

ACCOUNT_REFERENCE_MAX = 12
TRANSACTION_DESC_MAX = 13
BILL_REF_MAX = 20
DEFAULT_ACCOUNT_REFERENCE = "POS"
DEFAULT_TRANSACTION_DESC = "Payment"

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9 ./-]+")
_SPACES = re.compile(r" {2,}")
_WHITESPACE = re.compile(r"\s")


def sanitize_field(value, max_length: int, default: str, label: str) -> str:
    """Keep ASCII letters, digits, spaces and - . / ; cut to max_length; default when nothing is left."""
    if value is None:
        return default
    if (
        isinstance(value, bool)
        or not isinstance(value, (str, int))
        or (isinstance(value, int) and abs(value) >= 10**20)
    ):
        raise DarajaValidationError(f"The {label} must be text")
    text = _WHITESPACE.sub(" ", str(value)[: max_length * 20])
    text = _SPACES.sub(" ", _NOT_ALLOWED.sub("", text)).strip()
    text = text[:max_length].strip()
    return text or default
