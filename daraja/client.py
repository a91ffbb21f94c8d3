"""DarajaClient: OAuth, STK push, STK query, C2B register and simulate, Dynamic QR, and the records
APIs (Transaction Status, Reversal, Pull Transactions). Daraja facts: docs/daraja.md.

Rules that matter for money: one Nairobi timestamp is used twice (Timestamp and inside Password);
a payment request is never re-sent after an ambiguous failure (Daraja has no idempotency); only a
definite token refusal is retried, once, with a fresh token.
"""

import base64
import logging
import math
import re
import time
from datetime import datetime, timezone

import requests

from . import transport
from .amounts import validate_amount
from .api_types import AsyncAck, C2BRegisterResponse, Initiator, StkPushResponse, StkQueryResult
from .config import DarajaConfig
from .environments import (
    C2B_VERSIONS,
    OAUTH_PATH,
    PULL_QUERY_PATH,
    PULL_REGISTER_PATH,
    QR_CODE_PATH,
    REVERSAL_PATH,
    STK_PUSH_PATH,
    STK_QUERY_PATH,
    TRANSACTION_STATUS_PATH,
    c2b_register_path,
    c2b_simulate_path,
)
from .errors import (
    DarajaAPIError,
    DarajaAuthError,
    DarajaTransportError,
    DarajaValidationError,
)
from .fields import (
    ACCOUNT_REFERENCE_MAX,
    BILL_REF_MAX,
    DEFAULT_ACCOUNT_REFERENCE,
    DEFAULT_TRANSACTION_DESC,
    TRANSACTION_DESC_MAX,
    sanitize_field,
)
from .phone import normalize_phone
from .records import PulledTransaction, parse_pull_page, pull_range
from .redact import redact
from .results import classify_result, normalize_code
from .timeutil import nairobi_timestamp
from .tokens import MemoryTokenStore
from .urls import check_url

_logger = logging.getLogger(__name__)

# "Invalid Access Token" in each product family, plus the wrong-C2B-version variant
# (docs/daraja.md, "Errors")
TOKEN_ERROR_CODES = frozenset({"404.001.03", "401.002.01", "400.003.01", "401.003.01"})
PENDING_QUERY_CODE = "500.001.1001"
NO_API_PRODUCT = "401.003.01"  # "no apiproduct match found": e.g. the other C2B API version
PULL_REGISTERED = frozenset({"1000", "1001"})  # registered now / already registered
PULL_NO_RECORDS = "1001"
PULL_PAGES_MAX = 50  # a 48 h window of a busy shop, with room; never an endless loop
REFRESH_MARGIN = 60.0  # seconds before expiry when the token counts as stale
_MAX_TEXT = 500
_ALL_ZEROS = re.compile(r"0+")


def _text(value) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)[:_MAX_TEXT]


def _is_all_zeros(code) -> bool:
    if isinstance(code, bool):
        return False
    if isinstance(code, int):
        return code == 0
    return isinstance(code, str) and bool(_ALL_ZEROS.fullmatch(code.strip()))


