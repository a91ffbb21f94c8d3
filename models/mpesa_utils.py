"""Values and helpers shared by the model files (the log, STK, C2B, claim, till requests, accounts).

Anything used by only one of them lives in that file.
"""

from decimal import Decimal, InvalidOperation

from odoo.exceptions import UserError

MANAGER_GROUP = "point_of_sale.group_pos_manager"

STK_WAIT_SECONDS = 75  # the till gives up on a push after 75 s


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


def check_manager(env, message):
    """Refuse (UserError ``message``) unless a POS manager, or the superuser, is acting."""
    if not env.su and not env.user.has_group(MANAGER_GROUP):
        raise UserError(message)
