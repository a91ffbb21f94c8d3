"""C2B: register v1/v2 and the product-version check, production rules, simulate -> callbacks."""

import hashlib
import json
import re

import pytest
from sim_helpers import Daraja, wait_until

from daraja_simulator import SimulatorServer


def settled(daraja):
    """The newest C2B payment once its flow has ended, else None."""
    payment = daraja.control("transactions").json()["transactions"][0]
    return payment if payment["status"] != "pending" else None


NO_PRODUCT = "Error Occurred - Invalid Access Token - Invalid API call as no apiproduct match found"


def test_register_v2(daraja):
    r = daraja.register("v2")
    assert r.status_code == 200
    data = r.json()
    assert data["ResponseCode"] == "00000000"
    assert data["ResponseDescription"] == "Success"
    assert re.fullmatch(r"[0-9]{4}-[0-9]{8}-1", data["OriginatorCoversationID"])  # Daraja's spelling
    registration = daraja.control("accounts").json()["c2b"][0]["registration"]
    assert registration["confirmation_url"] == "http://127.0.0.1:9/c2b/confirm"


def test_register_v1_needs_a_v1_product(daraja):
    r = daraja.register("v1")
    assert r.status_code == 401
    assert (r.json()["errorCode"], r.json()["errorMessage"]) == ("401.003.01", NO_PRODUCT)
    daraja.control("accounts/600984", {"api_version": "v1"})
    r = daraja.register("v1")
    assert r.status_code == 200
    assert r.json()["ResponseCode"] == "0"
    assert r.json()["ResponseDescription"] == "success"
    assert daraja.register("v2").json()["errorMessage"] == NO_PRODUCT


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ShortCode": "12"}, "Bad Request - Invalid ShortCode"),
        ({"ShortCode": "999999"}, "Bad Request - Invalid ShortCode"),
        ({"ResponseType": "completed"}, "Bad Request - Invalid ResponseType"),
        ({"ConfirmationURL": "not a url"}, "Bad Request - Invalid ConfirmationURL"),
        ({"ValidationURL": None}, "Bad Request - Invalid ValidationURL"),
    ],
)
def test_register_validation(daraja, overrides, message):
    r = daraja.register("v2", **overrides)
    assert (r.status_code, r.json()["errorCode"], r.json()["errorMessage"]) == (400, "400.002.02", message)


def test_sandbox_allows_http_keywords_and_re_registration(daraja):
    assert daraja.register(confirmation="http://127.0.0.1:9/mpesa/confirm").status_code == 200
    assert daraja.register(confirmation="http://127.0.0.1:9/other").status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "http://shop.example/c2b/confirm",
        "https://shop.example/mpesa/confirm",
        "https://shop.example/M-PESA/confirm",
        "https://safaricom.shop.example/c",
        "https://shop.example/c?query=1",
        "https://shop.example/cmd",
        "https://shop.example/run.exe",
        "https://shop.example/sql",
    ],
)
def test_production_url_rules(url):
    with SimulatorServer(production=True) as sim:
        r = Daraja(sim.base_url).register(confirmation=url, validation="https://shop.example/c2b/validate")
        assert r.status_code == 400
        assert r.json()["errorMessage"] == "Bad Request - Invalid ConfirmationURL"


def test_production_registers_once_and_has_no_simulate():
    with SimulatorServer(production=True) as sim:
        d = Daraja(sim.base_url)
        urls = {"confirmation": "https://shop.example/c2b/c", "validation": "https://shop.example/c2b/v"}
        assert d.register(**urls).json()["ResponseCode"] == "00000000"
        r = d.register(**urls)
        assert r.status_code == 500
        assert (r.json()["errorCode"], r.json()["errorMessage"]) == (
            "500.003.1001",
            "Urls are already registered",
        )
        assert d.register(shortcode="174381", **urls).status_code == 200  # per shortcode
        r = d.simulate()
        assert (r.status_code, r.json()["errorCode"]) == (404, "404.001.01")


def test_simulate_sends_confirmation(daraja, receiver):
    daraja.register(confirmation=f"{receiver.url}/c2b/confirm", validation=f"{receiver.url}/c2b/validate")
    r = daraja.simulate(Amount=150, Msisdn=254708374149, BillRefNumber="Order 42")
    assert r.status_code == 200
    assert r.json()["ResponseCode"] == "0"
    assert r.json()["ResponseDescription"] == "Accept the service request successfully."
    request = receiver.wait_for(1)[0]
    assert request["path"] == "/c2b/confirm"  # validation is off by default
    assert request["headers"]["Content-Type"] == "application/json;charset=UTF-8"
    body = json.loads(request["raw"])
    assert body["TransactionType"] == "Pay Bill"
    assert re.fullmatch(r"[A-Z][A-Z0-9]{9}", body["TransID"])
    assert re.fullmatch(r"[0-9]{14}", body["TransTime"])
    assert body["TransAmount"] == "150.00"  # a string
    assert body["BusinessShortCode"] == "600984"
    assert body["BillRefNumber"] == "Order 42"
    assert body["OrgAccountBalance"] == "10150.00"
    assert body["MSISDN"] == hashlib.sha256(b"254708374149").hexdigest()  # default: hashed
    assert set(body) >= {"InvoiceNumber", "ThirdPartyTransID", "FirstName", "MiddleName", "LastName"}
    payment = wait_until(lambda: settled(daraja))
    assert (payment["kind"], payment["status"], payment["trans_id"]) == ("c2b", "confirmed", body["TransID"])


