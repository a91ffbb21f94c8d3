"""STK query: both pending shapes, final codes as strings, unknown ids, credentials."""

import pytest
from sim_helpers import Daraja, password

from daraja_simulator import SimulatorServer


def test_pending_alternates_500_and_4999(daraja):
    checkout_id = daraja.push("254712345678").json()["CheckoutRequestID"]
    first, second, third = (daraja.query(checkout_id) for _ in range(3))
    assert first.status_code == 500
    assert first.json() == {
        "requestId": checkout_id,
        "errorCode": "500.001.1001",
        "errorMessage": "The transaction is being processed",
    }
    assert second.status_code == 200
    assert second.json()["ResultCode"] == "4999"
    assert second.json()["ResultDesc"] == "The transaction is still under processing"
    assert second.json()["CheckoutRequestID"] == checkout_id
    assert third.status_code == 500


@pytest.mark.parametrize(("mode", "statuses"), [("500", [500, 500]), ("4999", [200, 200])])
def test_pending_single_shape_modes(mode, statuses):
    with SimulatorServer(query_pending_mode=mode) as sim:
        d = Daraja(sim.base_url)
        checkout_id = d.push("254712345678").json()["CheckoutRequestID"]
        assert [d.query(checkout_id).status_code for _ in statuses] == statuses


def test_query_after_pin_and_cancel(daraja):
    paid = daraja.push("254712345678").json()["CheckoutRequestID"]
    assert daraja.control(f"stk/{paid}/pin", {"pin": "1234"}).json()["result_code"] == "0"
    assert daraja.query(paid).json()["ResultCode"] == "0"
    cancelled = daraja.push("254712345678").json()["CheckoutRequestID"]
    daraja.control(f"stk/{cancelled}/cancel")
    assert daraja.query(cancelled).json()["ResultCode"] == "1032"


def test_unknown_checkout_request_id(daraja):
    r = daraja.query("ws_CO_26112026101500123712345678")
    assert r.status_code == 500
    assert r.json()["errorCode"] == "500.001.1001"
    assert r.json()["errorMessage"] == "The transaction does not Exist"


def test_transaction_of_another_shortcode_does_not_exist(daraja):
    checkout_id = daraja.push("254712345600").json()["CheckoutRequestID"]
    assert daraja.query(checkout_id, "174380").json()["errorMessage"] == "The transaction does not Exist"


def test_query_validation(daraja):
    body = {"BusinessShortCode": "174379", "Password": password(), "Timestamp": "20261126101500"}
    r = daraja.post("/mpesa/stkpushquery/v1/query", body)
    assert (r.status_code, r.json()["errorMessage"]) == (400, "Bad Request - Invalid CheckoutRequestID")
    r = daraja.post("/mpesa/stkpushquery/v1/query", {**body, "Timestamp": "2026", "CheckoutRequestID": "x"})
    assert r.json()["errorMessage"] == "Bad Request - Invalid Timestamp"
    r = daraja.post(
        "/mpesa/stkpushquery/v1/query", {**body, "Password": password(passkey="x"), "CheckoutRequestID": "x"}
    )
    assert (r.status_code, r.json()["errorMessage"]) == (500, "Wrong credentials")


def test_old_spelling_and_sporadic_empty_errors_options(daraja):
    daraja.control("options", {"query_description_typo": True, "query_empty_error_every": 3})
    checkout_id = daraja.push("254712345600").json()["CheckoutRequestID"]
    answers = [daraja.query(checkout_id) for _ in range(3)]
    assert answers[0].json()["ResponseDescription"] == "The service request has been accepted successsfully"
    assert answers[1].json()["ResultCode"] == "0"
    assert answers[2].status_code == 500
    assert (answers[2].json()["errorCode"], answers[2].json()["errorMessage"]) == ("500.001.1001", "")
