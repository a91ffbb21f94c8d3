import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daraja import DarajaValidationError
from daraja.fields import sanitize_field
from daraja.urls import check_url

ALLOWED = re.compile(r"[A-Za-z0-9./-]([A-Za-z0-9 ./-]*[A-Za-z0-9./-])?")


@given(
    st.one_of(st.text(), st.integers(min_value=-(10**19), max_value=10**19), st.none()), st.integers(1, 20)
)
def test_sanitised_fields_are_short_plain_and_never_empty(value, max_length):
    result = sanitize_field(value, max_length, "POS", "reference")
    assert 1 <= len(result) <= max(max_length, 3)
    assert ALLOWED.fullmatch(result)
    assert "  " not in result


@pytest.mark.parametrize(
    "value",
    [-(10**5000), 10**5000, 1.5, b"abc", ["a"], True],
    ids=["huge-negative", "huge", "float", "bytes", "list", "bool"],
)
def test_non_text_is_refused(value):
    with pytest.raises(DarajaValidationError):
        sanitize_field(value, 12, "POS", "reference")


@pytest.mark.parametrize(
    "url",
    ["http://[::1", "https://", "https:///path", "javascript:alert(1)", "https://h/" + "a" * 3000, 42],
)
def test_malformed_urls_are_refused(url):
    with pytest.raises(DarajaValidationError):
        check_url(url, "callback URL", production=False)


def test_plain_urls_pass_outside_production():
    assert (
        check_url("http://127.0.0.1:8069/cb/x", "callback URL", production=False)
        == "http://127.0.0.1:8069/cb/x"
    )
