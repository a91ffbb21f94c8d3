"""What the client returns for each Daraja call."""

from dataclasses import dataclass, field

from .results import ResultInfo


@dataclass(frozen=True)
class StkPushResponse:
    """Daraja accepted the push for processing: this is not a payment yet."""

    merchant_request_id: str
    checkout_request_id: str
    response_code: str
    response_description: str
    customer_message: str
    phone: str  # normalised 2547XXXXXXXX / 2541XXXXXXXX
    amount: int
    account_reference: str = ""  # as sent, after sanitising
    transaction_desc: str = ""


@dataclass(frozen=True)
class StkQueryResult:
    result: ResultInfo
    raw: dict | None = field(default=None, repr=False)


@dataclass(frozen=True)
class C2BRegisterResponse:
    response_code: str
    response_description: str
    originator_conversation_id: str
    raw: dict | None = field(default=None, repr=False)
    api_version: str = ""  # the C2B API version Daraja accepted (v1 or v2)


@dataclass(frozen=True)
class Initiator:
    """The API operator of the M-PESA Org portal that Transaction Status and Reversal act as."""

    name: str
    credential: str = field(repr=False)  # SecurityCredential (daraja/records.py): a secret


@dataclass(frozen=True)
class AsyncAck:
    """Daraja took an asynchronous request: its Result will be POSTed to the ResultURL."""

    conversation_id: str
    originator_conversation_id: str
    response_description: str
