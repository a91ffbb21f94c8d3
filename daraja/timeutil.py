"""Nairobi time (EAT, UTC+3, no DST): Daraja's timestamps and callback dates are all in EAT."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _nairobi():
    # Kenya has kept UTC+3 without DST since 1960: a fixed offset is exact when tzdata is missing
    try:
        return ZoneInfo("Africa/Nairobi")
    except ZoneInfoNotFoundError:
        return timezone(timedelta(hours=3), "EAT")


NAIROBI = _nairobi()
TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"


def nairobi_timestamp(now: datetime | None = None) -> str:
    """'YYYYMMDDHHmmss' in Africa/Nairobi. A naive ``now`` is taken as UTC (Odoo's convention)."""
    if now is None:
        now = datetime.now(timezone.utc)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return now.astimezone(NAIROBI).strftime(TIMESTAMP_FORMAT)


def eat_to_utc(value) -> datetime:
    """Naive UTC datetime from an EAT 'YYYYMMDDHHmmss' (str or int) or a naive EAT datetime.

    Raises ValueError when the value is not such a date.
    """
    if isinstance(value, datetime):
        local = value if value.tzinfo else value.replace(tzinfo=NAIROBI)
    else:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError("expected YYYYMMDDHHmmss")
        text = str(value).strip() if isinstance(value, str) or 0 <= value < 10**14 else ""
        if len(text) != 14 or not (text.isascii() and text.isdigit()):
            raise ValueError("expected YYYYMMDDHHmmss")
        local = datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=NAIROBI)
    return local.astimezone(timezone.utc).replace(tzinfo=None)
