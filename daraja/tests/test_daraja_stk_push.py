import socket
import time
from decimal import Decimal

import pytest
import requests
import responses
from daraja_testkit import (
    CALLBACK_URL,
    OAUTH_URL,
    PASSKEY,
    STK_ACCEPTED,
    STK_URL,
    TOKEN,
    TOKEN_2,
    Clock,
    add_token,
    body_of,
    decoded_password,
    make_client,
    make_config,
)

from daraja import (
    DarajaAPIError,
    DarajaAuthError,
    DarajaClient,
    DarajaTransportError,
    DarajaValidationError,
    InvalidAmount,
    InvalidPhoneNumber,
    InvalidUrl,
    MemoryTokenStore,
    StkPushResponse,
)

# 2024-07-10 06:15:26 UTC = 09:15:26 in Nairobi
CLOCK_AT = 1720592126.0


def push(client, **overrides):
    args = {
        "phone": "0712 345 678",
        "amount": 100,
        "account_reference": "ORDER-001",
        "transaction_desc": "POS payment",
        "callback_url": CALLBACK_URL,
    }
    args.update(overrides)
    return client.stk_push(**args)


def stk_calls():
    return [call for call in responses.calls if call.request.url == STK_URL]


@responses.activate
def test_paybill_push_payload():
    add_token(responses)
    responses.add(responses.POST, STK_URL, json=STK_ACCEPTED)
    result = push(make_client(clock=Clock(CLOCK_AT)))
    assert isinstance(result, StkPushResponse)
    assert result.checkout_request_id == STK_ACCEPTED["CheckoutRequestID"]
    assert result.merchant_request_id == STK_ACCEPTED["MerchantRequestID"]
    assert result.response_code == "0"
    assert result.customer_message == "Success. Request accepted for processing"
    assert result.phone == "254712345678"
    assert result.amount == 100
    (call,) = stk_calls()
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.request.headers["Content-Type"] == "application/json"
    body = body_of(call)
    assert body == {
        "BusinessShortCode": "174379",
        "Password": body["Password"],
        "Timestamp": "20240710091526",
        "TransactionType": "CustomerPayBillOnline",
        "Amount": 100,
        "PartyA": "254712345678",
        "PartyB": "174379",
        "PhoneNumber": "254712345678",
        "CallBackURL": CALLBACK_URL,
        "AccountReference": "ORDER-001",
        "TransactionDesc": "POS payment",
    }
    # one timestamp, used twice
    assert decoded_password(body) == f"174379{PASSKEY}20240710091526"


@responses.activate
def test_till_push_uses_store_number_and_till():
    add_token(responses)
    responses.add(responses.POST, STK_URL, json=STK_ACCEPTED)
    client = make_client(account_type="till", business_shortcode="174380", till_number="174381")
    push(client)
    body = body_of(stk_calls()[0])
    assert body["TransactionType"] == "CustomerBuyGoodsOnline"
    assert body["BusinessShortCode"] == "174380"
    assert body["PartyB"] == "174381"
    assert decoded_password(body).startswith(f"174380{PASSKEY}")
    assert decoded_password(body).endswith(body["Timestamp"])


@pytest.mark.parametrize(
    ("reference", "desc", "expected_ref", "expected_desc"),
    [
        ("ORDER-001", "POS payment", "ORDER-001", "POS payment"),
        ("Shop/0001-0042-XYZ", "Payment for order 42", "Shop/0001-00", "Payment for o"),
        ("ORD#1@2&3", "a&b#c", "ORD123", "abc"),
        ("###", "@@@", "POS", "Payment"),
        ("", "   ", "POS", "Payment"),
        (None, None, "POS", "Payment"),
        ("Caf\u00e9  au   lait", "\u00fc\u00fc\u00fc", "Caf au lait", "Payment"),
        (12345, 678, "12345", "678"),
        ("ab          cd", "x\ny", "ab cd", "x y"),
    ],
)
@responses.activate
def test_reference_and_description_are_sanitised(reference, desc, expected_ref, expected_desc):
    add_token(responses)
    responses.add(responses.POST, STK_URL, json=STK_ACCEPTED)
    result = push(make_client(), account_reference=reference, transaction_desc=desc)
    body = body_of(stk_calls()[0])
    assert body["AccountReference"] == expected_ref == result.account_reference
    assert body["TransactionDesc"] == expected_desc == result.transaction_desc
    assert 1 <= len(body["AccountReference"]) <= 12
    assert 1 <= len(body["TransactionDesc"]) <= 13


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"amount": Decimal("100.50")}, InvalidAmount),
        ({"amount": 0}, InvalidAmount),
        ({"amount": 250_001}, InvalidAmount),
        ({"amount": "12.5"}, InvalidAmount),
        ({"amount": True}, InvalidAmount),
        ({"amount": None}, InvalidAmount),
        ({"amount": "lots"}, InvalidAmount),
        ({"phone": "0812345678"}, InvalidPhoneNumber),
        ({"phone": None}, InvalidPhoneNumber),
        ({"callback_url": "not a url"}, InvalidUrl),
        ({"callback_url": "ftp://example.com/cb"}, InvalidUrl),
        ({"callback_url": "https://example.com/a b"}, InvalidUrl),
        ({"callback_url": None}, InvalidUrl),
        ({"account_reference": ["x"]}, DarajaValidationError),
    ],
)
@responses.activate
def test_bad_input_is_refused_before_anything_is_sent(overrides, error):
    with pytest.raises(error) as info:
        push(make_client(), **overrides)
    assert isinstance(info.value, DarajaValidationError)
    assert len(responses.calls) == 0


