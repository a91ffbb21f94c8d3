"""The STK -> C2B twin, fault options, a query contradicting the callback, unregistered shortcodes."""

import json
import time

import pytest
import requests
from sim_helpers import Daraja, Receiver, register_receiver, wait_until

from daraja_simulator import SimulatorServer

PAID = "254712345600"  # suffix 00: paid at once


def _stk_callback(receiver, index=0):
    return receiver.json(index, path="/stk")


# -- the STK -> C2B twin ------------------------------------------------------------------------------


def test_paid_stk_push_is_also_notified_to_the_c2b_confirmation_url(daraja, receiver):
    register_receiver(daraja, receiver)
    r = daraja.push(PAID, callback_url=f"{receiver.url}/stk", AccountReference="ORD-7")
    assert r.status_code == 200
    stk = _stk_callback(receiver)["Body"]["stkCallback"]
    items = {i["Name"]: i.get("Value") for i in stk["CallbackMetadata"]["Item"]}
    twin = receiver.json(0, path="/c2b/confirm")
    assert twin["TransID"] == items["MpesaReceiptNumber"]
    assert twin["TransAmount"] == "10.00"
    assert twin["BusinessShortCode"] == "600984"  # the paybill's C2B shortcode
    assert twin["BillRefNumber"] == "ORD-7"
    paths = [req["path"] for req in receiver.wait_for(2)]
    assert paths == ["/stk", "/c2b/confirm"]  # default "after": the STK callback first
    txn = daraja.control("transactions").json()["transactions"][0]
    assert txn["c2b_twin"] == "sent"
    # no validation request for an STK payment, and no second payment in the listing
    assert not [req for req in receiver.requests if req["path"] == "/c2b/validate"]
    assert [t["kind"] for t in daraja.control("transactions").json()["transactions"]] == ["stk"]


def test_till_twin_goes_to_the_till_number(daraja, receiver):
    register_receiver(daraja, receiver, shortcode="174381")
    daraja.push(
        PAID,
        callback_url=f"{receiver.url}/stk",
        BusinessShortCode=174380,
        Password=__import__("sim_helpers").password("174380"),
        TransactionType="CustomerBuyGoodsOnline",
        PartyB="174381",
    )
    assert receiver.json(0, path="/c2b/confirm")["BusinessShortCode"] == "174381"


def test_no_twin_without_registration_or_when_off_or_unpaid(daraja, receiver):
    daraja.push(PAID, callback_url=f"{receiver.url}/stk")
    receiver.wait_for(1, path="/stk")
    txn = daraja.control("transactions").json()["transactions"][0]
    assert txn["c2b_twin"] == "not_registered"

    register_receiver(daraja, receiver)
    assert daraja.control("options", {"stk_c2b_twin": "off"}).json()["stk_c2b_twin"] == "off"
    daraja.push("254712345700", callback_url=f"{receiver.url}/stk")  # another phone, suffix 00
    receiver.wait_for(2, path="/stk")
    assert daraja.control("transactions").json()["transactions"][0]["c2b_twin"] == "off"

    daraja.control("options", {"stk_c2b_twin": "after"})
    daraja.push("254712345601", callback_url=f"{receiver.url}/stk")  # suffix 01: cancelled
    receiver.wait_for(3, path="/stk")
    time.sleep(0.2)
    assert not [req for req in receiver.requests if req["path"] == "/c2b/confirm"]
    assert daraja.control("options", {"stk_c2b_twin": "never"}).status_code == 400


def test_twin_comes_even_when_the_stk_callback_does_not(daraja, receiver):
    register_receiver(daraja, receiver)
    daraja.push("254712345608", callback_url=f"{receiver.url}/stk")  # 08: paid, no callback
    twin = receiver.json(0, path="/c2b/confirm")
    txn = daraja.control("transactions").json()["transactions"][0]
    assert twin["TransID"] == txn["receipt_number"]
    time.sleep(0.2)
    assert not [req for req in receiver.requests if req["path"] == "/stk"]


@pytest.mark.parametrize(("mode", "overlap"), [("same_moment", True), ("after", False)])
def test_same_moment_sends_both_deliveries_together(daraja, mode, overlap):
    slow = Receiver(hold=0.3)  # concurrent deliveries overlap, serial ones do not
    try:
        daraja.register(confirmation=f"{slow.url}/c2b/confirm", validation=f"{slow.url}/c2b/validate")
        daraja.control("options", {"stk_c2b_twin": mode})
        daraja.push(PAID, callback_url=f"{slow.url}/stk")
        wait_until(lambda: len(slow.requests) == 2 and len(daraja.control("callbacks").json()["callbacks"]))
        first, second = sorted(req["at"] for req in slow.requests)
        assert {req["path"] for req in slow.requests} == {"/stk", "/c2b/confirm"}
        assert (second - first < 0.2) is overlap
        wait_until(
            lambda: all(c["http_status"] == 200 for c in daraja.control("callbacks").json()["callbacks"])
        )
    finally:
        slow.stop()


