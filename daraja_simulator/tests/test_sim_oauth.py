"""OAuth: credentials, grant type, error modes, TTL with an injected clock, token families."""

import pytest
import requests
from sim_helpers import Daraja

from daraja_simulator import SimulatorServer


class FakeClock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self):
        return self.now


def test_token_issued_with_number_expiry(daraja):
    r = daraja.oauth()
    assert r.status_code == 200
    data = r.json()
    assert data["expires_in"] == 3599
    assert len(data["access_token"]) == 28 and data["access_token"].isalnum()


def test_expires_in_as_string_option():
    with SimulatorServer(expires_in_as_string=True) as sim:
        assert Daraja(sim.base_url).oauth().json()["expires_in"] == "3599"


def test_bad_grant_type(daraja):
    r = daraja.oauth(grant="password")
    assert r.status_code == 400
    assert r.json()["errorCode"] == "400.008.02"
    assert r.json()["errorMessage"] == "Invalid grant type passed"
    assert daraja.http.get(f"{daraja.base}/oauth/v1/generate", timeout=5).json()["errorCode"] == "400.008.02"


def test_not_basic_auth(daraja):
    r = daraja.http.get(
        f"{daraja.base}/oauth/v1/generate?grant_type=client_credentials",
        headers={"Authorization": "Bearer abc"},
        timeout=5,
    )
    assert r.status_code == 400
    assert r.json()["errorCode"] == "400.008.01"


def test_wrong_credentials_default_is_empty_400(daraja):
    r = daraja.oauth(secret="wrong")
    assert r.status_code == 400
    assert r.content == b""
    assert daraja.oauth(key="nobody").content == b""


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("400.008.01", {"errorCode": "400.008.01", "errorMessage": "Invalid Authentication passed"}),
        ("999991", {"resultCode": "999991", "resultDesc": "Invalid client id passed"}),
    ],
)
def test_wrong_credentials_modes(mode, expected):
    with SimulatorServer(bad_credentials_mode=mode) as sim:
        r = Daraja(sim.base_url).oauth(secret="wrong")
        assert r.status_code == 400
        assert expected.items() <= r.json().items()


def test_unknown_mode_refused():
    with pytest.raises(ValueError, match="bad_credentials_mode"):
        SimulatorServer(bad_credentials_mode="teapot")


def test_token_expires_after_3599_seconds():
    clock = FakeClock()
    with SimulatorServer(clock=clock) as sim:
        d = Daraja(sim.base_url)
        token = d.token()
        clock.now += 3598
        assert d.query("ws_CO_unknown", "174379").json()["errorMessage"] == "The transaction does not Exist"
        clock.now += 1
        r = d.query("ws_CO_unknown", "174379")
        assert r.status_code == 404
        assert r.json()["errorCode"] == "404.001.03"
        assert d.post("/mpesa/c2b/v2/registerurl", {}, token=token).json()["errorCode"] == "400.003.01"


def test_clock_advance_through_control_api(daraja):
    daraja.token()
    assert daraja.control("clock", {"advance": 3600}).status_code == 200
    assert daraja.query("ws_CO_x").json()["errorCode"] == "404.001.03"


def test_new_token_keeps_old_by_default(daraja):
    first = daraja.oauth().json()["access_token"]
    daraja.oauth()
    assert daraja.query("ws_CO_x", "174379").status_code == 500  # still authorised (unknown id)
    assert daraja.post("/mpesa/stkpushquery/v1/query", {}, token=first).status_code == 400


def test_new_token_invalidates_old_option():
    with SimulatorServer(invalidate_old_tokens=True) as sim:
        d = Daraja(sim.base_url)
        first = d.oauth().json()["access_token"]
        second = d.oauth().json()["access_token"]
        assert d.post("/mpesa/stkpushquery/v1/query", {}, token=first).json()["errorCode"] == "404.001.03"
        assert d.post("/mpesa/stkpushquery/v1/query", {}, token=second).status_code == 400


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/mpesa/stkpush/v1/processrequest", 404, "404.001.03"),
        ("/mpesa/stkpushquery/v1/query", 404, "404.001.03"),
        ("/mpesa/c2b/v1/registerurl", 400, "400.003.01"),
        ("/mpesa/c2b/v2/registerurl", 400, "400.003.01"),
        ("/mpesa/c2b/v1/simulate", 400, "400.003.01"),
        ("/mpesa/c2b/v2/simulate", 400, "400.003.01"),
    ],
)
def test_token_error_family_per_path(daraja, path, status, code):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}):
        r = requests.post(f"{daraja.base}{path}", json={}, headers=headers, timeout=5)
        assert r.status_code == status
        assert r.json()["errorCode"] == code
        assert r.json()["errorMessage"] == "Invalid Access Token"
        assert r.json()["requestId"]