@responses.activate
def test_production_requires_https_callback():
    with pytest.raises(InvalidUrl) as info:
        push(make_client(environment="production"), callback_url="http://pos.example.com/cb/abc")
    assert "https" in info.value.message
    assert len(responses.calls) == 0


@responses.activate
def test_production_host():
    add_token(responses, base="https://api.safaricom.co.ke")
    responses.add(
        responses.POST, "https://api.safaricom.co.ke/mpesa/stkpush/v1/processrequest", json=STK_ACCEPTED
    )
    assert push(make_client(environment="production")).checkout_request_id


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, {"requestId": "1", "errorCode": "404.001.03", "errorMessage": "Invalid Access Token"}),
        (
            401,
            {
                "requestId": "1",
                "errorCode": "401.002.01",
                "errorMessage": "Error Occurred - Invalid Access Token - ",
            },
        ),
        (400, {"requestId": "1", "errorCode": "400.003.01", "errorMessage": "Invalid Access Token"}),
        (
            401,
            {
                "requestId": "1",
                "errorCode": "401.003.01",
                "errorMessage": "Error Occurred - Invalid Access Token",
            },
        ),
        (401, None),  # any HTTP 401, even without a body
        (200, {"errorCode": "404.001.03", "errorMessage": "Invalid Access Token"}),
    ],
)
@responses.activate
def test_token_error_refreshes_once_and_retries_once(status, body):
    responses.add(responses.GET, OAUTH_URL, json={"access_token": TOKEN, "expires_in": 3599})
    responses.add(responses.GET, OAUTH_URL, json={"access_token": TOKEN_2, "expires_in": 3599})
    if body is None:
        responses.add(responses.POST, STK_URL, body="", status=status)
    else:
        responses.add(responses.POST, STK_URL, json=body, status=status)
    responses.add(responses.POST, STK_URL, json=STK_ACCEPTED)
    result = push(make_client())
    assert result.checkout_request_id == STK_ACCEPTED["CheckoutRequestID"]
    calls = stk_calls()
    assert len(calls) == 2
    assert calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert calls[1].request.headers["Authorization"] == f"Bearer {TOKEN_2}"
    assert body_of(calls[0]) == body_of(calls[1])


@responses.activate
def test_second_token_error_is_an_auth_error_without_a_third_try():
    responses.add(responses.GET, OAUTH_URL, json={"access_token": TOKEN, "expires_in": 3599})
    responses.add(responses.GET, OAUTH_URL, json={"access_token": TOKEN_2, "expires_in": 3599})
    error_body = {"requestId": "r-1", "errorCode": "404.001.03", "errorMessage": "Invalid Access Token"}
    responses.add(responses.POST, STK_URL, json=error_body, status=404)
    with pytest.raises(DarajaAuthError) as info:
        push(make_client())
    assert info.value.error_code == "404.001.03"
    assert info.value.request_id == "r-1"
    assert info.value.http_status == 404
    assert len(stk_calls()) == 2


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (400, "400.002.02", "Bad Request - Invalid PhoneNumber"),
        (400, "400.002.02", "Bad Request - Invalid Amount"),
        (500, "500.001.1001", "Wrong credentials"),
        (500, "500.001.1001", "[MerchantValidate] - Wrong credentials"),
        (500, "500.001.1001", "Merchant does not exist"),
        (
            500,
            "500.001.1001",
            "Unable to lock subscriber, a transaction is already in process for the current subscriber",
        ),
        (500, "500.001.1001", ""),
        (500, "500.003.02", "Error Occurred: Spike Arrest Violation"),
        (500, "500.003.03", "Quota Violation"),
        (404, "404.001.01", "Resource not found"),
    ],
)
@responses.activate
def test_daraja_errors_are_typed_and_never_retried(status, code, message):
    add_token(responses)
    responses.add(
        responses.POST,
        STK_URL,
        json={"requestId": "27746-3661277-1", "errorCode": code, "errorMessage": message},
        status=status,
    )
    with pytest.raises(DarajaAPIError) as info:
        push(make_client())
    error = info.value
    assert not isinstance(error, DarajaAuthError)
    assert (error.error_code, error.error_message, error.request_id, error.http_status) == (
        code,
        message or None,  # an empty errorMessage is reported as none
        "27746-3661277-1",
        status,
    )
    assert code in error.message
    assert len(stk_calls()) == 1


