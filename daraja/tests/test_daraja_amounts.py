from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daraja import MAX_AMOUNT, InvalidAmount, validate_amount


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1),
        (250_000, 250_000),
        (100, 100),
        ("100", 100),
        (" 100 ", 100),
        ("100.00", 100),
        (Decimal("100"), 100),
        (Decimal("100.00"), 100),
        (100.0, 100),
        (Decimal("1E+3"), 1000),
    ],
)
def test_whole_shillings_are_accepted(value, expected):
    result = validate_amount(value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    "value",
    [Decimal("100.50"), "12.5", 12.5, Decimal("0.01"), "99.99", 100.000001, Decimal("250000.5")],
)
def test_fractions_are_refused_never_rounded(value):
    with pytest.raises(InvalidAmount) as info:
        validate_amount(value)
    assert "whole" in info.value.message
    assert "never rounded" in info.value.message


@pytest.mark.parametrize("value", [0, -1, 250_001, "0", "250001", Decimal("0"), Decimal("-5"), 10**30, 1e300])
def test_out_of_range_is_refused(value):
    with pytest.raises(InvalidAmount) as info:
        validate_amount(value)
    assert "250,000" in info.value.message


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        None,
        "",
        "abc",
        "1e3",
        "-5",
        "+5",
        "1,000",
        "KES 100",
        "100 KES",
        float("nan"),
        float("inf"),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        [100],
        {"amount": 100},
        b"100",
        object(),
    ],
)
def test_garbage_is_refused(value):
    with pytest.raises(InvalidAmount) as info:
        validate_amount(value)
    assert info.value.message.startswith("Invalid amount")


def test_decimal_message_shows_the_amount():
    with pytest.raises(InvalidAmount) as info:
        validate_amount(Decimal("100.50"))
    assert "100.50" in info.value.message


@given(
    st.one_of(
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.decimals(allow_nan=True, allow_infinity=True),
        st.text(max_size=30),
        st.none(),
        st.booleans(),
    )
)
def test_result_is_always_an_exact_whole_amount_in_range(value):
    try:
        result = validate_amount(value)
    except InvalidAmount:
        return
    assert type(result) is int
    assert 1 <= result <= MAX_AMOUNT
    assert Decimal(str(value).strip()) == result  # the input itself was whole: nothing was rounded
