"""Callback URL checks done before calling Daraja (docs/daraja.md, "STK push", "C2B register").

Error messages never repeat the URL: callback URLs carry a secret token in their path.
"""

from urllib.parse import urlsplit

from .errors import InvalidUrl

# Safaricom refuses production C2B URLs containing these words, in any case
BANNED_WORDS = ("m-pesa", "mpesa", "safaricom", "exec", "exe", "cmd", "sql", "query")


def check_url(url, label: str, production: bool, c2b: bool = False) -> str:
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise InvalidUrl(f"Invalid {label}: a full http(s) URL is required")
    if any(char.isspace() for char in url):
        raise InvalidUrl(f"Invalid {label}: it contains spaces")
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        raise InvalidUrl(f"Invalid {label}: a full http(s) URL is required") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise InvalidUrl(f"Invalid {label}: a full http(s) URL is required")
    if production and parts.scheme != "https":
        raise InvalidUrl(f"Invalid {label}: production URLs must use https")
    if production and c2b:
        lowered = url.lower()
        for word in BANNED_WORDS:
            if word in lowered:
                raise InvalidUrl(f"Invalid {label}: Safaricom refuses URLs that contain '{word}'")
    return url
