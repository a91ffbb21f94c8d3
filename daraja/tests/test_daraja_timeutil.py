from datetime import datetime, timedelta, timezone

import pytest

from daraja import eat_to_utc, nairobi_timestamp


def test_timestamp_is_nairobi_time():
    assert nairobi_timestamp(datetime(2024, 7, 10, 6, 15, 26, tzinfo=timezone.utc)) == "20240710091526"


def test_naive_now_is_taken_as_utc():
    assert nairobi_timestamp(datetime(2024, 12, 31, 22, 0, 0)) == "20250101010000"


def test_aware_now_in_another_zone():
    tz = timezone(timedelta(hours=-5))
    assert nairobi_timestamp(datetime(2024, 1, 1, 0, 0, 0, tzinfo=tz)) == "20240101080000"


def test_default_now_is_current_time():
    before = datetime.now(timezone.utc) + timedelta(hours=3)
    stamp = nairobi_timestamp()
    after = datetime.now(timezone.utc) + timedelta(hours=3)
    assert before.strftime("%Y%m%d%H%M%S") <= stamp <= after.strftime("%Y%m%d%H%M%S")


@pytest.mark.parametrize("value", [20191219102115, "20191219102115", " 20191219102115 "])
def test_eat_to_utc_from_daraja_dates(value):
    assert eat_to_utc(value) == datetime(2019, 12, 19, 7, 21, 15)


def test_eat_to_utc_crosses_midnight_and_is_naive():
    result = eat_to_utc("20240101010000")
    assert result == datetime(2023, 12, 31, 22, 0, 0)
    assert result.tzinfo is None


def test_eat_to_utc_from_naive_eat_datetime():
    assert eat_to_utc(datetime(2026, 10, 6, 9, 52, 33)) == datetime(2026, 10, 6, 6, 52, 33)


@pytest.mark.parametrize(
    "value", ["2019121910211", "20191319102115", "abc", "", None, True, 3.5, -20191219102115]
)
def test_eat_to_utc_refuses_non_dates(value):
    with pytest.raises(ValueError):
        eat_to_utc(value)
