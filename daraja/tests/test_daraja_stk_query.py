import pytest
import requests
import responses
from daraja_testkit import (
    OAUTH_URL,
    PASSKEY,
    QUERY_URL,
    TOKEN,
    TOKEN_2,
    Clock,
    add_token,
    body_of,
    decoded_password,
    make_client,
)

from daraja import (
    DarajaAPIError,
    DarajaTransportError,
    DarajaValidationError,
    PaymentStatus,
    StkQueryResult,
)

CHECKOUT = "ws_CO_290920260126013708374149"


def final(code, desc):
    return {
        "ResponseCode": "0",
        "ResponseDescription": "The service request has been accepted successsfully",
        "MerchantRequestID": "ac7b-470b-8df7-23ab3cef38271071873",
        "CheckoutRequestID": CHECKOUT,
        "ResultCode": code,
        "ResultDesc": desc,
    }


def query(status, body, **client_kwargs):
    add_token(responses)
    if isinstance(body, str):
        responses.add(responses.POST, QUERY_URL, body=body, status=status)
    else:
        responses.add(responses.POST, QUERY_URL, json=body, status=status)
    return make_client(**client_kwargs).stk_query(CHECKOUT)


@responses.activate
def test_query_payload_uses_one_timestamp_twice():
    result = query(
        200, final("0", "The service request is processed successfully."), clock=Clock(1720592126.0)
    )
    body = body_of(responses.calls[-1])
    assert body == {
        "BusinessShortCode": "174379",
        "Password": body["Password"],
        "Timestamp": "20240710091526",
        "CheckoutRequestID": CHECKOUT,
    }
    assert decoded_password(body) == f"174379{PASSKEY}20240710091526"
    assert isinstance(result, StkQueryResult)
    assert result.result.status is PaymentStatus.SUCCESS
    assert result.raw["ResultDesc"] == "The service request is processed successfully."


@pytest.mark.parametrize(
    ("status", "body", "expected", "reason"),
    [
        (200, final("0", "The service request is processed successfully."), "success", "paid"),
        (200, final(0, "ok"), "success", "paid"),
        (200, final("1032", "Request cancelled by user"), "cancelled", "cancelled"),
        (200, final("1037", "DS timeout user cannot be reached."), "timeout", "timeout"),
        (
            200,
            final("1", "The balance is insufficient for the transaction."),
            "failed",
            "insufficient_balance",
        ),
        (200, final("2001", "The initiator information is invalid."), "failed", "wrong_pin"),
        (200, final("SFC_IC0003", "The operator does not exist."), "failed", "config_error"),
        (200, final("4999", "The transaction is still under processing"), "pending", "pending"),
        (200, final("7777", "Something new"), "needs_review", "unknown"),
        (
            500,
            {
                "requestId": "ws_CO_1",
                "errorCode": "500.001.1001",
                "errorMessage": "The transaction is being processed",
            },
            "pending",
            "pending",
        ),
        (500, {"requestId": "x", "errorCode": "500.001.1001", "errorMessage": ""}, "pending", "pending"),
        (200, {"requestId": "x", "errorCode": "500.001.1001", "errorMessage": ""}, "pending", "pending"),
        (
            500,
            {"requestId": "x", "errorCode": "500.001.1001", "errorMessage": "The transaction does not Exist"},
            "pending",
            "pending",
        ),
        (500, {"requestId": "x", "errorCode": "500.001.1001"}, "pending", "pending"),
    ],
)
@responses.activate
def test_state_machine(status, body, expected, reason):
    result = query(status, body)
    assert result.result.status == PaymentStatus(expected)
    assert result.result.reason == reason
    assert result.raw == body


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (
            400,
            {"requestId": "x", "errorCode": "400.002.02", "errorMessage": "Bad Request - Invalid Timestamp"},
            "400.002.02",
        ),
        (
            500,
            {
                "requestId": "x",
                "errorCode": "500.003.02",
                "errorMessage": "Error Occurred: Spike Arrest Violation",
            },
            "500.003.02",
        ),
        (200, {"ResponseCode": "1", "ResponseDescription": "Rejected"}, "1"),
    ],
)
@responses.activate
def test_other_errors_raise_and_never_pretend_to_be_a_result(status, body, code):
    with pytest.raises(DarajaAPIError) as info:
        query(status, body)
    assert info.value.error_code == code
    assert info.value.http_status == status


@responses.activate
def test_answer_without_result_is_no_answer():
    with pytest.raises(DarajaAPIError) as info:
        query(200, {"ResponseCode": "0", "ResponseDescription": "ok"})
    assert "no result" in info.value.message


@pytest.mark.parametrize(("status", "body"), [(500, ""), (502, "<html>Bad gateway</html>"), (200, "OK")])
@responses.activate
def test_html_and_empty_bodies_are_transport_errors(status, body):
    with pytest.raises(DarajaTransportError):
        query(status, body)


@responses.activate
def test_token_error_on_query_retries_once():
    responses.add(responses.GET, OAUTH_URL, json={"access_token": TOKEN, "expires_in": 3599})
    responses.add(responses.GET, OAUTH_URL, json={"access_token": TOKEN_2, "expires_in": 3599})
    responses.add(
        responses.POST,
        QUERY_URL,
        json={"errorCode": "404.001.03", "errorMessage": "Invalid Access Token"},
        status=404,
    )
    responses.add(responses.POST, QUERY_URL, json=final("1032", "Request cancelled by user"))
    result = make_client().stk_query(CHECKOUT)
    assert result.result.status is PaymentStatus.CANCELLED
    assert [c.request.headers["Authorization"] for c in responses.calls if c.request.url == QUERY_URL] == [
        f"Bearer {TOKEN}",
        f"Bearer {TOKEN_2}",
    ]


@responses.activate
def test_query_read_timeout_is_not_retried():
    add_token(responses)
    responses.add(responses.POST, QUERY_URL, body=requests.exceptions.ReadTimeout())
    with pytest.raises(DarajaTransportError):
        make_client().stk_query(CHECKOUT)
    assert len([c for c in responses.calls if c.request.url == QUERY_URL]) == 1


@pytest.mark.parametrize("value", ["", "   ", None, 123, "x" * 101, "ws_CO_\n1"])
@responses.activate
def test_invalid_checkout_ids_are_refused_before_sending(value):
    with pytest.raises(DarajaValidationError):
        make_client().stk_query(value)
    assert len(responses.calls) == 0
