"""Identifiers and timestamps in the formats real Daraja uses (docs/daraja.md, "STK push")."""

import secrets
import string
from datetime import datetime, timedelta, timezone

try:
    from zoneinfo import ZoneInfo

    EAT = ZoneInfo("Africa/Nairobi")
except Exception:  # no tz database: EAT is UTC+3 all year (no DST), so a fixed offset is exact
    EAT = timezone(timedelta(hours=3), "EAT")

_UPPER_ALNUM = string.ascii_uppercase + string.digits


def eat_now(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, EAT)


def eat_stamp(epoch: float) -> str:
    """YYYYMMDDHHmmss in Africa/Nairobi, as in TransactionDate / TransTime."""
    return eat_now(epoch).strftime("%Y%m%d%H%M%S")


def checkout_request_id(epoch: float, msisdn: str) -> str:
    """ws_CO_ + DDMMYYYYHHmmss (EAT) + 3 digits + the last 9 digits of the MSISDN."""
    stamp = eat_now(epoch).strftime("%d%m%Y%H%M%S")
    return f"ws_CO_{stamp}{secrets.randbelow(1000):03d}{msisdn[-9:]}"


def merchant_request_id() -> str:
    """Current hex-group form, e.g. ac7b-470b-8df7-23ab3cef38271071873."""
    hx = secrets.token_hex(12)
    return f"{hx[0:4]}-{hx[4:8]}-{hx[8:12]}-{hx[12:24]}{secrets.randbelow(10**7):07d}"


def request_id() -> str:
    """Gateway requestId, e.g. 27746-3661277-1."""
    return f"{secrets.randbelow(90000) + 10000}-{secrets.randbelow(9000000) + 1000000}-1"


def conversation_id() -> str:
    """OriginatorCoversationID of C2B answers, e.g. 7619-37765134-1."""
    return f"{secrets.randbelow(9000) + 1000}-{secrets.randbelow(90000000) + 10000000}-1"


def receipt_number() -> str:
    """M-Pesa receipt: 10 uppercase alphanumerics, three letters then a digit (NLJ7RT61SV, docs/daraja.md)."""
    head = "".join(secrets.choice(string.ascii_uppercase) for _ in range(3)) + secrets.choice(string.digits)
    return head + "".join(secrets.choice(_UPPER_ALNUM) for _ in range(6))


def access_token() -> str:
    """Opaque 28-character token, like the ones Daraja issues."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(28))