@responses.activate
def test_non_zero_response_code_is_an_api_error():
    add_token(responses)
    responses.add(
        responses.POST, STK_URL, json={**STK_ACCEPTED, "ResponseCode": "1", "ResponseDescription": "Rejected"}
    )
    with pytest.raises(DarajaAPIError) as info:
        push(make_client())
    assert info.value.error_code == "1"
    assert info.value.error_message == "Rejected"


@responses.activate
def test_read_timeout_is_ambiguous_and_never_retried():
    add_token(responses)
    responses.add(responses.POST, STK_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    responses.add(responses.POST, STK_URL, json=STK_ACCEPTED)
    with pytest.raises(DarajaTransportError) as info:
        push(make_client())
    assert info.value.ambiguous is True
    assert len(stk_calls()) == 1


@pytest.mark.parametrize(
    ("status", "body", "ambiguous"),
    [
        (502, "<html><body>502 Bad Gateway</body></html>", True),
        (500, "", True),
        (200, "", True),
        (200, "<html>Apigee</html>", True),
        (200, '{"MerchantRequestID": "x"}', True),  # no result, no CheckoutRequestID
        (200, '{"ResponseCode": "0"}', True),  # accepted without a CheckoutRequestID
        (400, "<html>Bad Request</html>", False),
        (404, "", False),
    ],
)
@responses.activate
def test_unusable_answers_never_surface_as_json_errors(status, body, ambiguous):
    add_token(responses)
    responses.add(responses.POST, STK_URL, body=body, status=status)
    with pytest.raises(DarajaTransportError) as info:
        push(make_client())
    assert info.value.ambiguous is ambiguous
    assert len(stk_calls()) == 1


@responses.activate
def test_connection_lost_mid_request_is_ambiguous():
    add_token(responses)
    lost = requests.exceptions.ConnectionError(ConnectionResetError("Connection reset by peer"))
    responses.add(responses.POST, STK_URL, body=lost)
    with pytest.raises(DarajaTransportError) as info:
        push(make_client())
    assert info.value.ambiguous is True
    assert len(stk_calls()) == 1


def _closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_connection_refused_is_not_ambiguous():
    config = make_config(environment="simulator", base_url=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(DarajaTransportError) as info:
        DarajaClient(config, timeout=(2, 2)).stk_push("0712345678", 10, "A", "B", CALLBACK_URL)
    assert info.value.ambiguous is False


def test_read_timeout_on_a_real_socket_is_ambiguous():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    port = server.getsockname()[1]
    try:
        config = make_config(environment="simulator", base_url=f"http://127.0.0.1:{port}")
        client = DarajaClient(config, timeout=(2, 0.3))
        client.token_store.set(TOKEN, client._clock() + 3000)
        with pytest.raises(DarajaTransportError) as info:
            client.stk_push("0712345678", 10, "A", "B", CALLBACK_URL)
        assert info.value.ambiguous is True
    finally:
        server.close()


@responses.activate
def test_oauth_failure_stops_the_push():
    responses.add(responses.GET, OAUTH_URL, body="", status=400)
    with pytest.raises(DarajaAuthError):
        push(make_client())
    assert stk_calls() == []


class OtherWorkerRefreshes(MemoryTokenStore):
    """While we wait for the refresh lock, another worker stores a new token."""

    def refresh_lock(self):
        store = self

        class _Lock:
            def __enter__(self):
                store.set("token-from-the-other-worker", time.time() + 3000)

            def __exit__(self, *exc):
                return False

        return _Lock()


@responses.activate
def test_after_a_token_refusal_a_token_refreshed_by_another_worker_is_used():
    store = OtherWorkerRefreshes()
    store.set(TOKEN, time.time() + 3000)
    responses.add(responses.POST, STK_URL, json={"errorCode": "404.001.03", "errorMessage": "x"}, status=404)
    responses.add(responses.POST, STK_URL, json=STK_ACCEPTED)
    client = DarajaClient(make_config(), token_store=store)
    assert push(client).checkout_request_id
    assert [c.request.headers["Authorization"] for c in stk_calls()] == [
        f"Bearer {TOKEN}",
        "Bearer token-from-the-other-worker",
    ]
    assert not [c for c in responses.calls if c.request.method == "GET"]  # no OAuth call of our own
