"""Every phone-suffix scenario of the simulator (README, "The Daraja simulator"), seen through the
callback and the query."""

import json
import re
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import requests
from sim_helpers import Daraja

from daraja_simulator import SimulatorServer

FAILURES = [
    ("01", 1032, "Request Cancelled by user.", "Request cancelled by user"),
    ("02", 1, "The balance is insufficient for the transaction.", None),
    ("03", 1037, "No response from user.", "DS timeout user cannot be reached."),
    ("04", 2001, "The initiator information is invalid.", None),
    (
        "05",
        1001,
        "Unable to lock subscriber, a transaction is already in process for the current subscriber.",
        None,
    ),
    ("06", 17, "Rule limited.", None),
    ("07", "SFC_IC0003", "The operator does not exist.", None),
    ("10", 1019, "Transaction has expired.", None),
    ("11", 1036, "SMSC ACK timeout.", None),
    ("12", 1025, "An error occurred while sending a push request.", None),
    ("13", 9999, "Internal error occurred while executing the transaction.", None),
    ("14", 1031, "Request cancelled by user", None),
]


def items_by_name(callback):
    return {item["Name"]: item for item in callback["CallbackMetadata"]["Item"]}


def test_success_callback_with_daraja_quirks(daraja, receiver):
    r = daraja.push("254712345600", callback_url=f"{receiver.url}/pos/cb/abc123?x=1", Amount="150")
    checkout_id = r.json()["CheckoutRequestID"]
    request = receiver.wait_for(1)[0]
    assert request["path"] == "/pos/cb/abc123?x=1"  # delivered verbatim
    assert request["headers"]["Content-Type"] == "application/json;charset=UTF-8"
    assert request["headers"]["BusinessShortCode"] == "174379"
    assert b'"Value": 150.00' in request["raw"]  # a JSON number written with decimals
    callback = json.loads(request["raw"], parse_float=Decimal)["Body"]["stkCallback"]
    assert callback["MerchantRequestID"] == r.json()["MerchantRequestID"]
    assert callback["CheckoutRequestID"] == checkout_id
    assert callback["ResultCode"] == 0
    assert callback["ResultDesc"] == "The service request is processed successfully."
    items = items_by_name(callback)
    assert items["Amount"]["Value"] == Decimal("150.00")
    assert "Value" not in items["Balance"]
    assert re.fullmatch(r"[A-Z][A-Z0-9]{9}", items["MpesaReceiptNumber"]["Value"])
    assert items["PhoneNumber"]["Value"] == 254712345600
    date = items["TransactionDate"]["Value"]
    assert isinstance(date, int)
    eat = datetime.strptime(str(date), "%Y%m%d%H%M%S")
    utc_now = datetime.now(timezone.utc).replace(tzinfo=None)
    assert abs((eat - timedelta(hours=3) - utc_now).total_seconds()) < 60
    listing = daraja.control("transactions").json()["transactions"][0]
    assert listing["receipt_number"] == items["MpesaReceiptNumber"]["Value"]
    query = daraja.query(checkout_id).json()
    assert query["ResultCode"] == "0"
    assert query["ResultDesc"] == "The service request is processed successfully."


@pytest.mark.parametrize(("suffix", "code", "callback_desc", "query_desc"), FAILURES)
def test_failure_scenarios(daraja, receiver, suffix, code, callback_desc, query_desc):
    r = daraja.push(f"2547123456{suffix}", callback_url=f"{receiver.url}/cb")
    checkout_id = r.json()["CheckoutRequestID"]
    callback = receiver.json()["Body"]["stkCallback"]
    assert callback["CheckoutRequestID"] == checkout_id
    assert callback["ResultCode"] == code  # a number, or the string SFC_IC0003
    assert callback["ResultDesc"] == callback_desc
    assert "CallbackMetadata" not in callback
    query = daraja.query(checkout_id)
    assert query.status_code == 200
    assert query.json() == {
        "ResponseCode": "0",
        "ResponseDescription": "The service request has been accepted successfully",
        "MerchantRequestID": r.json()["MerchantRequestID"],
        "CheckoutRequestID": checkout_id,
        "ResultCode": str(code),  # always a string on the query
        "ResultDesc": query_desc or callback_desc,
    }


def test_success_without_callback(daraja, receiver):
    r = daraja.push("254712345608", callback_url=f"{receiver.url}/cb")
    checkout_id = r.json()["CheckoutRequestID"]
    assert daraja.query(checkout_id).json()["ResultCode"] == "0"  # the query still answers
    with pytest.raises(AssertionError):
        receiver.wait_for(1, timeout=0.5)
    assert daraja.control("callbacks").json()["callbacks"] == []


