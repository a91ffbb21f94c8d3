"""Daraja's own records: SecurityCredential, Transaction Status, Reversal, Pull Transactions."""

import base64
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import responses
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from daraja_testkit import SANDBOX, add_token, body_of, make_client

from daraja import CallbackParseError, DarajaAPIError, DarajaValidationError, InvalidAmount, InvalidUrl
from daraja.api_types import Initiator
from daraja.records import (
    parse_async_result,
    parse_pull_page,
    pull_range,
    reversal_outcome,
    security_credential,
    status_record,
)

RESULT_URL = "https://pos.example.com/pos_lipa/cb/0123456789abcdef/result"
TIMEOUT_URL = "https://pos.example.com/pos_lipa/cb/0123456789abcdef/timeout"
INITIATOR = Initiator("testapi", "Q2xlYXJseU5vdEFSZWFsQ3JlZGVudGlhbA==")
ACK = {
    "OriginatorConversationID": "5118-111210482-1",
    "ConversationID": "AG_20260305_2010325b025970fbc403",
    "ResponseCode": "0",
    "ResponseDescription": "Accept the service request successfully.",
}


@pytest.fixture(scope="module")
def key_and_certificate():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test only")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_security_credential_decrypts_to_the_password_with_pkcs1v15(key_and_certificate, encoding):
    key, cert = key_and_certificate
    credential = security_credential("Safaricom999!*!", cert.public_bytes(encoding))
    assert key.decrypt(base64.b64decode(credential), padding.PKCS1v15()) == b"Safaricom999!*!"
    assert "Safaricom999" not in credential


@pytest.mark.parametrize(
    ("password", "certificate"), [("", b"x"), ("pw", b""), ("pw", b"not a cert"), (None, b"x")]
)
def test_security_credential_refuses_clearly(password, certificate):
    with pytest.raises(DarajaValidationError) as info:
        security_credential(password, certificate)
    assert "pw" not in info.value.message


TS_SUCCESS = {
    "Result": {
        "ResultType": 0,
        "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "OriginatorConversationID": "1236-7134259-1",
        "ConversationID": "AG_20260305_00004e48cf7e3533f581",
        "TransactionID": "NEF61H8J60",
        "ResultParameters": {
            "ResultParameter": [
                {"Key": "DebitPartyName", "Value": "254708374149 - John Doe"},
                {"Key": "CreditPartyName", "Value": "600984 - Shop"},
                {"Key": "FinalisedTime", "Value": 20260305101530},
                {"Key": "Amount", "Value": 100},
                {"Key": "TransactionStatus", "Value": "Completed"},
                {"Key": "ReceiptNo", "Value": "NEF61H8J60"},
                {"Key": "DebitPartyCharges"},
            ]
        },
        "ReferenceData": {"ReferenceItem": {"Key": "Occasion"}},
    }
}


def test_transaction_status_result_gives_the_payment():
    record = status_record(parse_async_result(json.dumps(TS_SUCCESS).encode()))
    assert record.receipt == "NEF61H8J60"
    assert record.amount == Decimal("100")
    assert record.status == "Completed"
    assert record.debit_party.startswith("254708374149")
    assert record.finalised_at == datetime(2026, 3, 5, 7, 15, 30)  # 10:15:30 in Nairobi


def test_result_parameter_as_a_single_object_and_string_codes():
    body = {"Result": {"ResultCode": "2032", "ResultDesc": "The transaction receipt number does not exist."}}
    result = parse_async_result(body)
    assert (result.code, status_record(result)) == ("2032", None)
    single = {
        "Result": {
            "ResultCode": "0",
            "ResultParameters": {"ResultParameter": {"Key": "Amount", "Value": "5"}},
        }
    }
    assert parse_async_result(single).parameters == {"Amount": "5"}


@pytest.mark.parametrize(
    ("code", "outcome"),
    [(0, "reversed"), ("R000001", "already_reversed"), ("R000002", "invalid_original"), (21, "refused")],
)
def test_reversal_outcomes(code, outcome):
    assert (
        reversal_outcome(parse_async_result({"Result": {"ResultCode": code, "ResultDesc": "x"}})) == outcome
    )


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"Result": 1}', b'{"Result": {}}', "\x00", {"x": 1}])
def test_not_a_result(body):
    with pytest.raises(CallbackParseError):
        parse_async_result(body)


@responses.activate
def test_transaction_status_request_shape_and_secret_free_errors():
    add_token(responses)
    url = f"{SANDBOX}/mpesa/transactionstatus/v1/query"
    responses.add(responses.POST, url, json=ACK)
    client = make_client(c2b_shortcode="600984")
    ack = client.transaction_status("nef61h8j60", INITIATOR, RESULT_URL, TIMEOUT_URL)
    assert ack.conversation_id == ACK["ConversationID"]
    body = body_of(responses.calls[-1])
    assert body["CommandID"] == "TransactionStatusQuery"
    assert (body["TransactionID"], body["PartyA"], body["IdentifierType"]) == ("NEF61H8J60", "600984", "4")
    assert body["SecurityCredential"] == INITIATOR.credential
    responses.replace(
        responses.POST,
        url,
        json={"errorCode": "500.001.1001", "errorMessage": INITIATOR.credential},
        status=500,
    )
    with pytest.raises(DarajaAPIError) as info:
        client.transaction_status("NEF61H8J60", INITIATOR, RESULT_URL, TIMEOUT_URL)
    assert INITIATOR.credential not in str(info.value) + repr(info.value)
    assert "testapi" in repr(INITIATOR) and INITIATOR.credential not in repr(INITIATOR)


