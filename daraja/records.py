"""Daraja's own records: SecurityCredential, the asynchronous Result of Transaction Status and Reversal,
and the rows of Pull Transactions (docs/daraja.md, "APIs for records and refunds").

Pure functions: the client (client.py) sends the requests, the Odoo side stores what these parse.
"""

import base64
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from .errors import CallbackParseError, DarajaValidationError
from .results import normalize_code
from .timeutil import NAIROBI, eat_to_utc

PULL_WINDOW = timedelta(hours=48)  # Pull Transactions answers for the last 48 hours only
PULL_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"  # Nairobi time
REVERSAL_ALREADY = "R000001"  # the original transaction was already reversed
REVERSAL_INVALID_ORIGINAL = "R000002"  # the original transaction is not a reversible receipt
STATUS_UNKNOWN_RECEIPT = "2032"  # Transaction Status: M-Pesa has no such receipt
_MAX_TEXT = 200


def security_credential(password: str, certificate: bytes) -> str:
    """base64(RSA PKCS#1 v1.5 encryption of the initiator password) under Safaricom's certificate
    (PEM or DER). The password never appears in an error."""
    from cryptography import x509  # Odoo's own dependency; imported here: the simulator does not need it
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    if not isinstance(password, str) or not password:
        raise DarajaValidationError("The initiator password is required")
    if not isinstance(certificate, (bytes, bytearray)) or not certificate.strip():
        raise DarajaValidationError("Safaricom's certificate is required")
    try:
        data = bytes(certificate)
        cert = (
            x509.load_pem_x509_certificate(data)
            if b"-----BEGIN" in data
            else x509.load_der_x509_certificate(data)
        )
        key = cert.public_key()
    except ValueError:
        raise DarajaValidationError("The certificate is not an X.509 certificate (PEM or DER)") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise DarajaValidationError("The certificate does not hold an RSA public key")
    encrypted = key.encrypt(password.encode(), padding.PKCS1v15())
    return base64.b64encode(encrypted).decode()


def _text(value) -> str:
    if value is None or isinstance(value, (dict, list, bool)):
        return ""
    return str(value).strip()[:_MAX_TEXT]


def _items(container, list_key) -> list[dict]:
    """Daraja's {"X": [{"Key", "Value"}]} or {"X": {"Key", "Value"}}: a list of dicts either way."""
    if not isinstance(container, dict):
        return []
    items = container.get(list_key)
    if isinstance(items, dict):
        items = [items]
    return [item for item in items or [] if isinstance(item, dict)]


def _amount(value) -> Decimal | None:
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def _eat_time(value) -> datetime | None:
    """'20260305101530' (Daraja's compact stamp), as a naive UTC datetime; None if unreadable."""
    text = _text(value)
    if len(text) == 14 and text.isdigit():
        try:
            return eat_to_utc(text)
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class AsyncResult:
    """The Result that Transaction Status and Reversal POST to the ResultURL."""

    code: str  # "0" success; "2032", "R000001", ... compared as strings
    description: str
    conversation_id: str
    originator_conversation_id: str
    transaction_id: str  # the receipt of this request's own M-Pesa transaction (a reversal's, say)
    parameters: dict = field(default_factory=dict)  # Key -> Value, items without Value left out

    @property
    def is_success(self) -> bool:
        return self.code == "0"

    def parameter(self, *keys) -> str:
        for key in keys:
            if self.parameters.get(key) not in (None, ""):
                return _text(self.parameters[key])
        return ""


def parse_async_result(body) -> AsyncResult:
    """Parse {"Result": {...}} (bytes, str or dict); CallbackParseError if it is not one."""
    if isinstance(body, (bytes, bytearray, str)):
        try:
            body = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise CallbackParseError("The result is not JSON") from None
    result = body.get("Result") if isinstance(body, dict) else None
    if not isinstance(result, dict):
        raise CallbackParseError("Not a Daraja result: no Result object")
    code = normalize_code(result.get("ResultCode"))
    if not code:
        raise CallbackParseError("The result has no ResultCode")
    parameters = {}
    for item in _items(result.get("ResultParameters"), "ResultParameter"):
        key = _text(item.get("Key"))
        if key and "Value" in item:
            parameters[key] = item["Value"]
    return AsyncResult(
        code=code,
        description=_text(result.get("ResultDesc")),
        conversation_id=_text(result.get("ConversationID")),
        originator_conversation_id=_text(result.get("OriginatorConversationID")),
        transaction_id=_text(result.get("TransactionID")),
        parameters=parameters,
    )


