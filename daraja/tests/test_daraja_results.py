from decimal import Decimal
from pathlib import Path

import pytest

from daraja import PaymentStatus, ResultInfo, classify_result
from daraja import results as results_module


@pytest.mark.parametrize(
    ("code", "status", "reason", "message"),
    [
        (0, "success", "paid", "Payment successful!"),
        ("0", "success", "paid", "Payment successful!"),
        (1032, "cancelled", "cancelled", "Payment cancelled"),
        ("1031", "cancelled", "cancelled", "Payment cancelled"),
        (1, "failed", "insufficient_balance", "Insufficient balance"),
        (1037, "timeout", "timeout", "Payment timeout"),
        ("1019", "timeout", "timeout", "Payment timeout"),
        (1036, "timeout", "timeout", "Payment timeout"),
        (2001, "failed", "wrong_pin", "Wrong M-Pesa PIN"),
        (8006, "failed", "pin_locked", "The customer's M-Pesa PIN is locked"),
        (1001, "failed", "customer_busy", "The customer is busy with another M-Pesa transaction"),
        (17, "failed", "rule_limited", "Same payment repeated too quickly: wait 2 minutes"),
        ("4", "failed", "limit_exceeded", "M-Pesa transaction limit exceeded"),
        ("SFC_IC0003", "failed", "config_error", "M-Pesa account configuration error"),
        ("sfc_ic0003", "failed", "config_error", "M-Pesa account configuration error"),
        (2028, "failed", "config_error", "M-Pesa account configuration error"),
        (9999, "failed", "system_error", "M-Pesa system error, please try again"),
        (1025, "failed", "system_error", "M-Pesa system error, please try again"),
        ("4999", "pending", "pending", "Waiting for the customer to enter the M-Pesa PIN"),
        ("500.001.1001", "pending", "pending", "Waiting for the customer to enter the M-Pesa PIN"),
    ],
)
def test_known_codes(code, status, reason, message):
    info = classify_result(code)
    assert info.status == PaymentStatus(status)
    assert info.reason == reason
    assert info.message == message


@pytest.mark.parametrize(
    "code",
    ["1033", 42, "R000002", "", None, True, "  ", "C2B00011", 3.5, {"a": 1}, Decimal("NaN"), float("inf")],
)
def test_unknown_codes_need_review_never_a_guessed_failure(code):
    info = classify_result(code)
    assert info.status is PaymentStatus.NEEDS_REVIEW
    assert info.reason == "unknown"


def test_codes_are_normalised_to_strings():
    assert classify_result(1032).code == "1032"
    assert classify_result(" 1032 ").code == "1032"
    assert classify_result(0.0).code == "0"
    assert classify_result(Decimal("1032")).code == "1032"
    assert classify_result(Decimal("0.0")).status is PaymentStatus.SUCCESS
    assert classify_result("00").code == "0"
    assert classify_result("sfc_ic0003").code == "SFC_IC0003"


def test_status_is_a_string_enum():
    assert PaymentStatus.SUCCESS == "success"
    assert str(PaymentStatus.NEEDS_REVIEW) == "needs_review"
    assert {s.value for s in PaymentStatus} == {
        "pending",
        "success",
        "failed",
        "cancelled",
        "timeout",
        "needs_review",
    }


def test_reason_keys_are_the_contracts():
    allowed = {
        "paid",
        "cancelled",
        "insufficient_balance",
        "timeout",
        "wrong_pin",
        "pin_locked",
        "customer_busy",
        "rule_limited",
        "limit_exceeded",
        "config_error",
        "system_error",
        "pending",
        "unknown",
    }
    reasons = {classify_result(code).reason for code in results_module.KNOWN_CODES}
    assert reasons | {"unknown"} == allowed


def test_one_message_per_reason():
    """Every reason a code maps to has its message in the one table, and nothing else does."""
    reasons = {classify_result(code).reason for code in results_module.KNOWN_CODES}
    assert reasons | {"unknown", "confirming"} == set(results_module.REASON_MESSAGES)
    assert results_module.reason_message("no such reason") == "Payment needs review by a manager"


def test_result_info_is_immutable_and_knows_finality():
    info = classify_result(1032)
    assert isinstance(info, ResultInfo)
    assert info.is_final
    assert not classify_result(4999).is_final
    with pytest.raises(AttributeError):
        info.status = PaymentStatus.SUCCESS


def test_cashier_messages_are_marked_for_translation():
    source = Path(results_module.__file__).read_text(encoding="utf-8")
    for message in ("Payment successful!", "Payment cancelled", "Insufficient balance", "Payment timeout"):
        assert f'_lt("{message}")' in source
