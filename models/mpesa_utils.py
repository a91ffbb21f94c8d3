"""Values and helpers shared by the mpesa.callback files (the log, STK, C2B, claim, till requests).

Anything used by only one of them lives in that file.
"""

from decimal import Decimal, InvalidOperation

STK_WAIT_SECONDS = 75  # the brief: the till gives up after 75 s


def to_decimal(value):
    """Exact Decimal of a JSON number or numeric string; InvalidOperation for bool/None."""
    if isinstance(value, bool) or value is None:
        raise InvalidOperation
    return Decimal(str(value))


def status_value(status):
    """A Daraja PaymentStatus (str Enum) as its plain value, e.g. 'success'."""
    return str(getattr(status, "value", status))


def db_text(text):
    """Text PostgreSQL can store: a NUL byte (refused in text columns) becomes U+FFFD."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text