def test_same_moment_with_two_stk_callbacks(daraja, receiver):
    register_receiver(daraja, receiver)
    daraja.control("options", {"stk_c2b_twin": "same_moment"})
    daraja.push("254712345609", callback_url=f"{receiver.url}/stk")  # 09: paid, callback twice
    receiver.wait_for(2, path="/stk")
    receiver.wait_for(1, path="/c2b/confirm")
    time.sleep(0.2)
    assert len(receiver.requests) == 3


# -- faults ------------------------------------------------------------------------------------------


def _set(daraja, **options):
    r = daraja.control("options", options)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(
    ("fault", "status", "content_type", "check"),
    [
        ("http_500", 500, "application/json", lambda b: json.loads(b)["errorCode"] == "500.003.1001"),
        ("http_503", 503, "text/html", lambda b: b.startswith(b"<html>")),
        ("spike_arrest", 500, "application/json", lambda b: json.loads(b)["errorCode"] == "500.003.02"),
        ("empty_body", 200, "application/json", lambda b: b == b""),
        ("html_body", 200, "text/html", lambda b: b"Apigee" in b),
    ],
)
def test_fault_shapes_and_nothing_processed(daraja, receiver, fault, status, content_type, check):
    daraja.token()
    _set(daraja, fault=fault)
    r = daraja.push(PAID, callback_url=f"{receiver.url}/stk")
    assert r.status_code == status
    assert r.headers["Content-Type"].startswith(content_type)
    assert check(r.content)
    assert daraja.control("transactions").json()["transactions"] == []  # no prompt, no payment
    assert daraja.control("faults").json() == {"fault": fault, "seen": 1, "served": 1}
    if fault == "spike_arrest":
        assert r.json()["errorMessage"] == "Error Occurred: Spike Arrest Violation"


def test_fault_processed_makes_the_push_ambiguous(daraja, receiver):
    daraja.token()
    _set(daraja, fault="http_503", fault_processed=True)
    r = daraja.push(PAID, callback_url=f"{receiver.url}/stk")
    assert r.status_code == 503
    receiver.wait_for(1, path="/stk")  # the customer paid anyway
    txn = daraja.control("transactions").json()["transactions"][0]
    assert txn["result_code"] == "0"
    assert txn["receipt_number"]


def test_spike_arrest_is_never_processed_even_with_fault_processed(daraja, receiver):
    daraja.token()
    _set(daraja, fault="spike_arrest", fault_processed=True)
    assert daraja.push(PAID, callback_url=f"{receiver.url}/stk").status_code == 500
    assert daraja.control("transactions").json()["transactions"] == []


def test_fault_every_and_limit(daraja, receiver):
    daraja.token()
    _set(daraja, fault="spike_arrest", fault_every=2, fault_limit=2, fault_apis="stk_query")
    push = daraja.push("254712345699", callback_url=f"{receiver.url}/stk")  # interactive: stays pending
    assert push.status_code == 200  # stk_push is not in fault_apis
    txn_id = push.json()["CheckoutRequestID"]
    codes = [daraja.query(txn_id).json().get("errorCode") for _ in range(6)]
    spikes = [code == "500.003.02" for code in codes]
    assert spikes == [False, True, False, True, False, False]  # every 2nd, at most 2
    assert daraja.control("faults").json()["served"] == 2
    # setting a fault option again restarts the count
    _set(daraja, fault_limit=1)
    assert daraja.control("faults").json() == {"fault": "spike_arrest", "seen": 0, "served": 0}


def test_token_invalidated_forces_a_new_token(daraja, receiver):
    token = daraja.token()
    _set(daraja, fault="token_invalidated", fault_limit=1)
    r = daraja.push(PAID, callback_url=f"{receiver.url}/stk")
    assert (r.status_code, r.json()["errorCode"]) == (404, "404.001.03")
    # the old token is gone for good; a new one works (the fault was served once)
    body = daraja.stk_body(PAID, f"{receiver.url}/stk")
    r = daraja.post("/mpesa/stkpush/v1/processrequest", body, token=token)
    assert r.json()["errorCode"] == "404.001.03"
    fresh = daraja.oauth().json()["access_token"]
    assert daraja.post("/mpesa/stkpush/v1/processrequest", body, token=fresh).status_code == 200


