import pytest
import responses
from daraja_testkit import OAUTH_URL, PRODUCTION, SANDBOX, TOKEN, TOKEN_2, add_token, body_of, make_client

from daraja import (
    C2BRegisterResponse,
    DarajaAPIError,
    DarajaAuthError,
    DarajaValidationError,
    InvalidAmount,
    InvalidPhoneNumber,
    InvalidUrl,
)

CONFIRM = "https://pos.example.com/pos_mobile_money/c2b/confirm/0123abcd"
VALIDATE = "https://pos.example.com/pos_mobile_money/c2b/validate/0123abcd"


def register_url(version, base=SANDBOX):
    return f"{base}/mpesa/c2b/{version}/registerurl"


@pytest.mark.parametrize(
    "answer",
    [
        {"OriginatorCoversationID": "7619-37765134-1", "ResponseCode": "0", "ResponseDescription": "success"},
        {"OriginatorCoversationID": "abc", "ResponseCode": "00000000", "ResponseDescription": "Success"},
        {"OriginatorConversationID": "abc", "ResponseCode": 0, "ResponseDescription": "Success"},
    ],
)
@pytest.mark.parametrize("version", ["v1", "v2"])
@responses.activate
def test_register_success_when_response_code_is_all_zeros(answer, version):
    add_token(responses)
    responses.add(responses.POST, register_url(version), json=answer)
    result = make_client(c2b_api_version=version, c2b_shortcode="600984").register_c2b_urls(CONFIRM, VALIDATE)
    assert isinstance(result, C2BRegisterResponse)
    assert result.response_code == str(answer["ResponseCode"])
    assert result.originator_conversation_id
    assert body_of(responses.calls[-1]) == {
        "ShortCode": "600984",
        "ResponseType": "Completed",
        "ConfirmationURL": CONFIRM,
        "ValidationURL": VALIDATE,
    }


@responses.activate
def test_register_till_defaults_to_till_number_and_response_type_is_normalised():
    add_token(responses)
    responses.add(responses.POST, register_url("v2"), json={"ResponseCode": "0", "ResponseDescription": "ok"})
    client = make_client(account_type="till", business_shortcode="174380", till_number="174381")
    client.register_c2b_urls(CONFIRM, VALIDATE, response_type="cancelled")
    body = body_of(responses.calls[-1])
    assert body["ShortCode"] == "174381"
    assert body["ResponseType"] == "Cancelled"


@pytest.mark.parametrize("code", ["1", "0001", "C2B00012"])
@responses.activate
def test_register_non_zero_code_fails(code):
    add_token(responses)
    responses.add(
        responses.POST, register_url("v2"), json={"ResponseCode": code, "ResponseDescription": "no"}
    )
    with pytest.raises(DarajaAPIError) as info:
        make_client().register_c2b_urls(CONFIRM, VALIDATE)
    assert info.value.error_code == code


@pytest.mark.parametrize(
    "message",
    ["Urls are already registered", "Duplicate notification info, SP ID is xxxxx, correlator is xxxxxx"],
)
@responses.activate
def test_register_conflicts(message):
    add_token(responses)
    responses.add(
        responses.POST,
        register_url("v2"),
        json={"requestId": "x", "errorCode": "500.003.1001", "errorMessage": message},
        status=500,
    )
    with pytest.raises(DarajaAPIError) as info:
        make_client().register_c2b_urls(CONFIRM, VALIDATE)
    assert info.value.error_message == message
    assert len([c for c in responses.calls if c.request.method == "POST"]) == 1


NO_PRODUCT = {
    "requestId": "x",
    "errorCode": "401.003.01",
    "errorMessage": "Error Occurred - Invalid Access Token - Invalid API call as no apiproduct match found",
}


@responses.activate
def test_wrong_c2b_version_says_so_after_trying_both():
    responses.add(responses.GET, OAUTH_URL, json={"access_token": TOKEN, "expires_in": 3599})
    responses.add(responses.GET, OAUTH_URL, json={"access_token": TOKEN_2, "expires_in": 3599})
    responses.add(responses.POST, register_url("v1"), json=NO_PRODUCT, status=401)
    responses.add(responses.POST, register_url("v2"), json=NO_PRODUCT, status=401)
    with pytest.raises(DarajaAuthError) as info:
        make_client(c2b_api_version="v1").register_c2b_urls(CONFIRM, VALIDATE)
    assert info.value.error_code == "401.003.01"
    assert "C2B API version" in info.value.message
    posts = [c.request.url for c in responses.calls if c.request.method == "POST"]
    assert [url.split("/")[-2] for url in posts] == [
        "v1",
        "v1",
        "v2",
        "v2",
    ]  # each once more with a new token


