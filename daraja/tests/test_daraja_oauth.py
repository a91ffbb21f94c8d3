import base64
import json
import threading
import time

import pytest
import requests
import responses
from daraja_testkit import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    OAUTH_URL,
    TOKEN,
    TOKEN_2,
    Clock,
    add_token,
    make_client,
    make_config,
)

from daraja import (
    DarajaAuthError,
    DarajaClient,
    DarajaTransportError,
    MemoryTokenStore,
    TokenStore,
)


@responses.activate
def test_token_uses_basic_auth_and_grant_type():
    add_token(responses)
    assert make_client().get_access_token() == TOKEN
    request = responses.calls[0].request
    expected = base64.b64encode(f"{CONSUMER_KEY}:{CONSUMER_SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert request.method == "GET"
    assert "grant_type=client_credentials" in request.url


@pytest.mark.parametrize("expires_in", [3599, "3599", " 3599 ", 3599.0])
@responses.activate
def test_expires_in_number_or_string(expires_in):
    add_token(responses, expires_in=expires_in)
    clock = Clock()
    store = MemoryTokenStore()
    make_client(clock=clock, store=store).get_access_token()
    assert store.get() == (TOKEN, clock.now + 3599)


@responses.activate
def test_token_is_cached_then_refreshed_a_minute_before_expiry():
    clock = Clock()
    client = make_client(clock=clock)
    add_token(responses, TOKEN)
    assert client.get_access_token() == TOKEN
    clock.now += 3599 - 61  # 61 s left: still good
    assert client.get_access_token() == TOKEN
    assert len(responses.calls) == 1
    responses.replace(responses.GET, OAUTH_URL, json={"access_token": TOKEN_2, "expires_in": "3599"})
    clock.now += 2  # 59 s left: refresh
    assert client.get_access_token() == TOKEN_2
    assert len(responses.calls) == 2


@responses.activate
def test_force_refresh_fetches_even_with_a_fresh_token():
    add_token(responses, TOKEN)
    client = make_client()
    client.get_access_token()
    responses.replace(responses.GET, OAUTH_URL, json={"access_token": TOKEN_2, "expires_in": 3599})
    assert client.get_access_token(force_refresh=True) == TOKEN_2
    assert len(responses.calls) == 2


@responses.activate
def test_test_connection_asks_daraja_and_raises_on_failure():
    add_token(responses)
    client = make_client()
    assert client.test_connection() is None
    assert len(responses.calls) == 1
    responses.replace(responses.GET, OAUTH_URL, body="", status=400)
    with pytest.raises(DarajaAuthError):
        client.test_connection()


class RacingStore(MemoryTokenStore):
    """Another worker stores a token while we wait for the refresh lock."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        self.in_lock = False

    def get(self):
        if self.in_lock:
            return ("token-from-other-worker-0123", self.clock.now + 3000)
        return super().get()

    def refresh_lock(self):
        store = self

        class _Lock:
            def __enter__(self):
                store.in_lock = True

            def __exit__(self, *exc):
                store.in_lock = False

        return _Lock()


@responses.activate
def test_store_is_re_read_inside_the_lock():
    clock = Clock()
    store = RacingStore(clock)
    assert isinstance(store, TokenStore)
    client = make_client(clock=clock, store=store)
    assert client.get_access_token() == "token-from-other-worker-0123"
    assert len(responses.calls) == 0


@responses.activate
def test_single_flight_across_threads():
    def slow_token(request):
        time.sleep(0.2)
        return 200, {}, json.dumps({"access_token": TOKEN, "expires_in": 3599})

    responses.add_callback(responses.GET, OAUTH_URL, callback=slow_token)
    store = MemoryTokenStore()
    results = []
    clients = [make_client(store=store) for _ in range(4)]
    threads = [threading.Thread(target=lambda c=c: results.append(c.get_access_token())) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [TOKEN] * 4
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (
            400,
            '{"requestId":"11259-2330641-1","errorCode":"400.008.02",'
            '"errorMessage":"Invalid grant type passed"}',
            "400.008.02",
        ),
        (
            400,
            '{"requestId":"1","errorCode":"400.008.01","errorMessage":"Invalid Authentication passed"}',
            "400.008.01",
        ),
        (400, '{"resultCode":"999991","resultDesc":"Invalid client id passed"}', "999991"),
        (200, '{"errorCode":"400.008.01","errorMessage":"Invalid Authentication passed"}', "400.008.01"),
    ],
)
@responses.activate
def test_oauth_error_shapes(status, body, code):
    responses.add(responses.GET, OAUTH_URL, body=body, status=status, content_type="application/json")
    with pytest.raises(DarajaAuthError) as info:
        make_client().get_access_token()
    assert info.value.error_code == code
    assert info.value.http_status == status
    assert info.value.error_message


@pytest.mark.parametrize("status", [400, 401])
@responses.activate
def test_empty_400_is_an_auth_error_not_a_json_error(status):
    responses.add(responses.GET, OAUTH_URL, body="", status=status)
    with pytest.raises(DarajaAuthError) as info:
        make_client().get_access_token()
    assert info.value.http_status == status
    assert info.value.error_code is None
    assert "consumer key and secret" in info.value.message


@pytest.mark.parametrize(
    "body",
    [
        '{"access_token": "", "expires_in": 3599}',
        '{"access_token": "abc"}',
        '{"access_token": "abc", "expires_in": "soon"}',
        '{"access_token": "abc", "expires_in": -5}',
        '{"access_token": "abc", "expires_in": true}',
        '{"access_token": 12345, "expires_in": 3599}',
    ],
)
@responses.activate
def test_unusable_200_answers(body):
    responses.add(responses.GET, OAUTH_URL, body=body, status=200, content_type="application/json")
    store = MemoryTokenStore()
    with pytest.raises(DarajaAuthError):
        make_client(store=store).get_access_token()
    assert store.get() is None


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, "<html><body>Apigee SPA Proxy</body></html>"),
        (502, "<html>Bad Gateway</html>"),
        (503, ""),
        (200, "[1, 2]"),
        (200, "not json"),
    ],
)
@responses.activate
def test_html_or_empty_bodies_are_transport_errors(status, body):
    responses.add(responses.GET, OAUTH_URL, body=body, status=status)
    with pytest.raises(DarajaTransportError) as info:
        make_client().get_access_token()
    assert f"HTTP {status}" in info.value.message


@responses.activate
def test_redirect_is_not_followed():
    responses.add(responses.GET, OAUTH_URL, status=302, headers={"Location": "https://elsewhere.example/"})
    with pytest.raises(DarajaTransportError) as info:
        make_client().get_access_token()
    assert "redirect" in info.value.message
    assert len(responses.calls) == 1


@responses.activate
def test_timeouts_are_explicit_and_passed_to_requests():
    add_token(responses)
    session = requests.Session()
    seen = {}
    original = session.request

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return original(*args, **kwargs)

    session.request = spy
    DarajaClient(make_config(), session=session, timeout=(3, 12)).get_access_token()
    assert seen["timeout"] == (3, 12)
    assert seen["allow_redirects"] is False


@responses.activate
def test_oauth_connect_timeout_is_not_ambiguous():
    responses.add(responses.GET, OAUTH_URL, body=requests.exceptions.ConnectTimeout("boom"))
    with pytest.raises(DarajaTransportError) as info:
        make_client().get_access_token()
    assert info.value.ambiguous is False


@pytest.mark.parametrize("timeout", [(0, 5), (5,), "5", (5, None), None, (True, 3)])
def test_bad_timeouts_are_refused(timeout):
    with pytest.raises(ValueError):
        DarajaClient(make_config(), timeout=timeout)


def test_single_number_timeout_applies_to_both():
    assert DarajaClient(make_config(), timeout=7).timeout == (7, 7)


def test_broken_store_values_are_ignored():
    class Broken(MemoryTokenStore):
        def get(self):
            return ("", "x")

    with responses.RequestsMock() as rsps:
        add_token(rsps)
        assert make_client(store=Broken()).get_access_token() == TOKEN


def test_close_only_closes_its_own_session():
    class Tracking(requests.Session):
        closed = False

        def close(self):
            self.closed = True
            super().close()

    given = Tracking()
    with DarajaClient(make_config(), session=given):
        pass
    assert not given.closed
    client = DarajaClient(make_config())
    own = client.session
    own.close = lambda: setattr(own, "was_closed", True)
    with client:
        pass
    assert own.was_closed