@dataclass(frozen=True)
class StatusRecord:
    """What Transaction Status says of a receipt."""

    receipt: str
    amount: Decimal | None
    status: str  # Daraja's TransactionStatus, e.g. "Completed"
    debit_party: str  # the payer, e.g. "254708374149 - John Doe"
    credit_party: str  # the shortcode paid, e.g. "600984 - Shop"
    finalised_at: datetime | None  # naive UTC


def status_record(result: AsyncResult) -> StatusRecord | None:
    """The payment a successful Transaction Status result describes; None for a failed lookup."""
    if not result.is_success:
        return None
    return StatusRecord(
        receipt=result.parameter("ReceiptNo") or result.transaction_id,
        amount=_amount(result.parameters.get("Amount")),
        status=result.parameter("TransactionStatus"),
        debit_party=result.parameter("DebitPartyName"),
        credit_party=result.parameter("CreditPartyName"),
        finalised_at=_eat_time(result.parameters.get("FinalisedTime")),
    )


def reversal_outcome(result: AsyncResult) -> str:
    """'reversed', 'already_reversed', 'invalid_original' or 'refused' (Daraja's reason in the result)."""
    return {
        "0": "reversed",
        REVERSAL_ALREADY: "already_reversed",
        REVERSAL_INVALID_ORIGINAL: "invalid_original",
    }.get(result.code, "refused")


@dataclass(frozen=True)
class PulledTransaction:
    receipt: str
    amount: Decimal
    msisdn: str  # as Daraja gives it: may be masked or hashed
    bill_ref_number: str
    transaction_type: str
    occurred_at: datetime | None  # naive UTC


def pull_range(start: datetime, end: datetime, now: datetime) -> tuple[str, str]:
    """StartDate/EndDate of a Pull query (aware datetimes): Nairobi time, within the last 48 hours."""
    if start.tzinfo is None or end.tzinfo is None or now.tzinfo is None:
        raise DarajaValidationError("Pull Transactions needs aware datetimes")
    if start >= end:
        raise DarajaValidationError("The start of the range must be before its end")
    if start < now - PULL_WINDOW:
        raise DarajaValidationError("M-Pesa keeps Pull Transactions for the last 48 hours only")
    # whole seconds: the start rounded down, the end up, so the range covers what was asked
    last = min(end, now)
    if last.microsecond:
        last = last.replace(microsecond=0) + timedelta(seconds=1)
    return (
        start.astimezone(NAIROBI).strftime(PULL_DATE_FORMAT),
        last.astimezone(NAIROBI).strftime(PULL_DATE_FORMAT),
    )


def _pull_time(value) -> datetime | None:
    """'2026-03-05 10:15:30' (Nairobi) or ISO '2026-03-05T10:15:30.000+03:00', as naive UTC."""
    text = _text(value)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return _eat_time(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=NAIROBI)
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def _pull_rows(data) -> list:
    rows = data.get("Response") if isinstance(data, dict) else None
    if isinstance(rows, list) and rows and isinstance(rows[0], list):
        rows = rows[0]  # Daraja nests the page in a list of one list
    return rows if isinstance(rows, list) else []


def parse_pull_page(data) -> tuple[int, list[PulledTransaction]]:
    """(rows in the page, its transactions) of a Pull query answer; "no records" is (0, []).
    Rows without a receipt or a positive amount are left out (they cannot be a payment)."""
    rows = _pull_rows(data)
    transactions = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        receipt = _text(row.get("transactionId"))
        amount = _amount(row.get("amount"))
        if not receipt or amount is None or amount <= 0 or not math.isfinite(float(amount)):
            continue
        transactions.append(
            PulledTransaction(
                receipt=receipt.upper(),
                amount=amount,
                msisdn=_text(row.get("msisdn")),
                bill_ref_number=_text(row.get("billreference")),
                transaction_type=_text(row.get("transactiontype")),
                occurred_at=_pull_time(row.get("trxDate")),
            )
        )
    return len(rows), transactions
