"""The simulator's /__sim__/ control API (README, "The Daraja simulator")."""

import hashlib

import pytest


def test_transactions_listing(daraja):
    first = daraja.push("254712345600").json()["CheckoutRequestID"]
    second = daraja.push("254712345678", AccountReference="TABLE7").json()["CheckoutRequestID"]
    rows = daraja.control("transactions").json()["transactions"]
    assert [row["checkout_request_id"] for row in rows] == [second, first]  # newest first
    pending = rows[0]
    assert pending["status"] == "pending" and pending["interactive"] is True
    assert pending["merchant_name"] == "SIM PAYBILL SHOP"
    assert (pending["amount"], pending["account_reference"]) == (10, "TABLE7")


@pytest.mark.parametrize(("code", "expected"), [(0, "0"), ("1032", "1032"), ("SFC_IC0003", "SFC_IC0003")])
def test_resolve(daraja, receiver, code, expected):
    checkout_id = daraja.push("254712345678", callback_url=f"{receiver.url}/cb").json()["CheckoutRequestID"]
    r = daraja.control(f"stk/{checkout_id}/resolve", {"result_code": code})
    assert r.status_code == 200
    assert r.json()["result_code"] == expected
    assert str(receiver.json()["Body"]["stkCallback"]["ResultCode"]) == expected
    assert daraja.query(checkout_id).json()["ResultCode"] == expected
    again = daraja.control(f"stk/{checkout_id}/resolve", {"result_code": 0})
    assert again.status_code == 409


def test_resolve_errors(daraja):
    assert daraja.control("stk/ws_CO_nothing/resolve", {"result_code": 0}).status_code == 404
    checkout_id = daraja.push("254712345678").json()["CheckoutRequestID"]
    for bad in ({}, {"result_code": None}, {"result_code": True}, {"result_code": ""}):
        r = daraja.control(f"stk/{checkout_id}/resolve", bad)
        assert r.status_code == 400 and r.json()["error"]
    assert daraja.control("transactions").json()["transactions"][0]["status"] == "pending"


@pytest.mark.parametrize(("pin", "expected"), [("1234", "0"), ("9876", "0"), ("0000", "2001")])
def test_pin(daraja, pin, expected):
    checkout_id = daraja.push("254712345678").json()["CheckoutRequestID"]
    assert daraja.control(f"stk/{checkout_id}/pin", {"pin": pin}).json()["result_code"] == expected


@pytest.mark.parametrize("pin", ["123", "12345", "abcd", 1234, None])
def test_bad_pin_changes_nothing(daraja, pin):
    checkout_id = daraja.push("254712345678").json()["CheckoutRequestID"]
    r = daraja.control(f"stk/{checkout_id}/pin", {"pin": pin})
    assert (r.status_code, r.json()["error"]) == (400, "The PIN must be 4 digits")
    assert daraja.control("transactions").json()["transactions"][0]["status"] == "pending"


def test_scenario_validation(daraja):
    assert daraja.control("scenario", {"phone": "12", "result_code": 0}).status_code == 400
    assert (
        daraja.control("scenario", {"phone": "0712345678", "result_code": 0, "callback": "x"}).status_code
        == 400
    )
    assert daraja.control("scenario", {"phone": "0712345678", "result_code": [1]}).status_code == 400
    table = daraja.control("scenario").json()["suffixes"]
    assert table["07"] == {
        "result_code": "SFC_IC0003",
        "result_desc": "The operator does not exist.",
        "callback": "once",
    }
    assert table["08"]["callback"] == "none" and table["09"]["callback"] == "twice"


@pytest.mark.parametrize("mode", ["plain", "masked", "hashed"])
def test_c2b_pay_msisdn_modes(daraja, receiver, mode):
    daraja.register(confirmation=f"{receiver.url}/c")
    r = daraja.control(
        "c2b/pay",
        {
            "shortcode": "600984",
            "amount": 200,
            "msisdn": "0712 345 678",
            "bill_ref_number": "T7",
            "msisdn_mode": mode,
        },
    )
    assert r.status_code == 200
    body = receiver.json()
    assert body["TransID"] == r.json()["trans_id"]
    assert (body["TransAmount"], body["BillRefNumber"]) == ("200.00", "T7")
    assert (
        body["MSISDN"]
        == {
            "plain": "254712345678",
            "masked": "2547 ***** 678",
            "hashed": hashlib.sha256(b"254712345678").hexdigest(),
        }[mode]
    )


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"shortcode": "111111", "amount": 10}, 400),
        ({"shortcode": "600984", "amount": 10.5}, 400),
        ({"shortcode": "600984", "amount": "10.00"}, 400),
        ({"shortcode": "600984", "amount": 0}, 400),
        ({"shortcode": "600984", "amount": 10, "msisdn": "12345"}, 400),
        ({"shortcode": "600984", "amount": 10, "msisdn_mode": "rot13"}, 400),
        ({"shortcode": "600984", "amount": 10, "bill_ref_number": "x" * 21}, 400),
        ({"shortcode": "600984", "amount": 10}, 409),  # no URLs registered yet
    ],
)
def test_c2b_pay_errors(daraja, payload, status):
    r = daraja.control("c2b/pay", payload)
    assert r.status_code == status and r.json()["error"]
    assert daraja.control("transactions").json()["transactions"] == []


