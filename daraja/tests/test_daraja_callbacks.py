import json
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daraja import (
    C2BNotification,
    CallbackParseError,
    PaymentStatus,
    StkCallback,
    detect_callback_kind,
    parse_callback,
)

# STK callback shapes (docs/daraja.md, "STK callback"): Safaricom's success sample plus the value-less
# Balance item of real callbacks, its cancel sample, a sandbox 1037 and a string ResultCode
STK_SUCCESS = {
    "Body": {
        "stkCallback": {
            "MerchantRequestID": "29115-34620561-1",
            "CheckoutRequestID": "ws_CO_191220191020363925",
            "ResultCode": 0,
            "ResultDesc": "The service request is processed successfully.",
            "CallbackMetadata": {
                "Item": [
                    {"Name": "Amount", "Value": 1.00},
                    {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
                    {"Name": "Balance"},
                    {"Name": "TransactionDate", "Value": 20191219102115},
                    {"Name": "PhoneNumber", "Value": 254708374149},
                ]
            },
        }
    }
}
STK_SUCCESS_RAW = """{"Body":{"stkCallback":{"MerchantRequestID":"29115-34620561-1",
"CheckoutRequestID":"ws_CO_191220191020363925","ResultCode":0,
"ResultDesc":"The service request is processed successfully.","CallbackMetadata":{"Item":[
{"Name":"Amount","Value":100.00},{"Name":"MpesaReceiptNumber","Value":"NLJ7RT61SV"},{"Name":"Balance"},
{"Name":"TransactionDate","Value":20191219102115},{"Name":"PhoneNumber","Value":254708374149}]}}}}"""
STK_CANCELLED = {
    "Body": {
        "stkCallback": {
            "MerchantRequestID": "f1e2-4b95-a71d-b30d3cdbb7a7942864",
            "CheckoutRequestID": "ws_CO_21072024125243250722943992",
            "ResultCode": 1032,
            "ResultDesc": "Request cancelled by user",
        }
    }
}
STK_NO_RESPONSE = {
    "Body": {
        "stkCallback": {
            "MerchantRequestID": "ac7b-470b-8df7-23ab3cef38271071873",
            "CheckoutRequestID": "ws_CO_290920260126013708374149",
            "ResultCode": 1037,
            "ResultDesc": "No response from user.",
        }
    }
}
STK_OPERATOR = {
    "Body": {
        "stkCallback": {
            "MerchantRequestID": "1",
            "CheckoutRequestID": "ws_CO_1",
            "ResultCode": "SFC_IC0003",
            "ResultDesc": "The operator does not exist.",
        }
    }
}
# a hand-made success payload: placeholder ids, no Balance item, Amount 100, ResultDesc "Success"
STK_NO_BALANCE = {
    "Body": {
        "stkCallback": {
            "MerchantRequestID": "xxx",
            "CheckoutRequestID": "ws_CO_xxx",
            "ResultCode": 0,
            "ResultDesc": "Success",
            "CallbackMetadata": {
                "Item": [
                    {"Name": "Amount", "Value": 100},
                    {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
                    {"Name": "TransactionDate", "Value": 20191219102115},
                    {"Name": "PhoneNumber", "Value": 254708374149},
                ]
            },
        }
    }
}
# the masked-MSISDN (v2) confirmation sample of Safaricom's C2B page
# (docs/daraja.md, "C2B validation and confirmation")
C2B_CONFIRMATION = {
    "TransactionType": "Pay Bill",
    "TransID": "RKL51ZDR4F",
    "TransTime": "20231121121325",
    "TransAmount": "5.00",
    "BusinessShortCode": "600966",
    "BillRefNumber": "Sample Transaction",
    "InvoiceNumber": "",
    "OrgAccountBalance": "25.00",
    "ThirdPartyTransID": "",
    "MSISDN": "2547 ***** 126",
    "FirstName": "NICHOLAS",
    "MiddleName": "",
    "LastName": "",
}
# a hand-made test payload (as sent from Postman): no OrgAccountBalance key at all -> a confirmation
C2B_NO_BALANCE_KEY = {
    "TransactionType": "Pay Bill",
    "TransID": "TEST123ABC",
    "TransTime": "20231113150100",
    "TransAmount": "100.00",
    "BusinessShortCode": "600638",
    "BillRefNumber": "ORDER-001",
    "MSISDN": "254712345678",
    "FirstName": "John",
    "MiddleName": "",
    "LastName": "Doe",
}
HASHED = "b3f1c7e0e5d6a1c2b9f0e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7"


def test_stk_success_real_shape():
    result = parse_callback(STK_SUCCESS)
    assert isinstance(result, StkCallback)
    assert result.merchant_request_id == "29115-34620561-1"
    assert result.checkout_request_id == "ws_CO_191220191020363925"
    assert result.result_code == "0"
    assert result.result.status is PaymentStatus.SUCCESS
    assert result.result.message == "Payment successful!"
    assert result.amount == Decimal("1")
    assert result.receipt_number == "NLJ7RT61SV"
    assert result.transaction_time == datetime(2019, 12, 19, 7, 21, 15)  # EAT -> naive UTC
    assert result.phone == "254708374149"
    assert result.is_success


def test_stk_success_from_raw_bytes_keeps_decimal_amount():
    for payload in (STK_SUCCESS_RAW, STK_SUCCESS_RAW.encode()):
        result = parse_callback(payload)
        assert isinstance(result.amount, Decimal)
        assert str(result.amount) == "100.00"  # exactly as sent, no float on the way
        assert result.phone == "254708374149"


def test_stk_success_without_balance_item():
    result = parse_callback(STK_NO_BALANCE, "stk")
    assert result.amount == Decimal(100)
    assert result.receipt_number == "NLJ7RT61SV"
    assert result.result_desc == "Success"


@pytest.mark.parametrize(
    ("payload", "code", "status", "message"),
    [
        (STK_CANCELLED, "1032", "cancelled", "Payment cancelled"),
        (STK_NO_RESPONSE, "1037", "timeout", "Payment timeout"),
        (STK_OPERATOR, "SFC_IC0003", "failed", "M-Pesa account configuration error"),
    ],
)
def test_stk_failures(payload, code, status, message):
    result = parse_callback(payload)
    assert result.result_code == code
    assert result.result.status == PaymentStatus(status)
    assert result.result.message == message
    assert result.amount is None
    assert result.receipt_number is None
    assert result.transaction_time is None
    assert result.phone is None
    assert not result.is_success


def test_items_are_read_by_name_in_any_order_and_masked_phone_kept_verbatim():
    payload = json.loads(json.dumps(STK_SUCCESS))
    items = payload["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    items.reverse()
    items[0]["Value"] = "2547 ***** 149"
    result = parse_callback(payload)
    assert result.receipt_number == "NLJ7RT61SV"
    assert result.phone == "2547 ***** 149"


def test_prefixed_description_and_string_transaction_date():
    payload = json.loads(json.dumps(STK_SUCCESS))
    stk = payload["Body"]["stkCallback"]
    stk["ResultCode"] = "1032"
    stk["ResultDesc"] = "[STK_CB - ]Request cancelled by user"
    stk["CallbackMetadata"]["Item"][3]["Value"] = "20191219102115"
    result = parse_callback(payload)
    assert result.result.status is PaymentStatus.CANCELLED
    assert result.transaction_time == datetime(2019, 12, 19, 7, 21, 15)


def test_c2b_confirmation_real_shape():
    result = parse_callback(C2B_CONFIRMATION)
    assert isinstance(result, C2BNotification)
    assert result.kind == "c2b_confirmation"
    assert result.trans_id == "RKL51ZDR4F"
    assert result.amount == Decimal("5.00")
    assert result.trans_time == datetime(2023, 11, 21, 9, 13, 25)
    assert result.business_short_code == "600966"
    assert result.bill_ref_number == "Sample Transaction"
    assert result.org_account_balance == "25.00"
    assert result.msisdn == "2547 ***** 126"
    assert result.customer_name == "NICHOLAS"


def test_c2b_without_balance_key_is_a_confirmation():
    assert detect_callback_kind(C2B_NO_BALANCE_KEY) == "c2b_confirmation"
    result = parse_callback(C2B_NO_BALANCE_KEY)
    assert result.kind == "c2b_confirmation"
    assert result.amount == Decimal("100.00")
    assert result.customer_name == "John Doe"
    assert result.msisdn == "254712345678"
    assert result.invoice_number == ""


@pytest.mark.parametrize("balance", ["", "  ", None])
def test_blank_org_account_balance_is_a_validation(balance):
    payload = {**C2B_CONFIRMATION, "OrgAccountBalance": balance, "MSISDN": HASHED}
    assert detect_callback_kind(payload) == "c2b_validation"
    result = parse_callback(payload)
    assert result.kind == "c2b_validation"
    assert result.msisdn == HASHED


def test_kind_argument_wins_over_detection():
    payload = {**C2B_CONFIRMATION, "OrgAccountBalance": ""}
    assert parse_callback(payload, "c2b_confirmation").kind == "c2b_confirmation"
    assert parse_callback(C2B_NO_BALANCE_KEY, "c2b_validation").kind == "c2b_validation"


def test_numbers_where_strings_are_documented():
    payload = {
        **C2B_NO_BALANCE_KEY,
        "TransAmount": 100,
        "TransTime": 20231113150100,
        "BusinessShortCode": 600638,
        "MSISDN": 254712345678,
    }
    result = parse_callback(payload)
    assert result.amount == Decimal(100)
    assert result.business_short_code == "600638"
    assert result.msisdn == "254712345678"


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"\xff\xfe", "UTF-8"),
        ("", "empty"),
        ("{not json", "JSON"),
        ("[1, 2]", "object"),
        (42, "object"),
        ({"hello": "world"}, "Neither"),
        ({"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": 0}}}, "MerchantRequestID"),
        ({"Body": {"stkCallback": {"MerchantRequestID": "1", "ResultCode": 0}}}, "CheckoutRequestID"),
        ({"Body": {"stkCallback": {"MerchantRequestID": "1", "CheckoutRequestID": "ws_CO_1"}}}, "ResultCode"),
        (
            {"Body": {"stkCallback": {"MerchantRequestID": "1", "CheckoutRequestID": "c", "ResultCode": ""}}},
            "ResultCode",
        ),
        (
            {
                "Body": {
                    "stkCallback": {"MerchantRequestID": "1", "CheckoutRequestID": "c", "ResultCode": 1.5}
                }
            },
            "ResultCode",
        ),
        (
            {
                "Body": {
                    "stkCallback": {
                        "MerchantRequestID": "1",
                        "CheckoutRequestID": "c",
                        "ResultCode": 0,
                        "CallbackMetadata": [],
                    }
                }
            },
            "CallbackMetadata",
        ),
        (
            {
                "Body": {
                    "stkCallback": {
                        "MerchantRequestID": "1",
                        "CheckoutRequestID": "c",
                        "ResultCode": 0,
                        "CallbackMetadata": {"Item": [{"Value": 1}]},
                    }
                }
            },
            "Name",
        ),
        (
            {
                "Body": {
                    "stkCallback": {
                        "MerchantRequestID": "1",
                        "CheckoutRequestID": "c",
                        "ResultCode": 0,
                        "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": "abc"}]},
                    }
                }
            },
            "Amount",
        ),
        (
            {
                "Body": {
                    "stkCallback": {
                        "MerchantRequestID": "1",
                        "CheckoutRequestID": "c",
                        "ResultCode": 0,
                        "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": -1}]},
                    }
                }
            },
            "Amount",
        ),
        (
            {
                "Body": {
                    "stkCallback": {
                        "MerchantRequestID": "1",
                        "CheckoutRequestID": "c",
                        "ResultCode": 0,
                        "CallbackMetadata": {"Item": [{"Name": "TransactionDate", "Value": 2019}]},
                    }
                }
            },
            "TransactionDate",
        ),
        ({**C2B_NO_BALANCE_KEY, "TransAmount": "ten"}, "TransAmount"),
        ({**C2B_NO_BALANCE_KEY, "TransAmount": "NaN"}, "TransAmount"),
        ({**C2B_NO_BALANCE_KEY, "TransAmount": "1e999999999"}, "TransAmount"),
        (json.dumps(C2B_NO_BALANCE_KEY).replace('"100.00"', "1e400"), "TransAmount"),
        ({**C2B_NO_BALANCE_KEY, "TransAmount": None}, "TransAmount"),
        ({**C2B_NO_BALANCE_KEY, "TransTime": "yesterday"}, "TransTime"),
        ({k: v for k, v in C2B_NO_BALANCE_KEY.items() if k != "BusinessShortCode"}, "BusinessShortCode"),
        ({**C2B_NO_BALANCE_KEY, "TransID": ""}, "TransID"),
        ({**C2B_NO_BALANCE_KEY, "FirstName": {"x": 1}}, "FirstName"),
        ({**C2B_NO_BALANCE_KEY, "MSISDN": True}, "MSISDN"),
    ],
)
def test_bad_payloads_say_what_is_wrong(payload, words):
    with pytest.raises(CallbackParseError) as info:
        parse_callback(payload)
    assert words in info.value.message