def test_till_simulate(daraja, receiver):
    daraja.register(shortcode="174381", confirmation=f"{receiver.url}/c")
    r = daraja.simulate(shortcode="174381", CommandID="CustomerBuyGoodsOnline", BillRefNumber=None)
    assert r.status_code == 200
    body = receiver.json()
    assert body["TransactionType"] == "Buy Goods"
    assert body["BillRefNumber"] == ""


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"CommandID": "CustomerBuyGoodsOnline"}, "CommandID"),
        ({"Amount": 10.5}, "Amount"),
        ({"Amount": 0}, "Amount"),
        ({"Msisdn": "0708374149"}, "Msisdn"),
        ({"BillRefNumber": "x" * 21}, "BillRefNumber"),
    ],
)
def test_simulate_validation(daraja, overrides, field):
    r = daraja.simulate(**overrides)
    assert (r.status_code, r.json()["errorMessage"]) == (400, f"Bad Request - Invalid {field}")
    assert daraja.control("transactions").json()["transactions"] == []


def test_simulate_wrong_version(daraja):
    r = daraja.simulate("v1")
    assert (r.status_code, r.json()["errorMessage"]) == (401, NO_PRODUCT)


def test_validation_then_confirmation(daraja, receiver):
    daraja.control("accounts/600984", {"validation_enabled": True})
    receiver.replies["/v"] = (200, b'{"ResultCode":"0","ResultDesc":"Accepted","ThirdPartyTransID":"T-9"}')
    daraja.register(confirmation=f"{receiver.url}/c", validation=f"{receiver.url}/v")
    daraja.simulate()
    validation, confirmation = receiver.wait_for(2)
    assert validation["path"] == "/v" and confirmation["path"] == "/c"
    assert json.loads(validation["raw"])["OrgAccountBalance"] == ""
    body = json.loads(confirmation["raw"])
    assert body["ThirdPartyTransID"] == "T-9"
    assert body["TransID"] == json.loads(validation["raw"])["TransID"]


def test_validation_rejects(daraja, receiver):
    daraja.control("accounts/600984", {"validation_enabled": True})
    receiver.replies["/v"] = (200, b'{"ResultCode":"C2B00012","ResultDesc":"Rejected"}')
    daraja.register(confirmation=f"{receiver.url}/c", validation=f"{receiver.url}/v")
    daraja.simulate()
    receiver.wait_for(1, path="/v")
    payment = wait_until(lambda: settled(daraja))
    assert (payment["status"], payment["detail"]) == ("rejected", "Validation answered C2B00012")
    assert [r["path"] for r in receiver.requests] == ["/v"]


@pytest.mark.parametrize(("response_type", "confirmed"), [("Completed", True), ("Cancelled", False)])
def test_unreachable_validation_uses_response_type(daraja, receiver, response_type, confirmed):
    daraja.control("accounts/600984", {"validation_enabled": True})
    daraja.register(
        confirmation=f"{receiver.url}/c", validation="http://127.0.0.1:9/v", ResponseType=response_type
    )
    daraja.simulate()
    if confirmed:
        assert receiver.json(path="/c")["TransAmount"] == "150.00"
    else:
        with pytest.raises(AssertionError):
            receiver.wait_for(1, timeout=0.3)


def test_simulate_without_registration_delivers_nothing(daraja):
    assert daraja.simulate().status_code == 200
    assert wait_until(lambda: settled(daraja))["status"] == "not_delivered"


def test_c2b_version_chosen_at_start():
    with SimulatorServer(c2b_api_version="v1") as sim:
        d = Daraja(sim.base_url)
        assert d.register("v1").json()["ResponseCode"] == "0"
        assert d.register("v1", shortcode="174381").json()["ResponseCode"] == "0"
        assert d.register("v2").status_code == 401
        d.control("reset")
        assert d.control("accounts").json()["c2b"][1]["api_version"] == "v1"  # kept across resets
        assert d.control("options", {"c2b_api_version": "v2"}).status_code == 400