def test_replay_callback(daraja, receiver):
    daraja.push("254712345600", callback_url=f"{receiver.url}/cb")
    receiver.wait_for(1)
    r = daraja.control("callbacks/1/replay")
    assert r.status_code == 200
    assert (r.json()["number"], r.json()["http_status"]) == (2, 200)
    first, second = receiver.wait_for(2)
    assert first["raw"] == second["raw"]
    assert second["headers"]["BusinessShortCode"] == "174379"
    assert daraja.control("callbacks/9/replay").status_code == 404


def test_reset(daraja):
    daraja.push("254712345678")
    daraja.register()
    daraja.control("scenario", {"phone": "0712345600", "result_code": 1})
    daraja.control("accounts/600984", {"api_version": "v1"})
    daraja.control("options", {"query_pending_mode": "500"})
    token = daraja.token()
    assert daraja.control("reset").json() == {"reset": True}
    assert daraja.control("transactions").json()["transactions"] == []
    assert daraja.control("scenario").json()["overrides"] == {}
    accounts = daraja.control("accounts").json()["c2b"]
    assert accounts[0]["api_version"] == "v2" and accounts[0]["registration"] is None
    assert daraja.control("options").json()["query_pending_mode"] == "alternate"
    r = daraja.post("/mpesa/stkpushquery/v1/query", {}, token=token)
    assert r.json()["errorCode"] == "404.001.03"  # tokens are gone too
    assert daraja.push("254712345678").status_code == 404  # the cached token is gone too


def test_options(daraja):
    options = daraja.control("options").json()
    assert "consumer_secret" not in options
    r = daraja.control("options", {"expires_in_as_string": True, "callback_delay": 1})
    assert r.json()["expires_in_as_string"] is True and r.json()["callback_delay"] == 1.0
    assert daraja.oauth().json()["expires_in"] == "3599"
    for bad in ({"consumer_secret": "x"}, {"nope": 1}, {"callback_delay": "1"}, {"query_pending_mode": "x"}):
        assert daraja.control("options", bad).status_code == 400


def test_accounts_update_errors(daraja):
    assert daraja.control("accounts/600984", {"api_version": "v3"}).status_code == 400
    assert daraja.control("accounts/600984", {"validation_enabled": "yes"}).status_code == 400
    assert daraja.control("accounts/600984", {}).status_code == 400
    assert daraja.control("accounts/123456", {"api_version": "v1"}).status_code == 404


def test_control_errors(daraja):
    assert daraja.http.get(f"{daraja.base}/__sim__/nothing", timeout=5).status_code == 404
    assert daraja.http.post(f"{daraja.base}/__sim__/nothing", json={}, timeout=5).status_code == 404
    json_type = {"Content-Type": "application/json"}
    r = daraja.http.post(f"{daraja.base}/__sim__/scenario", data=b"{", headers=json_type, timeout=5)
    assert (r.status_code, r.json()["error"]) == (400, "The body must be JSON")
    assert daraja.http.post(f"{daraja.base}/__sim__/scenario", json=[1], timeout=5).status_code == 400
    assert daraja.http.delete(f"{daraja.base}/__sim__/reset", timeout=5).status_code == 405


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"data": {"phone": "0712345678"}}, {"data": b"{}", "headers": {"Content-Type": "text/plain"}}],
)
def test_control_posts_must_be_json(daraja, kwargs):
    """A cross-site form or no-cors fetch cannot drive the simulator."""
    daraja.control("scenario", {"phone": "0712345678", "result_code": 1})
    r = daraja.http.post(f"{daraja.base}/__sim__/reset", timeout=5, **kwargs)
    assert r.status_code == 415
    assert daraja.control("scenario").json()["overrides"]  # nothing was reset
