"""STK push: Daraja's exact validation errors, credentials, locking and the response/ID formats."""

import re
from datetime import datetime

import pytest
from sim_helpers import password

from daraja_simulator.ids import EAT


def error_of(response):
    data = response.json()
    assert set(data) == {"requestId", "errorCode", "errorMessage"}
    return response.status_code, data["errorCode"], data["errorMessage"]


def test_accepted_response_shape_and_ids(daraja):
    r = daraja.push("254712345600")
    assert r.status_code == 200
    data = r.json()
    assert data["ResponseCode"] == "0"
    assert (
        data["ResponseDescription"] == data["CustomerMessage"] == "Success. Request accepted for processing"
    )
    assert re.fullmatch(
        r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[0-9]{7}", data["MerchantRequestID"]
    )
    match = re.fullmatch(r"ws_CO_([0-9]{14})([0-9]{3})([0-9]{9})", data["CheckoutRequestID"])
    assert match and match.group(3) == "712345600"
    stamp = datetime.strptime(match.group(1), "%d%m%Y%H%M%S").replace(tzinfo=EAT)
    assert abs((datetime.now(EAT) - stamp).total_seconds()) < 60  # EAT, not UTC


def test_numbers_or_strings_accepted(daraja):
    r = daraja.push("254712345600", BusinessShortCode="174379", Amount=10, PartyB=174379, PartyA=254712345600)
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"BusinessShortCode": "17"}, "BusinessShortCode"),
        ({"BusinessShortCode": None}, "BusinessShortCode"),
        ({"Password": ""}, "Password"),
        ({"Timestamp": "2026112610"}, "Timestamp"),
        ({"Timestamp": "20261399101500"}, "Timestamp"),
        ({"TransactionType": "CustomerPayMerchant"}, "TransactionType"),
        ({"Amount": "1.50"}, "Amount"),
        ({"Amount": 1.5}, "Amount"),
        ({"Amount": "10.00"}, "Amount"),
        ({"Amount": 0}, "Amount"),
        ({"Amount": -5}, "Amount"),
        ({"Amount": 250001}, "Amount"),
        ({"Amount": None}, "Amount"),
        ({"Amount": True}, "Amount"),
        ({"PartyA": "0712345678"}, "PartyA"),
        ({"PartyB": "x"}, "PartyB"),
        ({"PhoneNumber": "25571234567"}, "PhoneNumber"),
        ({"PhoneNumber": "254212345600"}, "PhoneNumber"),
        ({"CallBackURL": "https://example.test/cb path"}, "CallBackURL"),
        ({"CallBackURL": "ftp://example.test/cb"}, "CallBackURL"),
        ({"CallBackURL": ""}, "CallBackURL"),
        ({"AccountReference": None}, "Remarks"),
        ({"TransactionDesc": None}, "Remarks"),
        ({"AccountReference": "   "}, "Remarks"),
        ({"AccountReference": "ABCDEFGHIJKLM"}, "AccountReference"),
    ],
)
def test_field_validation(daraja, overrides, field):
    assert error_of(daraja.push("254712345600", **overrides)) == (
        400,
        "400.002.02",
        f"Bad Request - Invalid {field}",
    )


def test_limits_accepted(daraja):
    assert daraja.push("254712345600", Amount=1).status_code == 200
    assert daraja.push("254712345700", Amount="250000").status_code == 200
    assert daraja.push("254112345800", AccountReference="ABCDEFGHIJKL").status_code == 200


def test_wrong_content_type_is_invalid_shortcode(daraja):
    r = daraja.http.post(
        f"{daraja.base}/mpesa/stkpush/v1/processrequest",
        data=b'{"BusinessShortCode": 174379}',
        headers={"Authorization": f"Bearer {daraja.token()}", "Content-Type": "text/plain"},
        timeout=5,
    )
    assert error_of(r) == (400, "400.002.02", "Bad Request - Invalid BusinessShortCode")


