"""Amounts for Daraja: whole Kenyan shillings, 1 to 250,000 per transaction.

A fractional amount is refused, never rounded: rounding up over-charges the customer and rounding
down leaves a residue on the order (docs/daraja.md, "STK push").
"""

import math
import re
from decimal import Decimal

from .errors import InvalidAmount

MIN_AMOUNT = 1
MAX_AMOUNT = 250_000

_GENERIC = "Invalid amount: M-Pesa takes whole shillings from 1 to 250,000."
_PLAIN_NUMBER = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,12})?")


def _fractional(shown) -> InvalidAmount:
    return InvalidAmount(
        f"Invalid amount: {shown} is not a whole number of shillings. "
        "M-Pesa takes whole shillings only; the amount is never rounded."
    )


def _check_range(number: int, shown) -> int:
    if not MIN_AMOUNT <= number <= MAX_AMOUNT:
        raise InvalidAmount(f"Invalid amount: {shown} is outside M-Pesa's limits (1 to 250,000 shillings).")
    return number


def _from_decimal(number: Decimal, shown) -> int:
    if not number.is_finite():
        raise InvalidAmount(_GENERIC)
    if number != number.to_integral_value():
        raise _fractional(shown)
    if abs(number) > MAX_AMOUNT * 10:  # out of range anyway; keeps int() cheap
        raise InvalidAmount(f"Invalid amount: {shown} is outside M-Pesa's limits (1 to 250,000 shillings).")
    return _check_range(int(number), shown)


def validate_amount(value) -> int:
    """Return the amount as an int of shillings, or raise InvalidAmount with a clear message."""
    if isinstance(value, bool) or value is None:
        raise InvalidAmount(_GENERIC)
    if isinstance(value, int):
        if abs(value) > MAX_AMOUNT * 10:
            raise InvalidAmount("Invalid amount: outside M-Pesa's limits (1 to 250,000 shillings).")
        return _check_range(value, value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidAmount(_GENERIC)
        return _from_decimal(Decimal(repr(value)), repr(value))
    if isinstance(value, Decimal):
        return _from_decimal(value, value)
    if isinstance(value, str):
        text = value.strip()
        # plain digits only: no exponent, sign, thousands separator or currency guessing
        if not _PLAIN_NUMBER.fullmatch(text):
            raise InvalidAmount(_GENERIC)
        return _from_decimal(Decimal(text), text)
    raise InvalidAmount(_GENERIC)