def test_forced_kind_mismatch_and_unknown_kind():
    with pytest.raises(CallbackParseError, match="stkCallback"):
        parse_callback(C2B_NO_BALANCE_KEY, "stk")
    with pytest.raises(CallbackParseError, match="TransID"):
        parse_callback(STK_SUCCESS, "c2b_confirmation")
    with pytest.raises(CallbackParseError, match="kind"):
        parse_callback(STK_SUCCESS, "b2c")


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (STK_SUCCESS, "stk"),
        (STK_SUCCESS_RAW, "stk"),
        (STK_CANCELLED, "stk"),
        (C2B_CONFIRMATION, "c2b_confirmation"),
        ({**C2B_CONFIRMATION, "OrgAccountBalance": ""}, "c2b_validation"),
        (C2B_NO_BALANCE_KEY, "c2b_confirmation"),
        ({"Result": {"ResultCode": 0}}, "unknown"),
        ("garbage", "unknown"),
        (b"\xff", "unknown"),
        (None, "unknown"),
        ([], "unknown"),
    ],
)
def test_detect_callback_kind(payload, kind):
    assert detect_callback_kind(payload) == kind


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.decimals(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=15,
)
item_names = st.sampled_from(
    ["Amount", "MpesaReceiptNumber", "Balance", "TransactionDate", "PhoneNumber", "x"]
)
texts = st.text(min_size=1, max_size=12) | st.integers(min_value=0, max_value=10**12)
codes = st.sampled_from([0, "0", 1032, "1037", "SFC_IC0003", 4999, "weird", 7]) | st.integers()
amounts = (
    st.integers(min_value=-5, max_value=10**7)
    | st.decimals(allow_nan=True, allow_infinity=True, places=2)
    | st.floats()
    | st.from_regex(r"[0-9]{1,6}(\.[0-9]{2})?", fullmatch=True)
)
dates = (
    st.datetimes().map(lambda d: d.strftime("%Y%m%d%H%M%S"))
    | st.integers(min_value=10**13, max_value=10**14)
    | st.text(max_size=14)
)


