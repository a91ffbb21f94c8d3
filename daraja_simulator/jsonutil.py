"""JSON encoding that can write a Decimal verbatim (Daraja sends Amount as 1.00, not 1.0)."""

import json
import re
from decimal import Decimal

_MARK = "\x00DEC"
_PLACEHOLDER = re.compile(r'"\\u0000DEC(-?[0-9]+(?:\.[0-9]+)?)"')


def _default(value):
    if isinstance(value, Decimal):
        return f"{_MARK}{value}"
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(payload) -> str:
    return _PLACEHOLDER.sub(r"\1", json.dumps(payload, default=_default))
