"""Parsing what Safaricom posts to us: STK callbacks and C2B validation/confirmation requests.

Daraja is loosely typed (docs/daraja.md, "STK callback", "C2B validation and confirmation"): STK
items are read by Name (Balance may have no Value), Amount is a number like 1.00, TransactionDate a
number in EAT, ResultCode a number or a string such as "SFC_IC0003"; C2B amounts are strings and the
MSISDN may be plain, masked or hashed (kept verbatim, never relied on). Every problem raises one
CallbackParseError saying what is wrong.
"""

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from .errors import CallbackParseError
from .results import ResultInfo, classify_result, normalize_code
from .timeutil import eat_to_utc

STK = "stk"
C2B_CONFIRMATION = "c2b_confirmation"
C2B_VALIDATION = "c2b_validation"
UNKNOWN = "unknown"
KINDS = (STK, C2B_CONFIRMATION, C2B_VALIDATION)
_MAX_TEXT = 1000
_MAX_NUMBER_TEXT = 40
_MAX_AMOUNT = Decimal(10) ** 12  # far above any M-Pesa balance; keeps float() of it meaningful
# M-Pesa's own identifiers: receipts like QKX1ABCD23, ws_CO_2611...  / 29115-34620561-1, shortcodes
_RECEIPT = re.compile(r"^[A-Za-z0-9]{1,40}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_SHORTCODE = re.compile(r"^[0-9]{4,10}$")


@dataclass(frozen=True)
class StkCallback:
    merchant_request_id: str
    checkout_request_id: str
    result_code: str
    result_desc: str
    result: ResultInfo
    amount: Decimal | None = None
    receipt_number: str | None = None
    transaction_time: datetime | None = None  # naive UTC
    phone: str | None = None  # verbatim: may become masked or absent

    @property
    def is_success(self) -> bool:
        return self.result_code == "0"


@dataclass(frozen=True)
class C2BNotification:
    kind: str  # 'c2b_confirmation' or 'c2b_validation'
    transaction_type: str
    trans_id: str
    trans_time: datetime  # naive UTC
    amount: Decimal
    business_short_code: str
    bill_ref_number: str = ""
    invoice_number: str = ""
    org_account_balance: str = ""
    third_party_trans_id: str = ""
    msisdn: str = field(default="", repr=False)  # verbatim, may be masked or a SHA-256 hash
    first_name: str = ""
    middle_name: str = ""
    last_name: str = ""

    @property
    def customer_name(self) -> str:
        return " ".join(
            part.strip() for part in (self.first_name, self.middle_name, self.last_name) if part.strip()
        )


def load_callback_body(payload) -> dict:
    """The JSON object of a callback body (bytes, str or dict); CallbackParseError for anything else:
    not UTF-8, not JSON, nested too deeply for the parser, not an object."""
    return _load(payload)


def _load(payload) -> dict:
    if isinstance(payload, (bytes, bytearray)):
        try:
            payload = bytes(payload).decode("utf-8")
        except UnicodeDecodeError:
            raise CallbackParseError("Callback body is not UTF-8 text") from None
    if isinstance(payload, str):
        if not payload.strip():
            raise CallbackParseError("Callback body is empty")
        try:
            # Decimal keeps amounts exactly as sent ("Value": 100.00 stays 100.00)
            payload = json.loads(payload, parse_float=Decimal)
        except (ValueError, RecursionError):
            raise CallbackParseError("Callback body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise CallbackParseError("Callback body is not a JSON object")
    return payload


def _detect(payload: dict) -> str:
    body = payload.get("Body")
    if isinstance(body, dict) and isinstance(body.get("stkCallback"), dict):
        return STK
    if "TransID" in payload:
        # validation carries a blank OrgAccountBalance; a confirmation has the new balance, or no key at all
        balance = payload.get("OrgAccountBalance", ...)
        if balance is None or (isinstance(balance, str) and not balance.strip()):
            return C2B_VALIDATION
        return C2B_CONFIRMATION
    return UNKNOWN


def detect_callback_kind(payload) -> str:
    """'stk', 'c2b_confirmation', 'c2b_validation' or 'unknown'; never raises."""
    try:
        return _detect(_load(payload))
    except CallbackParseError:
        return UNKNOWN


def _is_whole(value) -> bool:
    """A float/Decimal that is really an integer (JSON numbers like 254708374149.0 or 0.0)."""
    if isinstance(value, float):
        return math.isfinite(value) and value.is_integer() and abs(value) < 1e18
    return value.is_finite() and value == value.to_integral_value() and abs(value) < Decimal(10) ** 18


def _text(value, name: str, required: bool = False) -> str:
    """A string field that Daraja may also send as a number; None/absent -> ''."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        raise CallbackParseError(f"{name} must be text, not a boolean")
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int):
        if abs(value) >= 10**_MAX_NUMBER_TEXT:
            raise CallbackParseError(f"{name} is too long")
        text = str(value)
    elif isinstance(value, (float, Decimal)):
        if not _is_whole(value):
            raise CallbackParseError(f"{name} is not a valid value")
        text = str(int(value))
    else:
        raise CallbackParseError(f"{name} must be text")
    if len(text) > _MAX_TEXT:
        raise CallbackParseError(f"{name} is too long")
    if "\x00" in text:
        raise CallbackParseError(f"{name} contains a NUL character")
    if any("\ud800" <= char <= "\udfff" for char in text):
        raise CallbackParseError(f"{name} is not valid text")  # a lone surrogate escape (\udXXX)
    if required and not text.strip():
        raise CallbackParseError(f"{name} is missing")
    return text


def _amount(value, name: str) -> Decimal:
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        raise CallbackParseError(f"{name} is missing or not a number")
    if isinstance(value, float):
        text = repr(value)
    elif isinstance(value, int):
        if abs(value) >= 10**_MAX_NUMBER_TEXT:
            raise CallbackParseError(f"{name} is not a valid amount")
        text = str(value)
    elif isinstance(value, (str, Decimal)):
        text = str(value).strip()
    else:
        raise CallbackParseError(f"{name} is not a number")
    if len(text) > _MAX_NUMBER_TEXT:
        raise CallbackParseError(f"{name} is not a valid amount")
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        raise CallbackParseError(f"{name} is not a number") from None
    if not amount.is_finite() or amount < 0 or amount > _MAX_AMOUNT:
        raise CallbackParseError(f"{name} is not a valid amount")
    return amount


def _date(value, name: str) -> datetime:
    if isinstance(value, (float, Decimal)) and _is_whole(value):
        value = int(value)
    try:
        return eat_to_utc(value)
    except (ValueError, TypeError, OverflowError):
        raise CallbackParseError(f"{name} is not a date in the form YYYYMMDDHHmmss") from None


def _items(stk: dict) -> dict:
    metadata = stk.get("CallbackMetadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise CallbackParseError("CallbackMetadata is not an object")
    items = metadata.get("Item")
    if items is None:
        return {}
    if isinstance(items, dict):  # a single item sent as an object
        items = [items]
    if not isinstance(items, list):
        raise CallbackParseError("CallbackMetadata.Item is not a list")
    values = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
            raise CallbackParseError(f"CallbackMetadata.Item[{index}] has no Name")
        values[item["Name"]] = item.get("Value")  # Balance comes without a Value
    return values


def _parse_stk(payload: dict) -> StkCallback:
    body = payload.get("Body")
    stk = body.get("stkCallback") if isinstance(body, dict) else None
    if not isinstance(stk, dict):
        raise CallbackParseError("Not an STK callback: Body.stkCallback is missing")
    checkout_id = _identifier(stk.get("CheckoutRequestID"), "CheckoutRequestID", _REQUEST_ID)
    merchant_id = _identifier(stk.get("MerchantRequestID"), "MerchantRequestID", _REQUEST_ID)
    if "ResultCode" not in stk:
        raise CallbackParseError("ResultCode is missing")
    code = normalize_code(_text(stk.get("ResultCode"), "ResultCode", required=True))
    if not code:
        raise CallbackParseError("ResultCode is missing")
    items = _items(stk)
    amount = items.get("Amount")
    receipt = items.get("MpesaReceiptNumber")
    if receipt in (None, ""):
        receipt = None
    date = items.get("TransactionDate")
    phone = items.get("PhoneNumber")
    return StkCallback(
        merchant_request_id=merchant_id,
        checkout_request_id=checkout_id,
        result_code=code,
        result_desc=_text(stk.get("ResultDesc"), "ResultDesc"),
        result=classify_result(code),
        amount=None if amount is None else _amount(amount, "Amount"),
        receipt_number=None if receipt is None else _identifier(receipt, "MpesaReceiptNumber", _RECEIPT),
        transaction_time=None if date is None else _date(date, "TransactionDate"),
        phone=_text(phone, "PhoneNumber") or None,
    )


def _identifier(value, name: str, pattern) -> str:
    """An id M-Pesa issues (receipt, request id, shortcode): its own alphabet only."""
    text = _text(value, name, required=True).strip()
    if not pattern.match(text):
        raise CallbackParseError(f"{name} is not a valid identifier")
    return text


def _parse_c2b(payload: dict, kind: str) -> C2BNotification:
    if "TransID" not in payload:
        raise CallbackParseError("Not a C2B notification: TransID is missing")
    for name in ("TransAmount", "TransTime", "BusinessShortCode"):
        if payload.get(name) in (None, ""):
            raise CallbackParseError(f"{name} is missing")
    return C2BNotification(
        kind=kind,
        transaction_type=_text(payload.get("TransactionType"), "TransactionType"),
        trans_id=_identifier(payload.get("TransID"), "TransID", _RECEIPT),
        trans_time=_date(payload.get("TransTime"), "TransTime"),
        amount=_amount(payload.get("TransAmount"), "TransAmount"),
        business_short_code=_identifier(payload.get("BusinessShortCode"), "BusinessShortCode", _SHORTCODE),
        bill_ref_number=_text(payload.get("BillRefNumber"), "BillRefNumber"),
        invoice_number=_text(payload.get("InvoiceNumber"), "InvoiceNumber"),
        org_account_balance=_text(payload.get("OrgAccountBalance"), "OrgAccountBalance"),
        third_party_trans_id=_text(payload.get("ThirdPartyTransID"), "ThirdPartyTransID"),
        msisdn=_text(payload.get("MSISDN"), "MSISDN"),
        first_name=_text(payload.get("FirstName"), "FirstName"),
        middle_name=_text(payload.get("MiddleName"), "MiddleName"),
        last_name=_text(payload.get("LastName"), "LastName"),
    )


def parse_callback(payload, kind: str | None = None) -> StkCallback | C2BNotification:
    """Parse a callback body (dict, bytes or str). ``kind`` forces the type; None detects it."""
    data = _load(payload)
    if kind is None:
        kind = _detect(data)
        if kind == UNKNOWN:
            raise CallbackParseError(
                "Neither an STK callback (Body.stkCallback) nor a C2B notification (TransID)"
            )
    elif kind not in KINDS:
        raise CallbackParseError(f"Unknown callback kind; expected one of {', '.join(KINDS)}")
    if kind == STK:
        return _parse_stk(data)
    return _parse_c2b(data, kind)
