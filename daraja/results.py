"""Daraja result codes -> payment status, reason key and the cashier's message.

Codes are compared as strings, never by their description (daraja-reference.md §0.3, §4.3, §11).
An unknown code is never guessed to be a failure: it needs a human to check the statement.
"""

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

# Odoo's translation extractor collects _lt("...") literals; the Odoo side translates them at runtime.
_lt = str


class PaymentStatus(str, Enum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    NEEDS_REVIEW = "needs_review"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ResultInfo:
    code: str
    status: PaymentStatus
    reason: str
    message: str

    @property
    def is_final(self) -> bool:
        return self.status is not PaymentStatus.PENDING


MSG_PAID = _lt("Payment successful!")
MSG_CANCELLED = _lt("Payment cancelled")
MSG_INSUFFICIENT = _lt("Insufficient balance")
MSG_TIMEOUT = _lt("Payment timeout")
MSG_WRONG_PIN = _lt("Wrong M-Pesa PIN")
MSG_PIN_LOCKED = _lt("The customer's M-Pesa PIN is locked")
MSG_BUSY = _lt("The customer is busy with another M-Pesa transaction")
MSG_RULE_LIMITED = _lt("Same payment repeated too quickly: wait 2 minutes")
MSG_LIMIT = _lt("M-Pesa transaction limit exceeded")
MSG_CONFIG = _lt("M-Pesa account configuration error")
MSG_SYSTEM = _lt("M-Pesa system error, please try again")
MSG_PENDING = _lt("Waiting for the customer to enter the M-Pesa PIN")
MSG_UNKNOWN = _lt("Payment needs review by a manager")

_S = PaymentStatus
# code -> (status, reason key, cashier message)
_TABLE = {
    "0": (_S.SUCCESS, "paid", MSG_PAID),
    "1": (_S.FAILED, "insufficient_balance", MSG_INSUFFICIENT),
    "2": (_S.FAILED, "limit_exceeded", MSG_LIMIT),  # below the minimum
    "3": (_S.FAILED, "limit_exceeded", MSG_LIMIT),  # above the maximum
    "4": (_S.FAILED, "limit_exceeded", MSG_LIMIT),  # customer's daily limit
    "8": (_S.FAILED, "limit_exceeded", MSG_LIMIT),  # account's maximum balance
    "17": (_S.FAILED, "rule_limited", MSG_RULE_LIMITED),
    "26": (_S.FAILED, "system_error", MSG_SYSTEM),
    "1001": (_S.FAILED, "customer_busy", MSG_BUSY),
    "1019": (_S.TIMEOUT, "timeout", MSG_TIMEOUT),
    "1025": (_S.FAILED, "system_error", MSG_SYSTEM),
    "1031": (_S.CANCELLED, "cancelled", MSG_CANCELLED),
    "1032": (_S.CANCELLED, "cancelled", MSG_CANCELLED),
    "1036": (_S.TIMEOUT, "timeout", MSG_TIMEOUT),
    "1037": (_S.TIMEOUT, "timeout", MSG_TIMEOUT),
    "1101": (_S.FAILED, "config_error", MSG_CONFIG),  # prompt text too long
    "1102": (_S.FAILED, "config_error", MSG_CONFIG),
    "2001": (_S.FAILED, "wrong_pin", MSG_WRONG_PIN),
    "2028": (_S.FAILED, "config_error", MSG_CONFIG),  # till/paybill product mismatch
    "4999": (_S.PENDING, "pending", MSG_PENDING),  # STK query: still under processing
    "8006": (_S.FAILED, "wrong_pin", MSG_PIN_LOCKED),
    "9999": (_S.FAILED, "system_error", MSG_SYSTEM),
    "SFC_IC0003": (_S.FAILED, "config_error", MSG_CONFIG),  # operator does not exist
    # gateway errorCode of the STK query: "no answer yet", whatever its message says
    "500.001.1001": (_S.PENDING, "pending", MSG_PENDING),
}
KNOWN_CODES = frozenset(_TABLE)
_MAX_CODE = 64


def normalize_code(code) -> str:
    """Daraja sends codes as numbers or strings: 1032, "1032", "0", "SFC_IC0003"."""
    if isinstance(code, bool) or code is None:
        return ""
    if isinstance(code, int):
        return str(code) if abs(code) < 10**18 else ""
    if isinstance(code, float):
        whole = math.isfinite(code) and code.is_integer() and abs(code) < 1e18
        return str(int(code)) if whole else ""
    if isinstance(code, Decimal):
        whole = code.is_finite() and code == code.to_integral_value() and abs(code) < 10**18
        return str(int(code)) if whole else ""
    if not isinstance(code, str):
        return ""
    text = code.strip()[:_MAX_CODE]
    if text.isascii() and text.isdigit():
        return text.lstrip("0") or "0"
    return text.upper() if text.upper() in KNOWN_CODES else text


def classify_result(code) -> ResultInfo:
    """ResultInfo for a Daraja result code; unknown codes -> needs_review."""
    normalized = normalize_code(code)
    status, reason, message = _TABLE.get(normalized, (_S.NEEDS_REVIEW, "unknown", MSG_UNKNOWN))
    return ResultInfo(code=normalized, status=status, reason=reason, message=message)
