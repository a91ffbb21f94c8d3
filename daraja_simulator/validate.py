"""Field checks shared by the STK and C2B endpoints; each failure is Daraja's 400.002.02 shape."""

import re
from datetime import datetime
from urllib.parse import urlsplit

from .http_types import bad_request

_SHORTCODE = re.compile(r"^[0-9]{5,7}$")
_MSISDN = re.compile(r"^254[17][0-9]{8}$")
MAX_AMOUNT = 250_000


def require_json_body(request, first_field: str) -> dict:
    """A non-JSON content type surfaces as an error on the first field (docs/daraja.md, "Hosts and paths")."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise bad_request(first_field)
    body = request.json()
    if not isinstance(body, dict):
        raise bad_request(first_field)
    return body


def _digits(value) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip()
    return None


def shortcode(body: dict, name: str) -> str:
    value = _digits(body.get(name))
    if value is None or not _SHORTCODE.match(value):
        raise bad_request(name)
    return value


def msisdn(body: dict, name: str) -> str:
    value = _digits(body.get(name))
    if value is None or not _MSISDN.match(value):
        raise bad_request(name)
    return value


def amount(body: dict, name: str = "Amount") -> int:
    """Whole shillings 1..250,000; a decimal (1.5, "1.00") is refused, never rounded."""
    value = _digits(body.get(name))
    if value is None or len(value) > 6 or not 1 <= int(value) <= MAX_AMOUNT:
        raise bad_request(name)
    return int(value)


def timestamp(body: dict, name: str = "Timestamp") -> str:
    value = _digits(body.get(name))
    if value is None or len(value) != 14:
        raise bad_request(name)
    try:
        datetime.strptime(value, "%Y%m%d%H%M%S")
    except ValueError:
        raise bad_request(name) from None
    return value


def non_empty_string(body: dict, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise bad_request(name)
    return value


def url(body: dict, name: str, https_only: bool = False) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or any(ch.isspace() for ch in value):
        raise bad_request(name)
    parts = urlsplit(value)
    allowed = ("https",) if https_only else ("http", "https")
    if parts.scheme not in allowed or not parts.hostname:
        raise bad_request(name)
    return value


def whole_number(body: dict, name: str, low: int, high: int, default=None) -> int:
    """A whole number low..high, as a JSON number or a string of digits (absent: `default`, if given)."""
    raw = body.get(name, default)
    value = _digits(raw)
    if value is None or len(value) > len(str(high)) or not low <= int(value) <= high:
        raise bad_request(name)
    return int(value)
