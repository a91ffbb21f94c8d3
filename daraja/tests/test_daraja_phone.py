import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daraja import InvalidPhoneNumber, normalize_phone


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0712345678", "254712345678"),
        ("0112345678", "254112345678"),
        ("+254712345678", "254712345678"),
        ("254712345678", "254712345678"),
        ("2541 1234 5678", "254112345678"),
        ("+254 (712) 345-678", "254712345678"),
        ("  0712-345-678 ", "254712345678"),
        ("(0712) 345 678", "254712345678"),
        ("\t+254\u00a0712 345 678\n", "254712345678"),
        (254708374149, "254708374149"),
    ],
)
def test_accepted_formats(value, expected):
    assert normalize_phone(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "0812345678",  # not a mobile range
        "071234567",  # too short
        "07123456789",  # too long
        "712345678",  # no prefix
        "+255712345678",  # Tanzania
        "2540712345678",
        "++254712345678",
        "07l2345678",
        "0712.345.678",
        "\u0660\u0667\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",  # Arabic-Indic digits
        "0712345678x",
        "+",
        None,
        True,
        712345678,
        -254712345678,
        pytest.param(10**5000, id="huge-int"),
        254712345678.0,
        b"0712345678",
        ["0712345678"],
        pytest.param("0" * 100_000, id="huge-text"),
    ],
)
def test_refused_with_the_accepted_formats_in_the_message(value):
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_phone(value)
    message = info.value.message
    assert message.startswith("Invalid phone number")
    assert "07XXXXXXXX" in message and "01XXXXXXXX" in message and "+2547XXXXXXXX" in message


def test_the_refused_value_is_not_echoed():
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_phone("0999 SECRET 1")
    assert "SECRET" not in str(info.value)


_RESULT = re.compile(r"254[17][0-9]{8}")


@given(
    st.one_of(
        st.text(),
        st.text(alphabet="0123456789+ -()\t", max_size=20),
        st.integers(),
        st.floats(),
        st.none(),
        st.booleans(),
        st.binary(),
        st.lists(st.text(max_size=3), max_size=3),
    )
)
def test_never_raises_anything_but_invalid_phone_number(value):
    try:
        result = normalize_phone(value)
    except InvalidPhoneNumber:
        return
    assert _RESULT.fullmatch(result)


@given(
    st.sampled_from(["0", "+254", "254"]),
    st.sampled_from("17"),
    st.text(alphabet="0123456789", min_size=8, max_size=8),
)
def test_every_valid_number_normalises_to_the_same_msisdn(prefix, network, rest):
    assert normalize_phone(f"{prefix}{network}{rest}") == f"254{network}{rest}"