def test_malformed_json(daraja):
    r = daraja.http.post(
        f"{daraja.base}/mpesa/stkpush/v1/processrequest",
        data=b"{not json",
        headers={"Authorization": f"Bearer {daraja.token()}", "Content-Type": "application/json"},
        timeout=5,
    )
    assert error_of(r) == (400, "400.002.05", "Invalid Request Payload")


def test_wrong_password(daraja):
    r = daraja.push("254712345600", Password=password(passkey="nope"))
    assert error_of(r) == (500, "500.001.1001", "Wrong credentials")
    # The timestamp inside the password must be the one sent.
    r = daraja.push("254712345600", Timestamp="20261126101501")
    assert error_of(r) == (500, "500.001.1001", "Wrong credentials")


def test_unknown_merchant(daraja):
    r = daraja.push("254712345600", BusinessShortCode="999999", Password=password("999999"))
    assert error_of(r) == (500, "500.001.1001", "Merchant does not exist")


def test_open_prompt_locks_subscriber(daraja):
    first = daraja.push("254712345678")  # suffix 78: interactive, stays open
    assert first.status_code == 200
    r = daraja.push("254712345678")
    assert error_of(r) == (
        500,
        "500.001.1001",
        "Unable to lock subscriber, a transaction is already in process for the current subscriber",
    )
    assert daraja.push("254712345679").status_code == 200  # another phone is free
    daraja.control(f"stk/{first.json()['CheckoutRequestID']}/cancel")
    assert daraja.push("254712345678").status_code == 200  # free again once answered


def test_refused_push_creates_nothing(daraja):
    daraja.push("254712345678", Amount="1.5")
    assert daraja.control("transactions").json()["transactions"] == []


def test_till_push(daraja):
    r = daraja.push(
        "254712345600",
        BusinessShortCode="174380",
        Password=password("174380"),
        TransactionType="CustomerBuyGoodsOnline",
        PartyB="174381",
    )
    assert r.status_code == 200
    assert daraja.query(r.json()["CheckoutRequestID"], "174380").json()["ResultCode"] == "0"


@pytest.mark.parametrize(
    ("shortcode", "transaction_type", "party_b", "code"),
    [
        ("174379", "CustomerBuyGoodsOnline", "174379", "2028"),  # paybill sent as buy goods
        ("174380", "CustomerPayBillOnline", "174381", "2028"),  # till sent as paybill
        ("174380", "CustomerBuyGoodsOnline", "174380", "SFC_IC0003"),  # store number as PartyB
        ("174379", "CustomerPayBillOnline", "600984", "SFC_IC0003"),
    ],
)
def test_till_paybill_mismatch_ends_in_failure(daraja, receiver, shortcode, transaction_type, party_b, code):
    r = daraja.push(
        "254712345600",
        callback_url=f"{receiver.url}/cb",
        BusinessShortCode=shortcode,
        Password=password(shortcode),
        TransactionType=transaction_type,
        PartyB=party_b,
    )
    assert r.status_code == 200  # accepted: the mismatch shows up as the result
    assert daraja.query(r.json()["CheckoutRequestID"], shortcode).json()["ResultCode"] == code
    callback = receiver.json()["Body"]["stkCallback"]
    assert callback["ResultCode"] == (int(code) if code.isdigit() else code)


def test_long_reference_no_prompt_mode(daraja, receiver):
    daraja.control("options", {"long_account_reference": "no_prompt"})
    r = daraja.push("254712345678", callback_url=f"{receiver.url}/cb", AccountReference="ABCDEFGHIJKLMNOP")
    assert r.status_code == 200
    assert daraja.query(r.json()["CheckoutRequestID"]).json()["ResultCode"] == "1037"
    assert receiver.json()["Body"]["stkCallback"]["ResultCode"] == 1037


def test_method_not_allowed(daraja):
    r = daraja.http.get(f"{daraja.base}/mpesa/stkpush/v1/processrequest", timeout=5)
    assert error_of(r) == (405, "405.001", "Method Not Allowed")