def test_token_invalidated_on_c2b_uses_the_c2b_code(daraja, receiver):
    daraja.token()
    _set(daraja, fault="token_invalidated", fault_apis="c2b_register")
    r = daraja.register(confirmation=f"{receiver.url}/c", validation=f"{receiver.url}/v")
    assert (r.status_code, r.json()["errorCode"]) == (400, "400.003.01")


def test_oauth_faults(daraja):
    _set(daraja, fault="html_body", fault_apis="oauth")
    r = daraja.oauth()
    assert (r.status_code, r.headers["Content-Type"]) == (200, "text/html")


def test_hang_answers_late_but_processes(receiver):
    with SimulatorServer(callback_delay=0) as sim:
        daraja = Daraja(sim.base_url)
        try:
            daraja.token()
            _set(daraja, fault="hang", fault_hang_seconds=3.0)
            with pytest.raises(requests.exceptions.ReadTimeout):
                daraja.http.post(
                    f"{sim.base_url}/mpesa/stkpush/v1/processrequest",
                    json=daraja.stk_body(PAID, f"{receiver.url}/stk"),
                    headers={"Authorization": f"Bearer {daraja.token()}"},
                    timeout=0.5,
                )
            receiver.wait_for(1, path="/stk")  # paid although the client timed out
        finally:
            daraja.http.close()
        # stop() ends the hanging answer at once rather than after 3 s
        started = time.monotonic()
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize(
    "options",
    [
        {"fault": "boom"},
        {"fault_apis": "stk_push,nope"},
        {"fault_apis": ""},
        {"fault_every": 0},
        {"fault_limit": -1},
        {"fault_processed": "yes"},
    ],
)
def test_bad_fault_options(daraja, options):
    assert daraja.control("options", options).status_code == 400


# -- query contradicting the callback ----------------------------------------------------------------


def test_query_contradicts_the_callback(daraja, receiver):
    phone = "254712345677"
    r = daraja.control(
        "scenario", {"phone": phone, "result_code": 0, "callback": "once", "query_result_code": 1032}
    )
    assert r.json()["overrides"][phone] == {
        "result_code": "0",
        "result_desc": "The service request is processed successfully.",
        "callback": "once",
        "query_result_code": "1032",
    }
    push = daraja.push(phone, callback_url=f"{receiver.url}/stk")
    callback = _stk_callback(receiver)["Body"]["stkCallback"]
    assert callback["ResultCode"] == 0
    query = daraja.query(push.json()["CheckoutRequestID"]).json()
    assert (query["ResultCode"], query["ResultDesc"]) == ("1032", "Request cancelled by user")
    txn = daraja.control("transactions").json()["transactions"][0]
    assert (txn["result_code"], txn["query_result_code"]) == ("0", "1032")
    assert txn["receipt_number"]  # the money moved: the callback is the truth


def test_query_agrees_by_default(daraja, receiver):
    push = daraja.push(PAID, callback_url=f"{receiver.url}/stk")
    assert daraja.query(push.json()["CheckoutRequestID"]).json()["ResultCode"] == "0"
    assert daraja.control("transactions").json()["transactions"][0]["query_result_code"] == "0"


# -- an unregistered shortcode is explained -------------------------------------------------------------


def test_unregistered_shortcode_says_what_to_click(daraja):
    r = daraja.control("c2b/pay", {"shortcode": "600984", "amount": 10})
    assert r.status_code == 409
    message = r.json()["error"]
    assert "No C2B URLs are registered for 600984" in message
    assert "Point of Sale > Configuration > M-Pesa Accounts" in message
    assert '"Register C2B Callback URLs"' in message
    assert "make run" in message


def test_simulate_on_unregistered_shortcode_explains_in_the_listing(daraja):
    assert daraja.simulate().status_code == 200
    payment = wait_until(
        lambda: next(
            (t for t in daraja.control("transactions").json()["transactions"] if t["status"] != "pending"),
            None,
        )
    )
    assert payment["status"] == "not_delivered"
    assert "Register C2B Callback URLs" in payment["detail"]


def test_phone_page_explains_unregistered_shortcodes(daraja):
    page = daraja.http.get(f"{daraja.base}/", timeout=5).text
    assert 'id="reg-hint"' in page
    assert "Register C2B Callback URLs" in page
    assert "M-Pesa Accounts" in page
    assert "(no URLs registered)" not in page
