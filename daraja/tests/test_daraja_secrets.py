"""Consumer secret, passkey, tokens and the STK Password never reach logs, reprs or error texts."""

import base64
import logging

import pytest
import requests
import responses
from daraja_testkit import (
    CALLBACK_URL,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    OAUTH_URL,
    PASSKEY,
    QUERY_URL,
    SANDBOX,
    STK_ACCEPTED,
    STK_URL,
    TOKEN,
    TOKEN_2,
    add_token,
    body_of,
    make_client,
)

from daraja import DarajaAPIError, DarajaAuthError, DarajaError, DarajaTransportError, MemoryTokenStore

BASIC = base64.b64encode(f"{CONSUMER_KEY}:{CONSUMER_SECRET}".encode()).decode()


def secrets_in(text, extra=()):
    found = [s for s in (CONSUMER_SECRET, PASSKEY, TOKEN, TOKEN_2, BASIC, *extra) if s in text]
    # a hand-built Password would be base64: look for its stable prefix too
    return found


@responses.activate
def test_full_flow_logs_nothing_secret(caplog):
    caplog.set_level(logging.DEBUG)
    responses.add(responses.GET, OAUTH_URL, json={"access_token": TOKEN, "expires_in": 3599})
    responses.add(responses.GET, OAUTH_URL, json={"access_token": TOKEN_2, "expires_in": 3599})
    responses.add(
        responses.POST,
        STK_URL,
        json={"errorCode": "401.002.01", "errorMessage": f"Error Occurred - Invalid Access Token - {TOKEN}"},
        status=401,
    )
    responses.add(responses.POST, STK_URL, json=STK_ACCEPTED)
    responses.add(
        responses.POST,
        QUERY_URL,
        json={"errorCode": "500.001.1001", "errorMessage": "being processed"},
        status=500,
    )
    responses.add(responses.POST, QUERY_URL, body=requests.exceptions.ReadTimeout())
    client = make_client()
    client.stk_push("0712345678", 10, "REF", "DESC", CALLBACK_URL)
    passwords = [body_of(c)["Password"] for c in responses.calls if c.request.method == "POST"]
    client.stk_query("ws_CO_1")
    with pytest.raises(DarajaTransportError):
        client.stk_query("ws_CO_1")
    assert caplog.records, "the flow should log something"
    assert secrets_in(caplog.text, passwords) == []
    assert CALLBACK_URL not in caplog.text  # the callback URL carries a secret token


@pytest.mark.parametrize(
    "message",
    [
        f"Error Occurred - Invalid Access Token - {TOKEN}",
        "Error Occurred - Invalid Access Token - SomeOlderTokenWeNeverSaw123",
        f"Bad Request - passkey {PASSKEY} secret {CONSUMER_SECRET}",
    ],
)
@responses.activate
def test_echoed_secrets_are_redacted_from_errors(message):
    add_token(responses)
    responses.add(
        responses.POST, STK_URL, json={"errorCode": "400.002.02", "errorMessage": message}, status=400
    )
    with pytest.raises(DarajaAPIError) as info:
        make_client().stk_push("0712345678", 10, "REF", "DESC", CALLBACK_URL)
    error = info.value
    for text in (str(error), repr(error), error.message, error.error_message):
        assert secrets_in(text, ["SomeOlderTokenWeNeverSaw123"]) == []
    assert "***" in error.error_message


@responses.activate
def test_token_error_after_retry_redacts_both_tokens():
    responses.add(responses.GET, OAUTH_URL, json={"access_token": TOKEN, "expires_in": 3599})
    responses.add(responses.GET, OAUTH_URL, json={"access_token": TOKEN_2, "expires_in": 3599})
    responses.add(
        responses.POST,
        STK_URL,
        json={"errorCode": "401.002.01", "errorMessage": f"Error Occurred - Invalid Access Token - {TOKEN}"},
        status=401,
    )
    responses.add(
        responses.POST,
        STK_URL,
        json={
            "errorCode": "401.002.01",
            "errorMessage": f"Error Occurred - Invalid Access Token - {TOKEN_2}",
        },
        status=401,
    )
    with pytest.raises(DarajaAuthError) as info:
        make_client().stk_push("0712345678", 10, "REF", "DESC", CALLBACK_URL)
    assert secrets_in(str(info.value) + repr(info.value)) == []


@responses.activate
def test_oauth_errors_carry_no_credentials():
    responses.add(
        responses.GET,
        OAUTH_URL,
        json={"errorCode": "400.008.01", "errorMessage": f"Invalid Authentication passed {BASIC}"},
        status=400,
    )
    with pytest.raises(DarajaAuthError) as info:
        make_client().get_access_token()
    assert secrets_in(str(info.value) + repr(info.value)) == []


@pytest.mark.parametrize(
    "exception",
    [
        requests.exceptions.ConnectionError(f"{SANDBOX}/x?token={TOKEN}"),
        requests.exceptions.ReadTimeout(f"secret {CONSUMER_SECRET}"),
        requests.exceptions.ChunkedEncodingError(PASSKEY),
    ],
)
@responses.activate
def test_transport_errors_never_repeat_the_exception_text(exception):
    add_token(responses)
    responses.add(responses.POST, STK_URL, body=exception)
    with pytest.raises(DarajaError) as info:
        make_client().stk_push("0712345678", 10, "REF", "DESC", CALLBACK_URL)
    assert secrets_in(str(info.value) + repr(info.value)) == []


def test_client_and_store_reprs():
    store = MemoryTokenStore()
    store.set(TOKEN, 123.0)
    client = make_client(store=store)
    for text in (repr(client), repr(store), repr(client.config)):
        assert secrets_in(text) == []