def test_success_delivered_twice(daraja, receiver):
    daraja.push("254712345609", callback_url=f"{receiver.url}/cb")
    first, second = receiver.wait_for(2)
    assert first["raw"] == second["raw"]
    assert json.loads(first["raw"])["Body"]["stkCallback"]["ResultCode"] == 0


def test_callback_delay(receiver):
    with SimulatorServer(callback_delay=0.3) as sim:
        d = Daraja(sim.base_url)
        started = time.monotonic()
        checkout_id = d.push("254712345600", callback_url=f"{receiver.url}/cb").json()["CheckoutRequestID"]
        assert d.query(checkout_id).status_code == 500  # still pending before the delay
        receiver.wait_for(1)
        assert time.monotonic() - started >= 0.3
        assert d.query(checkout_id).json()["ResultCode"] == "0"


def test_callback_delivered_once_even_if_receiver_fails(daraja, receiver):
    receiver.replies["/cb"] = (500, b"boom")
    daraja.push("254712345601", callback_url=f"{receiver.url}/cb")
    receiver.wait_for(1)
    with pytest.raises(AssertionError):
        receiver.wait_for(2, timeout=0.3)
    log = daraja.control("callbacks").json()["callbacks"]
    assert len(log) == 1 and log[0]["http_status"] == 500


def test_interactive_prompt_expires_with_1037():
    with SimulatorServer(prompt_timeout=0.2) as sim:
        d = Daraja(sim.base_url)
        checkout_id = d.push("254712345678").json()["CheckoutRequestID"]
        for _ in range(200):
            r = d.query(checkout_id)
            if r.status_code == 200 and r.json()["ResultCode"] != "4999":
                break
        assert r.json()["ResultCode"] == "1037"
        assert r.json()["ResultDesc"] == "DS timeout user cannot be reached."


def test_forced_scenario_for_a_phone(daraja, receiver):
    r = daraja.control("scenario", {"phone": "0712345678", "result_code": "SFC_IC0003"})
    assert r.json()["overrides"]["254712345678"] == {
        "result_code": "SFC_IC0003",
        "result_desc": "The operator does not exist.",
        "callback": "once",
    }
    daraja.push("254712345678", callback_url=f"{receiver.url}/cb")
    assert receiver.json()["Body"]["stkCallback"]["ResultCode"] == "SFC_IC0003"
    daraja.control("scenario", {"phone": "254712345600", "result_code": 1032, "callback": "none"})
    checkout_id = daraja.push("254712345600", callback_url=f"{receiver.url}/cb").json()["CheckoutRequestID"]
    assert daraja.query(checkout_id).json()["ResultCode"] == "1032"
    assert len(receiver.requests) == 1
    daraja.control("scenario", {"phone": "254712345600", "result_code": None})  # back to the table
    assert "254712345600" not in daraja.control("scenario").json()["overrides"]
    daraja.control("scenario", {"phone": "254712345600", "result_code": "interactive"})
    checkout_id = daraja.push("254712345600").json()["CheckoutRequestID"]
    assert daraja.control("transactions").json()["transactions"][0]["status"] == "pending"
    assert daraja.control(f"stk/{checkout_id}/resolve", {"result_code": 0}).status_code == 200


def test_callback_forwarded_for_option(daraja, receiver):
    daraja.control("options", {"callback_forwarded_for": "196.201.212.69"})
    daraja.push("254712345600", callback_url=f"{receiver.url}/cb")
    assert receiver.wait_for(1)[0]["headers"]["X-Forwarded-For"] == "196.201.212.69"
    assert daraja.control("options", {"callback_forwarded_for": "a\r\nb"}).status_code == 400


def test_late_push_answer_still_creates_the_prompt(daraja):
    daraja.control("options", {"push_response_delay": 2})
    with pytest.raises(requests.ReadTimeout):
        daraja.http.post(
            f"{daraja.base}/mpesa/stkpush/v1/processrequest",
            json=daraja.stk_body("254712345678"),
            headers={"Authorization": f"Bearer {daraja.token()}"},
            timeout=(5, 0.3),
        )
    rows = daraja.control("transactions").json()["transactions"]
    assert len(rows) == 1 and rows[0]["status"] == "pending"  # the customer was prompted anyway
