"""One HTTP exchange with Daraja, turned into (status, JSON object or None) or a DarajaTransportError.

Never lets a requests/JSON exception escape, and never puts the exception text (which may
contain URLs with callback tokens) into the error message.
"""

import json
import logging
from dataclasses import dataclass

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from .errors import DarajaTransportError

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    data: dict | None  # the JSON object, or None when the body is empty or not a JSON object
    body_kind: str  # 'json', 'empty', 'html' or 'other'

    @property
    def unusable_reason(self) -> str:
        what = {"empty": "an empty body", "html": "an HTML page"}.get(self.body_kind, "a non-JSON body")
        return f"Daraja answered HTTP {self.status} with {what}"


def _never_sent(error: requests.ConnectionError) -> bool:
    """True when the connection was never established (so Daraja cannot have seen the request)."""
    current, depth = error, 0
    while current is not None and depth < 10:
        if isinstance(current, (NewConnectionError, ConnectTimeoutError)):
            return True
        following = getattr(current, "reason", None)
        if following is None and current.args and isinstance(current.args[0], BaseException):
            following = current.args[0]
        current, depth = following, depth + 1
    return False


def decode_body(content: bytes) -> tuple[dict | None, str]:
    if not content or not content.strip():
        return None, "empty"
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        return None, "html" if content.lstrip()[:1] == b"<" else "other"
    if not isinstance(data, dict):
        return None, "other"
    return data, "json"


def send(session, method, url, *, timeout, headers, json_body=None, auth=None, label="request") -> HttpAnswer:
    try:
        response = session.request(
            method,
            url,
            json=json_body,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=False,  # a redirect means a wrong base URL; never re-send a payment elsewhere
        )
    except requests.exceptions.ConnectTimeout:
        _logger.warning("Daraja %s: connect timeout", label)
        raise DarajaTransportError(
            "Cannot reach M-Pesa (Daraja): connection timed out", ambiguous=False
        ) from None
    except requests.exceptions.ReadTimeout:
        _logger.warning("Daraja %s: no answer within %s s (read timeout)", label, timeout[1])
        raise DarajaTransportError(
            "M-Pesa (Daraja) did not answer in time; the request may have been received", ambiguous=True
        ) from None
    except requests.exceptions.SSLError:
        _logger.warning("Daraja %s: TLS error", label)
        raise DarajaTransportError(
            "Cannot reach M-Pesa (Daraja): secure connection failed", ambiguous=False
        ) from None
    except requests.exceptions.ConnectionError as error:
        if _never_sent(error):
            _logger.warning("Daraja %s: cannot connect", label)
            raise DarajaTransportError(
                "Cannot reach M-Pesa (Daraja): connection failed", ambiguous=False
            ) from None
        _logger.warning("Daraja %s: connection lost before the answer (%s)", label, type(error).__name__)
        raise DarajaTransportError(
            "The connection to M-Pesa (Daraja) broke before its answer; the request may have been received",
            ambiguous=True,
        ) from None
    except requests.exceptions.RequestException as error:
        _logger.warning("Daraja %s failed: %s", label, type(error).__name__)
        raise DarajaTransportError(
            "No usable answer from M-Pesa (Daraja); the request may have been received", ambiguous=True
        ) from None
    status = response.status_code
    if 300 <= status < 400:
        _logger.warning("Daraja %s: unexpected redirect HTTP %s", label, status)
        raise DarajaTransportError(
            f"Daraja answered with a redirect (HTTP {status}): check the environment and base URL",
            ambiguous=False,
        )
    data, kind = decode_body(response.content)
    _logger.debug("Daraja %s: HTTP %s, %s body", label, status, kind)
    return HttpAnswer(status=status, data=data, body_kind=kind)
