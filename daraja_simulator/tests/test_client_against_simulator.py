"""End to end: the pos_mpesa Daraja client (daraja/) against the simulator over loopback HTTP."""

import hashlib
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from daraja import (
    C2BNotification,
    DarajaAPIError,
    DarajaAuthError,
    DarajaClient,
    DarajaConfig,
    PaymentStatus,
    StkCallback,
    parse_callback,
)
from daraja_simulator import CONSUMER_KEY, CONSUMER_SECRET, SANDBOX_PASSKEY

ACCOUNTS = {
    "paybill": {"account_type": "paybill", "business_shortcode": "174379", "c2b_shortcode": "600984"},
    "till": {"account_type": "till", "business_shortcode": "174380", "till_number": "174381"},
}

# suffix -> (code, status, reason, cashier message), the message None for codes outside the till's four
# original messages (paid, cancelled, insufficient balance, timeout)
SCENARIOS = [
    ("01", "1032", "cancelled", "cancelled", "Payment cancelled"),
    ("02", "1", "failed", "insufficient_balance", "Insufficient balance"),
    ("03", "1037", "timeout", "timeout", "Payment timeout"),
    ("04", "2001", "failed", "wrong_pin", None),
    ("05", "1001", "failed", "customer_busy", None),
    ("06", "17", "failed", "rule_limited", None),
    ("07", "SFC_IC0003", "failed", "config_error", None),
    ("10", "1019", "timeout", "timeout", "Payment timeout"),
    ("11", "1036", "timeout", "timeout", "Payment timeout"),
    ("12", "1025", "failed", "system_error", None),
    ("13", "9999", "failed", "system_error", None),
    ("14", "1031", "cancelled", "cancelled", "Payment cancelled"),
]


def make_client(sim, account="paybill", **overrides):
    settings = {
        "environment": "simulator",
        "consumer_key": CONSUMER_KEY,
        "consumer_secret": CONSUMER_SECRET,
        "passkey": SANDBOX_PASSKEY,
        "base_url": sim.base_url,
        **ACCOUNTS[account],
        **overrides,
    }
    return DarajaClient(DarajaConfig(**settings), timeout=(5, 10))


@pytest.fixture
def client(sim):
    c = make_client(sim)
    yield c
    c.session.close()


def received_callback(receiver, index=0):
    raw = receiver.wait_for(index + 1)[index]["raw"]
    return parse_callback(raw)  # bytes, exactly as they came over the wire


@pytest.mark.parametrize("account", ["paybill", "till"])
def test_paid_stk_push(sim, receiver, account):
    client = make_client(sim, account)
    push = client.stk_push("0712 345 600", Decimal("150"), "INV-42", "POS order", f"{receiver.url}/cb/tok1")
    assert push.response_code == "0"
    assert push.phone == "254712345600" and push.amount == 150
    assert push.checkout_request_id.startswith("ws_CO_") and push.checkout_request_id.endswith("712345600")

    callback = received_callback(receiver)
    assert isinstance(callback, StkCallback)
    assert callback.checkout_request_id == push.checkout_request_id
    assert callback.merchant_request_id == push.merchant_request_id
    assert callback.result_code == "0"
    assert callback.result.status is PaymentStatus.SUCCESS
    assert callback.result.message == "Payment successful!"
    assert callback.amount == Decimal("150")
    assert callback.receipt_number and len(callback.receipt_number) == 10
    assert callback.phone == "254712345600"
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    assert abs((callback.transaction_time - now).total_seconds()) < 60  # EAT converted to UTC
    assert receiver.requests[0]["headers"]["BusinessShortCode"] == ACCOUNTS[account]["business_shortcode"]

    query = client.stk_query(push.checkout_request_id)
    assert query.result.status is PaymentStatus.SUCCESS
    assert query.result.code == "0"
    client.session.close()


@pytest.mark.parametrize(("suffix", "code", "status", "reason", "message"), SCENARIOS)
def test_failure_scenarios(client, receiver, suffix, code, status, reason, message):
    push = client.stk_push(f"07123456{suffix}", 10, "INV-1", "POS", f"{receiver.url}/cb")
    callback = received_callback(receiver)
    query = client.stk_query(push.checkout_request_id)
    for result in (callback.result, query.result):
        assert (result.code, result.status.value, result.reason) == (code, status, reason)
        assert result.message == (message or callback.result.message)
        assert result.message
    assert callback.amount is None and callback.receipt_number is None


def test_success_without_callback_is_found_by_query(client, receiver):
    push = client.stk_push("0712345608", 10, "INV-1", "POS", f"{receiver.url}/cb")
    assert client.stk_query(push.checkout_request_id).result.status is PaymentStatus.SUCCESS
    with pytest.raises(AssertionError):
        receiver.wait_for(1, timeout=0.3)


def test_duplicate_callback(client, receiver):
    push = client.stk_push("0712345609", 10, "INV-1", "POS", f"{receiver.url}/cb")
    first, second = received_callback(receiver, 0), received_callback(receiver, 1)
    assert first == second
    assert first.checkout_request_id == push.checkout_request_id
    assert first.result.status is PaymentStatus.SUCCESS


