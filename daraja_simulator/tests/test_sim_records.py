"""The Daraja client against the simulator: Transaction Status, Reversal, Pull Transactions and a
C2B confirmation that never arrives ("lost")."""

import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from test_client_against_simulator import make_client

from daraja.api_types import Initiator
from daraja.records import parse_async_result, reversal_outcome, status_record

INITIATOR = Initiator("testapi", "c2ltdWxhdG9yIGNyZWRlbnRpYWw=")


def registered(sim, receiver):
    client = make_client(sim)
    client.register_c2b_urls(f"{receiver.url}/c2b/confirm", f"{receiver.url}/c2b/validate")
    return client


def pay(daraja, amount, delivery="once"):
    """A C2B payment, once M-Pesa has completed it (confirmed, or its confirmation lost)."""
    answer = daraja.control(
        "c2b/pay", {"shortcode": "600984", "amount": amount, "msisdn": "0712345678", "delivery": delivery}
    )
    assert answer.status_code == 200, answer.text
    receipt = answer.json()["trans_id"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rows = daraja.control("transactions").json()["transactions"]
        if any(row.get("trans_id") == receipt and row["status"] in ("confirmed", "lost") for row in rows):
            return receipt
        time.sleep(0.05)
    raise AssertionError(f"payment {receipt} never completed")


def test_a_lost_confirmation_is_recovered_by_pull(sim, receiver, daraja):
    client = registered(sim, receiver)
    delivered = pay(daraja, 120)
    lost = pay(daraja, 130, delivery="lost")
    receiver.wait_for(1, timeout=15, path="/c2b/confirm")
    assert [r["path"] for r in receiver.requests].count("/c2b/confirm") == 1  # the lost one never comes
    assert client.pull_register("0722000000", f"{receiver.url}/pull") == "registered"
    assert client.pull_register("0722000000", f"{receiver.url}/pull") == "already registered"
    now = datetime.now(timezone.utc)
    found = {
        t.receipt: t for t in client.pull_transactions(now - timedelta(hours=1), now + timedelta(minutes=1))
    }
    assert set(found) == {delivered, lost}
    assert found[lost].amount == Decimal("130")
    assert abs(found[lost].occurred_at - now.replace(tzinfo=None)) < timedelta(minutes=2)
    client.session.close()


def test_transaction_status_finds_our_receipts_only(sim, receiver, daraja):
    client = registered(sim, receiver)
    receipt = pay(daraja, 90, delivery="lost")
    client.transaction_status(receipt, INITIATOR, f"{receiver.url}/ts/result", f"{receiver.url}/ts/timeout")
    record = status_record(parse_async_result(receiver.wait_for(1, timeout=15, path="/ts/result")[0]["raw"]))
    assert (record.receipt, record.amount, record.status) == (receipt, Decimal("90"), "Completed")
    client.transaction_status(
        "QZZ0000000", INITIATOR, f"{receiver.url}/ts/result", f"{receiver.url}/ts/timeout"
    )
    unknown = parse_async_result(receiver.wait_for(2, timeout=15, path="/ts/result")[1]["raw"])
    assert unknown.code == "2032" and status_record(unknown) is None
    client.session.close()


def test_reversal_once_then_already_reversed(sim, receiver, daraja):
    client = registered(sim, receiver)
    receipt = pay(daraja, 60)
    urls = (f"{receiver.url}/rev/result", f"{receiver.url}/rev/timeout")
    client.reversal(receipt, 60, INITIATOR, *urls)
    client.reversal(receipt, 60, INITIATOR, *urls)
    client.reversal("QZZ0000000", 60, INITIATOR, *urls)
    results = [parse_async_result(r["raw"]) for r in receiver.wait_for(3, timeout=15, path="/rev/result")]
    assert sorted(reversal_outcome(r) for r in results) == [
        "already_reversed",
        "invalid_original",
        "reversed",
    ]
    reversed_result = next(r for r in results if r.is_success)
    assert reversed_result.parameter("OriginalTransactionID") == receipt
    assert reversed_result.transaction_id and reversed_result.transaction_id != receipt
    client.session.close()


def test_the_phone_page_lists_reversals(sim, receiver, daraja):
    client = registered(sim, receiver)
    receipt = pay(daraja, 45)
    client.reversal(receipt, 45, INITIATOR, f"{receiver.url}/rev/result", f"{receiver.url}/rev/timeout")
    receiver.wait_for(1, timeout=15, path="/rev/result")
    rows = daraja.control("transactions").json()["transactions"]
    reversal = next(row for row in rows if row["kind"] == "reversal")
    assert (reversal["amount"], reversal["status"], reversal["detail"]) == (
        45,
        "reversed",
        f"reverses {receipt}",
    )
    client.session.close()
