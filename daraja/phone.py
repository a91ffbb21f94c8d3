"""Kenyan mobile numbers in the form Daraja wants: 2547XXXXXXXX or 2541XXXXXXXX."""

import re

from .errors import InvalidPhoneNumber

ACCEPTED_FORMATS = "07XXXXXXXX, 01XXXXXXXX, +2547XXXXXXXX, +2541XXXXXXXX, 2547XXXXXXXX or 2541XXXXXXXX"
INVALID_MESSAGE = f"Invalid phone number. Use {ACCEPTED_FORMATS} (spaces, dashes and brackets are ignored)."

_SEPARATORS = re.compile(r"[\s\-()]+")
# ASCII digits only: str.isdigit() would accept other scripts' digits
_PATTERN = re.compile(r"(?:\+?254|0)([17][0-9]{8})")
_MAX_INPUT = 40  # a longer value cannot be a phone number; don't regex over megabytes


def normalize_phone(value) -> str:
    """Return '2547XXXXXXXX' / '2541XXXXXXXX' or raise InvalidPhoneNumber (the input is not echoed)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidPhoneNumber(INVALID_MESSAGE)
    if isinstance(value, int) and not 0 <= value < 10**13:
        raise InvalidPhoneNumber(INVALID_MESSAGE)
    text = str(value) if isinstance(value, int) else value
    if len(text) > _MAX_INPUT:
        raise InvalidPhoneNumber(INVALID_MESSAGE)
    match = _PATTERN.fullmatch(_SEPARATORS.sub("", text))
    if not match:
        raise InvalidPhoneNumber(INVALID_MESSAGE)
    return "254" + match.group(1)