def test_interactive_prompt_pending_then_paid(client, receiver, daraja):
    push = client.stk_push("0712345678", 99, "INV-7", "POS", f"{receiver.url}/cb")
    # Both pending shapes (HTTP 500 500.001.1001 and HTTP 200 4999) read as pending.
    for _ in range(2):
        assert client.stk_query(push.checkout_request_id).result.status is PaymentStatus.PENDING
    with pytest.raises(DarajaAPIError) as busy:
        client.stk_push("0712345678", 99, "INV-8", "POS", f"{receiver.url}/cb")
    assert (busy.value.error_code, busy.value.http_status) == ("500.001.1001", 500)
    assert busy.value.error_message.startswith("Unable to lock subscriber")

    daraja.control(f"stk/{push.checkout_request_id}/pin", {"pin": "1234"})
    callback = received_callback(receiver)
    assert callback.result.status is PaymentStatus.SUCCESS and callback.amount == Decimal("99")
    assert client.stk_query(push.checkout_request_id).result.status is PaymentStatus.SUCCESS


def test_wrong_pin_and_cancel_from_the_phone(client, receiver, daraja):
    wrong = client.stk_push("0712345678", 10, "INV-1", "POS", f"{receiver.url}/cb")
    daraja.control(f"stk/{wrong.checkout_request_id}/pin", {"pin": "0000"})
    assert received_callback(receiver).result.reason == "wrong_pin"
    cancelled = client.stk_push("0712345678", 10, "INV-1", "POS", f"{receiver.url}/cb")
    daraja.control(f"stk/{cancelled.checkout_request_id}/cancel")
    assert received_callback(receiver, 1).result.status is PaymentStatus.CANCELLED
    assert client.stk_query(cancelled.checkout_request_id).result.message == "Payment cancelled"


def test_token_refreshed_after_simulator_forgets_it(client, receiver, daraja):
    first = client.get_access_token()
    daraja.control("reset")  # drops every token: the next call gets 404.001.03
    push = client.stk_push("0712345600", 10, "INV-1", "POS", f"{receiver.url}/cb")
    assert push.checkout_request_id
    assert client.get_access_token() != first


def test_expires_in_as_string(sim, client):
    sim.state.options.expires_in_as_string = True
    client.test_connection()


def test_wrong_credentials(sim):
    client = make_client(sim, consumer_secret="not-the-secret")
    with pytest.raises(DarajaAuthError) as error:
        client.test_connection()
    assert error.value.http_status == 400
    assert "not-the-secret" not in str(error.value)
    client.session.close()


def test_wrong_passkey(sim, receiver):
    client = make_client(sim, passkey="0" * 64)
    with pytest.raises(DarajaAPIError) as error:
        client.stk_push("0712345600", 10, "INV-1", "POS", f"{receiver.url}/cb")
    assert (error.value.error_code, error.value.error_message) == ("500.001.1001", "Wrong credentials")
    client.session.close()


def test_register_c2b_v2_and_v1(sim, daraja):
    v2 = make_client(sim)
    response = v2.register_c2b_urls("http://127.0.0.1:9/c", "http://127.0.0.1:9/v")
    assert response.response_code == "00000000"
    assert response.originator_conversation_id

    v1 = make_client(sim, c2b_api_version="v1")
    # the app holds the v2 product only: v1 is refused with "no apiproduct match found", v2 taken
    assert v1.register_c2b_urls("http://127.0.0.1:9/c", "http://127.0.0.1:9/v").api_version == "v2"

    daraja.control("accounts/600984", {"api_version": "v1"})
    assert v1.register_c2b_urls("http://127.0.0.1:9/c", "http://127.0.0.1:9/v").api_version == "v1"
    assert v2.register_c2b_urls("http://127.0.0.1:9/c", "http://127.0.0.1:9/v").api_version == "v1"
    v1.session.close()
    v2.session.close()


def test_simulated_c2b_confirmation(sim, receiver):
    client = make_client(sim)
    client.register_c2b_urls(f"{receiver.url}/c2b/confirm/tok", f"{receiver.url}/c2b/validate/tok")
    answer = client.simulate_c2b(150, "0708374149", "Order 42")
    assert answer["ResponseCode"] == "0"
    notification = received_callback(receiver)
    assert isinstance(notification, C2BNotification)
    assert notification.kind == "c2b_confirmation"
    assert notification.amount == Decimal("150")
    assert notification.business_short_code == "600984"
    assert notification.bill_ref_number == "Order 42"
    assert notification.msisdn == hashlib.sha256(b"254708374149").hexdigest()
    assert notification.customer_name
    assert len(notification.trans_id) == 10
    client.session.close()


def test_till_c2b_with_validation_and_masked_msisdn(sim, receiver, daraja):
    client = make_client(sim, "till")
    daraja.control("accounts/174381", {"validation_enabled": True})
    client.register_c2b_urls(f"{receiver.url}/c", f"{receiver.url}/v")
    r = daraja.control(
        "c2b/pay", {"shortcode": "174381", "amount": 75, "msisdn": "0712345678", "msisdn_mode": "masked"}
    )
    assert r.status_code == 200
    validation, confirmation = (parse_callback(req["raw"]) for req in receiver.wait_for(2))
    assert validation.kind == "c2b_validation"
    assert confirmation.kind == "c2b_confirmation"
    assert confirmation.transaction_type == "Buy Goods"
    assert confirmation.trans_id == validation.trans_id == r.json()["trans_id"]
    assert confirmation.msisdn == "2547 ***** 678"
    assert confirmation.amount == Decimal("75")
    client.session.close()