def mostly(strategy):
    """Plausible values most of the time, any JSON value sometimes: reaches the deep branches."""
    return st.one_of(strategy, strategy, strategy, json_values)


def item(name, value):
    return st.fixed_dictionaries({"Name": st.just(name)}, optional={"Value": mostly(value)})


items = st.lists(
    item("Amount", amounts)
    | item("MpesaReceiptNumber", texts)
    | item("TransactionDate", dates)
    | item("PhoneNumber", texts)
    | st.fixed_dictionaries({"Name": item_names}),
    max_size=6,
)
stk_like = st.fixed_dictionaries(
    {
        "Body": st.fixed_dictionaries(
            {
                "stkCallback": st.fixed_dictionaries(
                    {
                        "MerchantRequestID": mostly(texts),
                        "CheckoutRequestID": mostly(texts),
                        "ResultCode": mostly(codes),
                    },
                    optional={
                        "ResultDesc": mostly(st.text(max_size=20)),
                        "CallbackMetadata": mostly(st.fixed_dictionaries({"Item": mostly(items)})),
                    },
                )
            }
        )
    }
)
c2b_like = st.fixed_dictionaries(
    {
        "TransID": mostly(texts),
        "TransTime": mostly(dates),
        "TransAmount": mostly(amounts),
        "BusinessShortCode": mostly(texts),
    },
    optional={
        name: mostly(texts | st.just("") | st.none())
        for name in [
            "TransactionType",
            "BillRefNumber",
            "InvoiceNumber",
            "OrgAccountBalance",
            "ThirdPartyTransID",
            "MSISDN",
            "FirstName",
            "MiddleName",
            "LastName",
        ]
    },
)


@settings(max_examples=300)
@given(
    st.one_of(json_values, stk_like, c2b_like, st.text(), st.binary()),
    st.sampled_from([None, "stk", "c2b_confirmation", "c2b_validation", "other"]),
)
def test_parsers_never_raise_anything_but_their_own_error(payload, kind):
    assert detect_callback_kind(payload) in ("stk", "c2b_confirmation", "c2b_validation", "unknown")
    try:
        result = parse_callback(payload, kind)
    except CallbackParseError as error:
        assert error.message
        return
    assert isinstance(result, (StkCallback, C2BNotification))
    if isinstance(result, StkCallback):
        assert isinstance(result.result_code, str) and result.result_code
        assert result.amount is None or (result.amount.is_finite() and result.amount >= 0)
    else:
        assert result.amount.is_finite() and result.amount >= 0
        assert result.trans_time.tzinfo is None


@given(st.one_of(st.text(), st.integers(), st.lists(st.integers(), max_size=3)))
def test_json_that_is_not_an_object_is_refused(value):
    with pytest.raises(CallbackParseError, match="not a JSON object"):
        parse_callback(json.dumps(value))