def _parse_expires_in(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not (value.isascii() and value.isdigit()) or len(value) > 9:
            return None
        value = int(value)
    if isinstance(value, (int, float)) and math.isfinite(value) and 0 < value < 10**9:
        return float(value)
    return None


def _check_timeout(timeout):
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        timeout = (timeout, timeout)
    if (
        not isinstance(timeout, (tuple, list))
        or len(timeout) != 2
        or not all(isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0 for t in timeout)
    ):
        raise ValueError("timeout must be (connect seconds, read seconds)")
    return tuple(timeout)


class DarajaClient:
    def __init__(self, config, token_store=None, session=None, timeout=(5, 30), *, clock=None):
        if not isinstance(config, DarajaConfig):
            raise TypeError("config must be a DarajaConfig")
        self.config = config
        self.token_store = token_store if token_store is not None else MemoryTokenStore()
        self._own_session = session is None
        self.session = session if session is not None else requests.Session()
        self.timeout = _check_timeout(timeout)
        self._clock = clock or time.time
        self._last_password = None
        self._seen_tokens = []  # tokens this client used: redacted from any text Daraja echoes

    def __repr__(self):
        config = self.config
        return f"<DarajaClient {config.environment} {config.account_type} {config.business_shortcode}>"

    def close(self):
        """Close the HTTP session if this client created it."""
        if self._own_session:
            self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ helpers

    def _url(self, path):
        return self.config.api_base_url + path

    def _secrets(self, *extra):
        return [
            self.config.consumer_secret,
            self.config.passkey,
            self._last_password,
            *self._seen_tokens,
            *extra,
        ]

    def _remember(self, token):
        if token not in self._seen_tokens:
            self._seen_tokens = [*self._seen_tokens[-3:], token]
        return token

    def _api_error(self, answer, cls=DarajaAPIError, hint=None, extra_secrets=()):
        data = answer.data or {}
        secrets = self._secrets(*extra_secrets)
        code = _text(data.get("errorCode") or data.get("resultCode") or data.get("ResponseCode"))
        message = _text(data.get("errorMessage") or data.get("resultDesc") or data.get("ResponseDescription"))
        code, message = redact(code, secrets), redact(message, secrets)
        request_id = redact(_text(data.get("requestId") or data.get("RequestID")), secrets)
        text = None
        if hint:
            text = ": ".join(part for part in (code, message) if part) or f"HTTP {answer.status}"
            text = f"{text} ({hint})"
        return cls(
            error_code=code,
            error_message=message,
            request_id=request_id,
            http_status=answer.status,
            message=text,
        )

    def _unusable(self, answer, label):
        """Empty/HTML/non-object body: a 4xx is a definite refusal, anything else may have been processed."""
        ambiguous = not 400 <= answer.status < 500
        _logger.warning("Daraja %s: %s", label, answer.unusable_reason)
        suffix = "; the request may have been received" if ambiguous else ""
        return DarajaTransportError(f"{answer.unusable_reason}{suffix}", ambiguous=ambiguous)

    def _now_utc(self):
        return datetime.fromtimestamp(self._clock(), timezone.utc)

    def _password(self, timestamp):
        raw = f"{self.config.business_shortcode}{self.config.passkey}{timestamp}"
        self._last_password = base64.b64encode(raw.encode()).decode()
        return self._last_password

    # ------------------------------------------------------------------ OAuth

    def _read_store(self):
        try:
            value = self.token_store.get()
            token, expires_at = value
            expires_at = float(expires_at)
        except (TypeError, ValueError):
            return None
        if not isinstance(token, str) or not token or not math.isfinite(expires_at):
            return None
        return token, expires_at

    def _fresh(self, stored, exclude=None):
        if stored and stored[0] != exclude and stored[1] - self._clock() > REFRESH_MARGIN:
            return stored[0]
        return None

    def get_access_token(self, force_refresh=False) -> str:
        """A valid token: the shared one if it has more than a minute left, else a new one (single-flight)."""
        return self._remember(self._get_access_token(force_refresh))

    def _get_access_token(self, force_refresh):
        if not force_refresh:
            token = self._fresh(self._read_store())
            if token:
                return token
        with self.token_store.refresh_lock():
            if not force_refresh:
                # another worker may have refreshed while we waited for the lock
                token = self._fresh(self._read_store())
                if token:
                    return token
            return self._fetch_token()

    def _renew_after_rejection(self, rejected):
        with self.token_store.refresh_lock():
            token = self._fresh(self._read_store(), exclude=rejected)
            if token:
                return token
            return self._fetch_token()

    def test_connection(self) -> None:
        """Raise a DarajaError unless Daraja issues a token for these credentials right now."""
        self.get_access_token(force_refresh=True)

    def _fetch_token(self):
        basic = base64.b64encode(
            f"{self.config.consumer_key}:{self.config.consumer_secret}".encode()
        ).decode()
        answer = transport.send(
            self.session,
            "GET",
            self._url(OAUTH_PATH),
            timeout=self.timeout,
            headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
            label="OAuth",
        )
        data = answer.data
        if data and (data.get("errorCode") or data.get("resultCode")):
            raise self._api_error(answer, DarajaAuthError, extra_secrets=(basic,))
        if answer.status != 200:
            if answer.status in (400, 401, 403):
                # wrong key/secret often comes back as an empty 400 (docs/daraja.md, "OAuth")
                raise DarajaAuthError(
                    http_status=answer.status,
                    message=(
                        f"Daraja refused the credentials (HTTP {answer.status}, no details): check the "
                        "consumer key and secret and the environment (sandbox keys do not work in production)"
                    ),
                )
            if data is None:
                raise self._unusable(answer, "OAuth")
            raise self._api_error(answer, DarajaAuthError, extra_secrets=(basic,))
        if data is None:
            raise self._unusable(answer, "OAuth")
        token = data.get("access_token")
        expires_in = _parse_expires_in(data.get("expires_in"))
        if not isinstance(token, str) or not token.strip() or expires_in is None:
            raise DarajaAuthError(
                http_status=200, message="Daraja's OAuth answer has no usable access_token / expires_in"
            )
        token = token.strip()
        self.token_store.set(token, self._clock() + expires_in)
        _logger.info("Daraja access token refreshed (valid %d s)", expires_in)
        return token

    # ------------------------------------------------------------------ authenticated POST

    def _is_token_error(self, answer):
        code = normalize_code((answer.data or {}).get("errorCode"))
        return answer.status == 401 or code in TOKEN_ERROR_CODES

    def _post(self, path, payload, label):
        """POST with the bearer token; on a token refusal (nothing was done) refresh once and retry once."""
        token = self.get_access_token()
        answer = self._send_post(path, payload, token, label)
        if not self._is_token_error(answer):
            return answer
        _logger.info(
            "Daraja %s: token refused (HTTP %s %s); refreshing it and retrying once",
            label,
            answer.status,
            normalize_code((answer.data or {}).get("errorCode")),
        )
        token = self._remember(self._renew_after_rejection(token))
        answer = self._send_post(path, payload, token, label)
        if self._is_token_error(answer):
            hint = None
            message = str((answer.data or {}).get("errorMessage") or "")
            if "apiproduct" in message.lower():
                hint = "the Daraja app does not have this API product or version; check the C2B API version"
            raise self._api_error(answer, DarajaAuthError, hint, extra_secrets=(token,))
        return answer

    def _send_post(self, path, payload, token, label):
        return transport.send(
            self.session,
            "POST",
            self._url(path),
            timeout=self.timeout,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            json_body=payload,
            label=label,
        )

    # ------------------------------------------------------------------ STK push

    def stk_push(self, phone, amount, account_reference, transaction_desc, callback_url) -> StkPushResponse:
        """Send the PIN prompt. Bad input raises before sending; an ambiguous failure is never retried."""
        msisdn = normalize_phone(phone)
        amount_int = validate_amount(amount)
        reference = sanitize_field(
            account_reference, ACCOUNT_REFERENCE_MAX, DEFAULT_ACCOUNT_REFERENCE, "account reference"
        )
        desc = sanitize_field(transaction_desc, TRANSACTION_DESC_MAX, DEFAULT_TRANSACTION_DESC, "description")
        url = check_url(callback_url, "callback URL", production=self.config.is_production)
        timestamp = nairobi_timestamp(self._now_utc())  # generated once, used twice
        payload = {
            "BusinessShortCode": self.config.business_shortcode,
            "Password": self._password(timestamp),
            "Timestamp": timestamp,
            "TransactionType": self.config.transaction_type,
            "Amount": amount_int,
            "PartyA": msisdn,
            "PartyB": self.config.party_b,
            "PhoneNumber": msisdn,
            "CallBackURL": url,
            "AccountReference": reference,
            "TransactionDesc": desc,
        }
        answer = self._post(STK_PUSH_PATH, payload, "STK push")
        data = answer.data
        if data is None:
            raise self._unusable(answer, "STK push")
        if not data.get("errorCode") and "ResponseCode" not in data:
            raise DarajaTransportError(
                f"Daraja answered HTTP {answer.status} without a result; the customer may have been prompted",
                ambiguous=True,
            )
        if data.get("errorCode") or answer.status != 200 or not _is_all_zeros(data.get("ResponseCode")):
            error = self._api_error(answer)
            _logger.warning("Daraja STK push refused: %s (HTTP %s)", error.error_code, answer.status)
            raise error
        checkout_id = _text(data.get("CheckoutRequestID"))
        if not checkout_id:
            raise DarajaTransportError(
                "Daraja accepted the push without a CheckoutRequestID; the customer may have been prompted",
                ambiguous=True,
            )
        response = StkPushResponse(
            merchant_request_id=_text(data.get("MerchantRequestID")) or "",
            checkout_request_id=checkout_id,
            response_code=str(data.get("ResponseCode")),
            response_description=_text(data.get("ResponseDescription")) or "",
            customer_message=_text(data.get("CustomerMessage")) or "",
            phone=msisdn,
            amount=amount_int,
            account_reference=reference,
            transaction_desc=desc,
        )
        _logger.info(
            "Daraja STK push accepted: CheckoutRequestID=%s MerchantRequestID=%s amount=%s",
            response.checkout_request_id,
            response.merchant_request_id,
            amount_int,
        )
        return response

    # ------------------------------------------------------------------ STK query

    def stk_query(self, checkout_request_id) -> StkQueryResult:
        """Where a push stands: success / pending / final failure / needs_review (never a guessed failure)."""
        if not isinstance(checkout_request_id, str) or not checkout_request_id.strip():
            raise DarajaValidationError("A CheckoutRequestID is required")
        checkout_request_id = checkout_request_id.strip()
        if len(checkout_request_id) > 100 or not checkout_request_id.isprintable():
            raise DarajaValidationError("Invalid CheckoutRequestID")
        timestamp = nairobi_timestamp(self._now_utc())
        payload = {
            "BusinessShortCode": self.config.business_shortcode,
            "Password": self._password(timestamp),
            "Timestamp": timestamp,
            "CheckoutRequestID": checkout_request_id,
        }
        answer = self._post(STK_QUERY_PATH, payload, "STK query")
        data = answer.data
        if data is None:
            raise self._unusable(answer, "STK query")
        error_code = normalize_code(data.get("errorCode"))
        if error_code == PENDING_QUERY_CODE:
            # "being processed", "does not Exist" or empty: all mean "no answer yet"
            # (docs/daraja.md, "STK query")
            result = classify_result(PENDING_QUERY_CODE)
        elif error_code:
            raise self._api_error(answer)
        elif "ResultCode" in data and normalize_code(data.get("ResultCode")):
            result = classify_result(data.get("ResultCode"))
        elif answer.status == 200 and not _is_all_zeros(data.get("ResponseCode", "0")):
            raise self._api_error(answer)
        else:
            raise DarajaAPIError(
                http_status=answer.status,
                message=f"Daraja's STK query answer (HTTP {answer.status}) has no result",
            )
        _logger.debug(
            "Daraja STK query %s: code %s -> %s", checkout_request_id, result.code, result.status.value
        )
        return StkQueryResult(result=result, raw=data)

    # ------------------------------------------------------------------ C2B

    def register_c2b_urls(
        self, confirmation_url, validation_url, response_type="Completed"
    ) -> C2BRegisterResponse:
        production = self.config.is_production
        check_url(confirmation_url, "confirmation URL", production=production, c2b=True)
        check_url(validation_url, "validation URL", production=production, c2b=True)
        if not isinstance(response_type, str) or response_type.strip().capitalize() not in (
            "Completed",
            "Cancelled",
        ):
            raise DarajaValidationError("The C2B response type must be 'Completed' or 'Cancelled'")
        payload = {
            "ShortCode": self.config.effective_c2b_shortcode,
            "ResponseType": response_type.strip().capitalize(),
            "ConfirmationURL": confirmation_url,
            "ValidationURL": validation_url,
        }
        version = self.config.c2b_api_version
        try:
            answer = self._post(c2b_register_path(version), payload, "C2B register")
        except DarajaAuthError as error:
            if error.error_code != NO_API_PRODUCT:
                raise
            # the app has the other C2B product: try it once, the caller remembers which one worked
            version = next(other for other in C2B_VERSIONS if other != version)
            _logger.info("Daraja C2B register: no API product for this version, trying %s", version)
            answer = self._post(c2b_register_path(version), payload, "C2B register")
        data = answer.data
        if data is None:
            raise self._unusable(answer, "C2B register")
        if data.get("errorCode") or answer.status != 200 or not _is_all_zeros(data.get("ResponseCode")):
            error = self._api_error(answer)
            _logger.warning("Daraja C2B register refused: %s (HTTP %s)", error.error_code, answer.status)
            raise error
        _logger.info(
            "Daraja C2B URLs registered for shortcode %s (%s)",
            payload["ShortCode"],
            version,
        )
        return C2BRegisterResponse(
            response_code=str(data.get("ResponseCode")),
            response_description=_text(data.get("ResponseDescription")) or "",
            # Safaricom spells it OriginatorCoversationID
            originator_conversation_id=_text(
                data.get("OriginatorCoversationID") or data.get("OriginatorConversationID")
            )
            or "",
            raw=data,
            api_version=version,
        )

    def simulate_c2b(self, amount, msisdn, bill_ref_number="") -> dict:
        """Sandbox/simulator only: make Daraja post a C2B payment to the registered URLs."""
        if self.config.is_production:
            raise DarajaValidationError("C2B simulation is not available in production")
        amount_int = validate_amount(amount)
        phone = normalize_phone(msisdn)
        bill_ref = sanitize_field(bill_ref_number, BILL_REF_MAX, "", "bill reference")
        payload = {
            "ShortCode": self.config.effective_c2b_shortcode,
            "CommandID": self.config.transaction_type,
            "Amount": amount_int,
            "Msisdn": phone,
            "BillRefNumber": bill_ref,
        }
        answer = self._post(c2b_simulate_path(self.config.c2b_api_version), payload, "C2B simulate")
        data = answer.data
        if data is None:
            raise self._unusable(answer, "C2B simulate")
        if data.get("errorCode") or answer.status != 200 or not _is_all_zeros(data.get("ResponseCode")):
            raise self._api_error(answer)
        return data

    def dynamic_qr(self, amount, reference, merchant_name, size=300) -> str:
        """A Dynamic QR the customer scans with the M-Pesa app to pay ``amount`` to this account's C2B
        shortcode (a till: Buy Goods; a paybill: ``reference`` as the account number); the PNG, base64.
        Nothing is paid yet: the payment comes later as an ordinary C2B confirmation."""
        amount_int = validate_amount(amount)
        reference = sanitize_field(reference, BILL_REF_MAX, "", "reference")
        if not reference:
            raise DarajaValidationError("A Dynamic QR needs a reference")
        merchant_name = sanitize_field(merchant_name, 64, "Shop", "merchant name") or "Shop"
        if isinstance(size, bool) or not isinstance(size, int) or not 100 <= size <= 1000:
            raise DarajaValidationError("The QR size must be 100 to 1000 pixels")
        payload = {
            "MerchantName": merchant_name,
            "RefNo": reference,
            "Amount": amount_int,
            "TrxCode": "BG" if self.config.account_type == "till" else "PB",
            "CPI": self.config.effective_c2b_shortcode,
            "Size": str(size),
        }
        answer = self._post(QR_CODE_PATH, payload, "Dynamic QR")
        data = answer.data
        if data is None:
            raise self._unusable(answer, "Dynamic QR")
        image = data.get("QRCode")
        # the success code differs between Safaricom's page ("AG_...") and its sandbox ("00"):
        # the image says
        if data.get("errorCode") or answer.status != 200 or not isinstance(image, str) or not image.strip():
            raise self._api_error(answer)
        try:
            base64.b64decode(image, validate=True)
        except ValueError:
            raise DarajaTransportError("Dynamic QR: the image is not base64", ambiguous=False) from None
        return image

    # ------------------------------------------------------------------ records and refunds

    def _async_request(self, path, payload, label, initiator) -> AsyncAck:
        """An asynchronous request: Daraja acknowledges, its Result comes to the ResultURL later."""
        answer = self._post(path, payload, label)
        data = answer.data
        if data is None:
            raise self._unusable(answer, label)
        if data.get("errorCode") or answer.status != 200 or not _is_all_zeros(data.get("ResponseCode")):
            raise self._api_error(answer, extra_secrets=(initiator.credential,))
        return AsyncAck(
            conversation_id=_text(data.get("ConversationID")) or "",
            originator_conversation_id=_text(data.get("OriginatorConversationID")) or "",
            response_description=_text(data.get("ResponseDescription")) or "",
        )

    def _result_urls(self, result_url, timeout_url):
        production = self.config.is_production
        return (
            check_url(result_url, "result URL", production=production, c2b=True),
            check_url(timeout_url, "timeout URL", production=production, c2b=True),
        )

    def transaction_status(self, receipt, initiator: Initiator, result_url, timeout_url) -> AsyncAck:
        """Ask what M-Pesa knows of a receipt paid to this account's C2B shortcode."""
        receipt = _receipt(receipt)
        result_url, timeout_url = self._result_urls(result_url, timeout_url)
        payload = {
            "Initiator": initiator.name,
            "SecurityCredential": initiator.credential,
            "CommandID": "TransactionStatusQuery",
            "TransactionID": receipt,
            "PartyA": self.config.effective_c2b_shortcode,
            "IdentifierType": "4",  # an organisation shortcode
            "ResultURL": result_url,
            "QueueTimeOutURL": timeout_url,
            "Remarks": "Receipt lookup",
            "Occasion": "POS",
        }
        return self._async_request(TRANSACTION_STATUS_PATH, payload, "Transaction Status", initiator)

    def reversal(self, receipt, amount, initiator: Initiator, result_url, timeout_url, remarks="Refund"):
        """Reverse a whole payment to this account. Never retried: a lost answer is ambiguous."""
        receipt = _receipt(receipt)
        amount_int = validate_amount(amount)
        remarks = sanitize_field(remarks, 100, "Refund", "remarks")
        if len(remarks) < 2:
            raise DarajaValidationError("Reversal remarks need 2 to 100 characters")
        result_url, timeout_url = self._result_urls(result_url, timeout_url)
        payload = {
            "Initiator": initiator.name,
            "SecurityCredential": initiator.credential,
            "CommandID": "TransactionReversal",
            "TransactionID": receipt,
            "Amount": str(amount_int),
            "ReceiverParty": self.config.effective_c2b_shortcode,
            "RecieverIdentifierType": "11",  # misspelt by Daraja, and required as spelt
            "ResultURL": result_url,
            "QueueTimeOutURL": timeout_url,
            "Remarks": remarks,
        }
        return self._async_request(REVERSAL_PATH, payload, "Reversal", initiator)

    def pull_register(self, nominated_number, callback_url) -> str:
        """Register the shortcode for Pull Transactions; 'registered' or 'already registered'."""
        payload = {
            "ShortCode": self.config.effective_c2b_shortcode,
            "RequestType": "Pull",
            "NominatedNumber": normalize_phone(nominated_number),
            "CallBackURL": check_url(callback_url, "callback URL", production=self.config.is_production),
        }
        answer = self._post(PULL_REGISTER_PATH, payload, "Pull register")
        data = answer.data
        if data is None:
            raise self._unusable(answer, "Pull register")
        code = normalize_code(data.get("ResponseStatus") or data.get("ResponseCode"))
        if data.get("errorCode") or answer.status != 200 or code not in PULL_REGISTERED:
            raise self._api_error(answer)
        return "registered" if code == "1000" else "already registered"

    def pull_transactions(self, start, end, now=None) -> list[PulledTransaction]:
        """Every C2B transaction of the shortcode between start and end (aware datetimes, last 48 h),
        page after page (OffSetValue)."""
        start_text, end_text = pull_range(start, end, now or self._now_utc())
        found, offset = [], 0
        for _page in range(PULL_PAGES_MAX):
            payload = {
                "ShortCode": self.config.effective_c2b_shortcode,
                "StartDate": start_text,
                "EndDate": end_text,
                "OffSetValue": str(offset),
            }
            answer = self._post(PULL_QUERY_PATH, payload, "Pull query")
            data = answer.data
            if data is None:
                raise self._unusable(answer, "Pull query")
            if normalize_code(data.get("ResponseCode")) == PULL_NO_RECORDS:
                break
            if data.get("errorCode") or answer.status != 200:
                raise self._api_error(answer)
            rows, page = parse_pull_page(data)
            if not rows:
                break
            offset += rows
            found.extend(page)
        return found


def _receipt(value) -> str:
    """An M-Pesa receipt: 10 letters and digits as Daraja issues them (6-20 accepted)."""
    text = value.strip().upper() if isinstance(value, str) else ""
    if not (6 <= len(text) <= 20 and text.isascii() and text.isalnum()):
        raise DarajaValidationError("Invalid M-Pesa receipt number")
    return text