@pytest.mark.parametrize("receipt", ["", "ABC", "NEF61H8J60; DROP", "N" * 21, None, 12345678])
def test_bad_receipts_are_refused_before_sending(receipt):
    with pytest.raises(DarajaValidationError):
        make_client().transaction_status(receipt, INITIATOR, RESULT_URL, TIMEOUT_URL)


@responses.activate
def test_reversal_request_keeps_the_misspelt_key():
    add_token(responses)
    responses.add(responses.POST, f"{SANDBOX}/mpesa/reversal/v1/request", json=ACK)
    make_client(c2b_shortcode="600984").reversal("PDU91HIVIT", 200, INITIATOR, RESULT_URL, TIMEOUT_URL)
    body = body_of(responses.calls[-1])
    assert body["RecieverIdentifierType"] == "11" and "ReceiverIdentifierType" not in body
    assert (body["Amount"], body["ReceiverParty"], body["CommandID"]) == (
        "200",
        "600984",
        "TransactionReversal",
    )


@pytest.mark.parametrize("amount", ["10.50", 0, -5, "abc", 10.5])
def test_reversal_refuses_decimal_amounts_never_rounds(amount):
    with pytest.raises(InvalidAmount):
        make_client().reversal("PDU91HIVIT", amount, INITIATOR, RESULT_URL, TIMEOUT_URL)


def test_result_urls_follow_production_rules():
    with pytest.raises(InvalidUrl):
        make_client(environment="production").reversal(
            "PDU91HIVIT", 10, INITIATOR, "https://shop.example.com/mpesa/result", TIMEOUT_URL
        )


@pytest.mark.parametrize(("code", "said"), [("1000", "registered"), ("1001", "already registered")])
@responses.activate
def test_pull_register(code, said):
    add_token(responses)
    answer = {
        "ResponseRefID": "x",
        "ResponseStatus": code,
        "ShortCode": "600984",
        "ResponseDescription": "ok",
    }
    responses.add(responses.POST, f"{SANDBOX}/pulltransactions/v1/register", json=answer)
    assert make_client(c2b_shortcode="600984").pull_register("0722000000", RESULT_URL) == said
    assert body_of(responses.calls[-1])["NominatedNumber"] == "254722000000"


NOW = datetime(2026, 3, 5, 12, 0, tzinfo=timezone.utc)


def test_pull_range_in_nairobi_time_within_48_hours():
    assert pull_range(NOW - timedelta(hours=1), NOW, NOW) == ("2026-03-05 14:00:00", "2026-03-05 15:00:00")
    with pytest.raises(DarajaValidationError):
        pull_range(NOW - timedelta(hours=49), NOW, NOW)
    with pytest.raises(DarajaValidationError):
        pull_range(NOW, NOW - timedelta(hours=1), NOW)


def pull_row(receipt, amount="100"):
    return {
        "transactionId": receipt,
        "trxDate": "2026-03-05T10:13:00.000+03:00",
        "msisdn": 254722000000,
        "transactiontype": "c2b-pay-bill-debit",
        "billreference": "Till 1",
        "amount": amount,
        "organizationname": "Shop",
    }


def test_pull_page_shapes():
    rows, found = parse_pull_page(
        {"ResponseCode": "1000", "Response": [[pull_row("RKL51ZDR4F"), pull_row("", "5")]]}
    )
    assert rows == 2 and [t.receipt for t in found] == ["RKL51ZDR4F"]
    assert found[0].occurred_at == datetime(2026, 3, 5, 7, 13) and found[0].amount == Decimal("100")
    assert parse_pull_page({"ResponseCode": "1001", "ResponseMessage": "No records found"}) == (0, [])


@responses.activate
def test_pull_transactions_pages_by_offset_until_no_records():
    add_token(responses)
    url = f"{SANDBOX}/pulltransactions/v1/query"
    responses.add(responses.POST, url, json={"ResponseCode": "1000", "Response": [[pull_row("AAA1111111")]]})
    responses.add(responses.POST, url, json={"ResponseCode": "1000", "Response": [[pull_row("BBB2222222")]]})
    responses.add(responses.POST, url, json={"ResponseCode": "1001", "ResponseMessage": "No records found"})
    client = make_client(c2b_shortcode="600984")
    found = client.pull_transactions(NOW - timedelta(hours=2), NOW, now=NOW)
    assert [t.receipt for t in found] == ["AAA1111111", "BBB2222222"]
    offsets = [body_of(c)["OffSetValue"] for c in responses.calls if c.request.method == "POST"]
    assert offsets == ["0", "1", "2"]
