"""Daraja result codes -> payment status, reason key and the cashier's message.

Codes are compared as strings, never by their description (docs/daraja.md, "Result codes").
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


# The cashier's wording of each reason: the one table of M-Pesa result messages, for the server's
# answers to the till, the till's notifications and the simulator's phone page.
REASON_MESSAGES = {
    "paid": _lt("Payment successful!"),
    "cancelled": _lt("Payment cancelled"),
    "insufficient_balance": _lt("Insufficient balance"),
    "timeout": _lt("Payment timeout"),
    "wrong_pin": _lt("Wrong M-Pesa PIN"),
    "pin_locked": _lt("The customer's M-Pesa PIN is locked"),
    "customer_busy": _lt("The customer is busy with another M-Pesa transaction"),
    "rule_limited": _lt("Same payment repeated too quickly: wait 2 minutes"),
    "limit_exceeded": _lt("M-Pesa transaction limit exceeded"),
    "config_error": _lt("M-Pesa account configuration error"),
    "system_error": _lt("M-Pesa system error, please try again"),
    "pending": _lt("Waiting for the customer to enter the M-Pesa PIN"),
    "confirming": _lt("The customer paid: confirming the payment with M-Pesa"),
    "unknown": _lt("Payment needs review by a manager"),
}

_S = PaymentStatus
# code -> (status, reason)
_TABLE = {
    "0": (_S.SUCCESS, "paid"),
    "1": (_S.FAILED, "insufficient_balance"),
    "2": (_S.FAILED, "limit_exceeded"),  # below the minimum
    "3": (_S.FAILED, "limit_exceeded"),  # above the maximum
    "4": (_S.FAILED, "limit_exceeded"),  # customer's daily limit
    "8": (_S.FAILED, "limit_exceeded"),  # account's maximum balance
    "17": (_S.FAILED, "rule_limited"),
    "26": (_S.FAILED, "system_error"),
    "1001": (_S.FAILED, "customer_busy"),
    "1019": (_S.TIMEOUT, "timeout"),
    "1025": (_S.FAILED, "system_error"),
    "1031": (_S.CANCELLED, "cancelled"),
    "1032": (_S.CANCELLED, "cancelled"),
    "1036": (_S.TIMEOUT, "timeout"),
    "1037": (_S.TIMEOUT, "timeout"),
    "1101": (_S.FAILED, "config_error"),  # prompt text too long
    "1102": (_S.FAILED, "config_error"),
    "2001": (_S.FAILED, "wrong_pin"),
    "2028": (_S.FAILED, "config_error"),  # till/paybill product mismatch
    "4999": (_S.PENDING, "pending"),  # STK query: still under processing
    "8006": (_S.FAILED, "pin_locked"),
    "9999": (_S.FAILED, "system_error"),
    "SFC_IC0003": (_S.FAILED, "config_error"),  # operator does not exist
    # gateway errorCode of the STK query: "no answer yet", whatever its message says
    "500.001.1001": (_S.PENDING, "pending"),
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
    status, reason = _TABLE.get(normalized, (_S.NEEDS_REVIEW, "unknown"))
    return ResultInfo(code=normalized, status=status, reason=reason, message=reason_message(reason))


def reason_message(reason) -> str:
    """The cashier's message for a reason key; an unknown key reads as "needs review"."""
    return REASON_MESSAGES.get(reason) or REASON_MESSAGES["unknown"]