@pytest.mark.parametrize(("configured", "other"), [("v1", "v2"), ("v2", "v1")])
@responses.activate
def test_register_falls_back_to_the_other_version_once(configured, other):
    add_token(responses)
    responses.add(responses.POST, register_url(configured), json=NO_PRODUCT, status=401)
    answer = {"OriginatorCoversationID": "1", "ResponseCode": "0", "ResponseDescription": "Success"}
    responses.add(responses.POST, register_url(other), json=answer)
    result = make_client(c2b_api_version=configured).register_c2b_urls(CONFIRM, VALIDATE)
    assert result.api_version == other
    assert responses.calls[-1].request.url == register_url(other)


@pytest.mark.parametrize(
    "url",
    [
        "http://pos.example.com/c2b/confirm",
        "https://pos.example.com/mpesa/confirm",
        "https://pos.example.com/M-PESA/confirm",
        "https://safaricom-pos.example.com/confirm",
        "https://pos.example.com/c2b/confirm?query=1",
        "https://pos.example.com/SQL/confirm",
        "https://pos.example.com/cmd",
        "https://pos.example.com/app.exe",
        "https://pos.example.com/exec/confirm",
        "https://pos.example.com/M-Pesa",
        "not a url",
        "",
    ],
)
@responses.activate
def test_production_url_rules_refuse_before_calling(url):
    client = make_client(environment="production")
    with pytest.raises(InvalidUrl) as info:
        client.register_c2b_urls(url, VALIDATE)
    assert url == "" or url not in info.value.message  # the URL (and its token) is not echoed
    with pytest.raises(InvalidUrl):
        client.register_c2b_urls(CONFIRM, url)
    assert len(responses.calls) == 0


@responses.activate
def test_sandbox_accepts_http_and_keywords():
    add_token(responses)
    responses.add(responses.POST, register_url("v2"), json={"ResponseCode": "0", "ResponseDescription": "ok"})
    make_client().register_c2b_urls(
        "http://127.0.0.1:8069/mpesa/confirm", "http://127.0.0.1:8069/mpesa/validate"
    )
    assert len(responses.calls) == 2


@responses.activate
def test_production_register_uses_production_host():
    add_token(responses, base=PRODUCTION)
    responses.add(responses.POST, register_url("v2", PRODUCTION), json={"ResponseCode": "0"})
    assert make_client(environment="production").register_c2b_urls(CONFIRM, VALIDATE).response_code == "0"


@pytest.mark.parametrize("response_type", ["Complete", "", None, "Accepted"])
@responses.activate
def test_bad_response_type_is_refused(response_type):
    with pytest.raises(DarajaValidationError):
        make_client().register_c2b_urls(CONFIRM, VALIDATE, response_type=response_type)
    assert len(responses.calls) == 0


@pytest.mark.parametrize("version", ["v1", "v2"])
@responses.activate
def test_simulate_paybill(version):
    add_token(responses)
    answer = {
        "OriginatorCoversationID": "53e3-4aa8-9fe0-8fb5e4092cdd3405976",
        "ResponseCode": "0",
        "ResponseDescription": "Accept the service request successfully.",
    }
    responses.add(responses.POST, f"{SANDBOX}/mpesa/c2b/{version}/simulate", json=answer)
    client = make_client(c2b_shortcode="600984", c2b_api_version=version)
    assert client.simulate_c2b(100, "0708374149", "Test Ref#1") == answer
    assert body_of(responses.calls[-1]) == {
        "ShortCode": "600984",
        "CommandID": "CustomerPayBillOnline",
        "Amount": 100,
        "Msisdn": "254708374149",
        "BillRefNumber": "Test Ref1",
    }


@responses.activate
def test_simulate_till_and_errors():
    add_token(responses)
    url = f"{SANDBOX}/mpesa/c2b/v2/simulate"
    responses.add(responses.POST, url, json={"ResponseCode": "0"})
    client = make_client(account_type="till", business_shortcode="174380", till_number="174381")
    client.simulate_c2b("50", "254712345678")
    body = body_of(responses.calls[-1])
    assert (body["ShortCode"], body["CommandID"], body["BillRefNumber"]) == (
        "174381",
        "CustomerBuyGoodsOnline",
        "",
    )
    responses.replace(
        responses.POST,
        url,
        json={"errorCode": "400.002.02", "errorMessage": "Bad Request - Invalid Msisdn"},
        status=400,
    )
    with pytest.raises(DarajaAPIError):
        client.simulate_c2b(50, "254712345678")


@responses.activate
def test_simulate_refused_in_production_and_on_bad_input():
    with pytest.raises(DarajaValidationError):
        make_client(environment="production").simulate_c2b(100, "0712345678")
    with pytest.raises(InvalidAmount):
        make_client().simulate_c2b("10.5", "0712345678")
    with pytest.raises(InvalidPhoneNumber):
        make_client().simulate_c2b(10, "12345")
    assert len(responses.calls) == 0
