"""Outages: the "no_answer" fault, POST /__sim__/down (the port really closed), the request counters, and
what Transaction Status and Reversal POST after their acknowledgement (async_outcome)."""

import json
import socket
import threading
import time

import pytest
import requests
from sim_helpers import Daraja, Receiver, wait_until
from test_sim_records import pay

from daraja_simulator import SimulatorServer

PAID = "254712345600"  # suffix 00: paid at once


def _connect(port):
    """Open and close a TCP connection to the simulator's port (raises ConnectionRefusedError when down)."""
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def _in_thread(func):
    """Run func() on a thread; returns (thread, box) where box["result"] or box["error"] is set at the end."""
    box = {}

    def run():
        try:
            box["result"] = func()
        except Exception as exc:  # the test looks at it
            box["error"] = exc
        box["at"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


# -- no answer at all ---------------------------------------------------------------------------------


def test_no_answer_holds_the_request_until_switched_off(sim, daraja):
    token = daraja.token()
    daraja.control("options", {"fault": "no_answer", "fault_apis": "stk_push"})
    with pytest.raises(requests.ReadTimeout):  # the connection is accepted, no answer comes
        daraja.http.post(
            f"{sim.base_url}/mpesa/stkpush/v1/processrequest",
            json=daraja.stk_body(PAID),
            headers={"Authorization": f"Bearer {token}"},
            timeout=(2, 0.5),
        )
    held_session = requests.Session()
    thread, box = _in_thread(
        lambda: held_session.post(
            f"{sim.base_url}/mpesa/stkpush/v1/processrequest",
            json=daraja.stk_body("254712345700"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=(2, 30),
        )
    )
    try:
        # both held, each on its own thread: the control API and the other APIs answer meanwhile
        assert wait_until(lambda: daraja.control("stats").json()["held"] == 2)
        assert daraja.oauth().status_code == 200
        assert daraja.query("ws_CO_unknown").status_code >= 200  # an answer, whatever it says
        faults = daraja.control("faults").json()
        assert (faults["fault"], faults["served"]) == ("no_answer", 2)
        time.sleep(0.3)
        assert thread.is_alive()  # still no answer
        switched_off = time.monotonic()
        daraja.control("options", {"fault": "none"})
        thread.join(5)
        assert not thread.is_alive()
        # closed without an answer, at once
        assert isinstance(box.get("error"), requests.ConnectionError), box
        assert box["at"] - switched_off < 2
    finally:
        daraja.control("options", {"fault": "none"})
        thread.join(5)
        held_session.close()
    assert wait_until(lambda: daraja.control("stats").json()["held"] == 0)
    # not processed: no prompt was sent; the push works again
    assert daraja.control("transactions").json()["transactions"] == []
    assert daraja.push(PAID).status_code == 200


def test_no_answer_after_the_work_with_fault_processed(sim, daraja):
    daraja.token()
    daraja.control("options", {"fault": "no_answer", "fault_apis": "stk_push", "fault_processed": True})
    with pytest.raises(requests.ReadTimeout):
        daraja.http.post(
            f"{daraja.base}/mpesa/stkpush/v1/processrequest",
            json=daraja.stk_body(PAID),
            headers={"Authorization": f"Bearer {daraja.token()}"},
            timeout=(2, 0.5),
        )
    rows = wait_until(lambda: daraja.control("transactions").json()["transactions"])
    assert [row["phone"] for row in rows] == [PAID]  # the prompt went out, only the answer is lost
    daraja.control("options", {"fault": "none"})


def test_no_answer_on_oauth_and_stop_releases_held_requests():
    sim = SimulatorServer(callback_delay=0).start()
    daraja = Daraja(sim.base_url)
    thread = None
    try:
        daraja.control("options", {"fault": "no_answer", "fault_apis": "oauth"})
        thread, box = _in_thread(lambda: Daraja(sim.base_url).oauth())
        assert wait_until(lambda: daraja.control("stats").json()["held"] == 1)
        started = time.monotonic()
    finally:
        sim.stop()  # never blocked by a held request
        daraja.http.close()
    assert time.monotonic() - started < 3
    thread.join(5)
    assert not thread.is_alive() and "error" in box


def test_no_answer_is_a_fault_option_like_the_others(daraja):
    assert daraja.control("options", {"fault": "no_answer"}).json()["fault"] == "no_answer"
    assert daraja.control("options", {"fault": "no_anwser"}).status_code == 400
    daraja.control("options", {"fault": "none"})


# -- the port closed: connections refused ------------------------------------------------------------


def test_down_refuses_connections_then_listens_again_on_the_same_port(sim, daraja):
    port = sim.port
    assert daraja.push(PAID).status_code == 200
    answer = daraja.control("down", {"seconds": 1.5})
    assert answer.status_code == 200 and answer.json() == {"down": True, "seconds": 1.5}
    went_down = time.monotonic()
    assert wait_until(lambda: sim.is_down)
    with pytest.raises(ConnectionRefusedError):
        _connect(port)
    fresh = requests.Session()
    with pytest.raises(requests.ConnectionError):
        fresh.get(f"{sim.base_url}/__sim__/stats", timeout=2)  # the control API is down too
    fresh.close()
    wait_until(lambda: not sim.is_down, timeout=5)
    assert time.monotonic() - went_down >= 1.4
    _connect(port)
    assert sim.port == port
    # the state was kept: the push made before the outage is still there, and the token still works
    after = Daraja(sim.base_url)
    after._token = daraja.token()
    rows = after.control("transactions").json()["transactions"]
    assert [row["phone"] for row in rows] == [PAID]
    assert after.push("254712345700").status_code == 200
    after.http.close()


def test_callbacks_are_delivered_while_down(receiver):
    sim = SimulatorServer(callback_delay=0.5).start()
    daraja = Daraja(sim.base_url)
    try:
        assert daraja.push(PAID, callback_url=f"{receiver.url}/stk").status_code == 200
        daraja.control("down", {"seconds": 3})
        wait_until(lambda: sim.is_down)
        got = receiver.wait_for(1, timeout=3, path="/stk")  # 0.5 s later, the port still closed
        assert sim.is_down
        stk = json.loads(got[0]["raw"])["Body"]["stkCallback"]
        assert stk["ResultCode"] == 0
        sim.up()  # the outage can end early (from Python: nothing answers HTTP while down)
        wait_until(lambda: not sim.is_down, timeout=2)
        _connect(sim.port)
    finally:
        daraja.http.close()
        sim.stop()


def test_a_keep_alive_connection_opened_before_gets_no_answer(sim, daraja):
    kept = requests.Session()
    assert kept.get(f"{sim.base_url}/__sim__/stats", timeout=2).status_code == 200  # opened before
    daraja.control("down", {"seconds": 30})
    wait_until(lambda: sim.is_down)
    with pytest.raises(requests.ConnectionError):
        kept.get(f"{sim.base_url}/__sim__/stats", timeout=2)
    kept.close()
    sim.up()
    wait_until(lambda: not sim.is_down, timeout=2)


def test_stop_while_down_and_down_again(sim, daraja):
    daraja.control("down", {"seconds": 0.5})
    wait_until(lambda: sim.is_down)
    wait_until(lambda: not sim.is_down, timeout=5)
    _connect(sim.port)
    fresh = Daraja(sim.base_url)
    fresh.control("down", {"seconds": 60})  # a second outage; the fixture stops the simulator meanwhile
    wait_until(lambda: sim.is_down)
    fresh.http.close()


@pytest.mark.parametrize("seconds", [0, -1, "5", True, 3601, None])
def test_down_needs_a_number_of_seconds(daraja, seconds):
    answer = daraja.control("down", {"seconds": seconds})
    assert answer.status_code == 400
    assert "seconds" in answer.json()["error"]


# -- counters -----------------------------------------------------------------------------------------


def test_stats_count_oauth_and_api_requests(daraja):
    daraja.oauth()
    daraja.oauth(secret="wrong")
    daraja.push(PAID)
    daraja.control("options", {"fault": "http_500", "fault_apis": "stk_push"})
    daraja.push("254712345700")
    stats = daraja.control("stats").json()
    assert stats["oauth_requests"] == 3  # the push asked for a token too
    assert stats["tokens_issued"] == 2
    assert stats["api_requests"] == {"oauth": 3, "stk_push": 2}
    assert stats["held"] == 0
    daraja.control("reset")
    assert daraja.control("stats").json()["api_requests"] == {}


# -- Transaction Status and Reversal: what follows the acknowledgement --------------------------------

INITIATOR = {"Initiator": "testapi", "SecurityCredential": "c2ltdWxhdG9yIGNyZWRlbnRpYWw="}


@pytest.fixture
def registered(daraja, receiver):
    """C2B URLs registered for 600984 (a C2B payment needs them), on another receiver."""
    c2b = Receiver()
    answer = daraja.register(confirmation=f"{c2b.url}/c2b/confirm", validation=f"{c2b.url}/c2b/validate")
    assert answer.status_code == 200, answer.text
    yield
    c2b.stop()


def _status(daraja, receiver, receipt):
    body = {
        **INITIATOR,
        "CommandID": "TransactionStatusQuery",
        "TransactionID": receipt,
        "PartyA": "600984",
        "IdentifierType": "4",
        "ResultURL": f"{receiver.url}/ts/result",
        "QueueTimeOutURL": f"{receiver.url}/ts/timeout",
        "Remarks": "status",
        "Occasion": "",
    }
    answer = daraja.post("/mpesa/transactionstatus/v1/query", body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _reverse(daraja, receiver, receipt, amount):
    body = {
        **INITIATOR,
        "CommandID": "TransactionReversal",
        "TransactionID": receipt,
        "Amount": amount,
        "ReceiverParty": "600984",
        "RecieverIdentifierType": "11",
        "ResultURL": f"{receiver.url}/rev/result",
        "QueueTimeOutURL": f"{receiver.url}/rev/timeout",
        "Remarks": "refund",
    }
    answer = daraja.post("/mpesa/reversal/v1/request", body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _paths(receiver):
    return [r["path"] for r in receiver.requests]


def test_async_outcome_timeout_posts_a_queue_timeout_notice(daraja, receiver, registered):
    receipt = pay(daraja, 70)
    daraja.control("options", {"async_outcome": "timeout"})
    ack = _status(daraja, receiver, receipt)
    notice = receiver.json(0, path="/ts/timeout")["Result"]
    assert notice["ResultType"] == 1 and notice["ResultCode"] == 1
    assert notice["ResultDesc"] == "The service request has timed out."
    assert notice["OriginatorConversationID"] == ack["OriginatorConversationID"]
    assert notice["ConversationID"] == ack["ConversationID"]
    assert notice["TransactionID"]
    # a reversal that timed out in the queue was not made: the next one reverses
    _reverse(daraja, receiver, receipt, 70)
    receiver.wait_for(1, path="/rev/timeout")
    daraja.control("options", {"async_outcome": "result"})
    _reverse(daraja, receiver, receipt, 70)
    assert receiver.json(0, path="/rev/result")["Result"]["ResultCode"] == 0
    time.sleep(0.2)
    assert sorted(_paths(receiver)) == ["/rev/result", "/rev/timeout", "/ts/timeout"]


def test_async_outcome_none_processes_and_posts_nothing(daraja, receiver, registered):
    receipt = pay(daraja, 80)
    daraja.control("options", {"async_outcome": "none"})
    _status(daraja, receiver, receipt)
    _reverse(daraja, receiver, receipt, 80)  # made, its Result lost
    time.sleep(0.3)
    assert receiver.requests == []
    assert [r for r in daraja.control("transactions").json()["transactions"] if r["kind"] == "reversal"]
    daraja.control("options", {"async_outcome": "result"})
    _reverse(daraja, receiver, receipt, 80)
    assert receiver.json(0, path="/rev/result")["Result"]["ResultCode"] == "R000001"  # already reversed


def test_async_outcome_twice_posts_the_same_result_twice(daraja, receiver, registered):
    receipt = pay(daraja, 90)
    daraja.control("options", {"async_outcome": "twice"})
    ack = _status(daraja, receiver, receipt)
    _reverse(daraja, receiver, receipt, 90)
    statuses = receiver.wait_for(2, path="/ts/result")
    assert statuses[0]["raw"] == statuses[1]["raw"]
    assert json.loads(statuses[0]["raw"])["Result"]["ConversationID"] == ack["ConversationID"]
    reversals = receiver.wait_for(2, path="/rev/result")
    assert reversals[0]["raw"] == reversals[1]["raw"]
    assert json.loads(reversals[0]["raw"])["Result"]["ResultCode"] == 0  # one reversal, told twice
    time.sleep(0.2)
    assert len(receiver.requests) == 4
    assert daraja.control("options", {"async_outcome": "thrice"}).status_code == 400
