import pytest
from daraja_testkit import CONSUMER_KEY, CONSUMER_SECRET, PASSKEY, make_config

from daraja import DarajaConfig, DarajaConfigError, DarajaValidationError


def test_paybill_defaults():
    config = make_config()
    assert config.transaction_type == "CustomerPayBillOnline"
    assert config.party_b == "174379"
    assert config.effective_c2b_shortcode == "174379"
    assert config.c2b_api_version == "v2"
    assert config.api_base_url == "https://sandbox.safaricom.co.ke"


def test_till_uses_store_number_as_shortcode_and_till_as_party_b():
    config = make_config(account_type="till", business_shortcode="174380", till_number="174381")
    assert config.transaction_type == "CustomerBuyGoodsOnline"
    assert config.business_shortcode == "174380"
    assert config.party_b == "174381"
    assert config.effective_c2b_shortcode == "174381"


def test_explicit_c2b_shortcode_and_production_host():
    config = make_config(environment="production", c2b_shortcode="600984", c2b_api_version="v1")
    assert config.effective_c2b_shortcode == "600984"
    assert config.api_base_url == "https://api.safaricom.co.ke"
    assert config.is_production


def test_simulator_needs_a_base_url_and_trailing_slash_is_dropped():
    with pytest.raises(DarajaConfigError):
        make_config(environment="simulator")
    config = make_config(environment="simulator", base_url="http://127.0.0.1:8765/")
    assert config.api_base_url == "http://127.0.0.1:8765"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8765", "http://127.8.9.10:1", "http://[::1]:8765", "http://localhost:8765"]
)
def test_simulator_reaches_loopback_hosts(url):
    assert make_config(environment="simulator", base_url=url).api_base_url == url


@pytest.mark.parametrize(
    "url", ["http://10.0.0.5:8765", "https://sim.example.com", "http://192.168.1.2", "http://8.8.8.8"]
)
def test_simulator_never_sends_credentials_to_another_host(url):
    with pytest.raises(DarajaConfigError, match="loopback"):
        make_config(environment="simulator", base_url=url)


def test_shortcodes_are_stripped_and_ints_accepted():
    config = make_config(business_shortcode=" 174379 ", till_number="", c2b_shortcode=600984)
    assert config.business_shortcode == "174379"
    assert config.till_number is None
    assert config.c2b_shortcode == "600984"


@pytest.mark.parametrize(
    "overrides",
    [
        {"environment": "staging"},
        {"account_type": "wallet"},
        {"c2b_api_version": "v3"},
        {"consumer_key": ""},
        {"consumer_secret": "  "},
        {"passkey": None},
        {"business_shortcode": ""},
        {"business_shortcode": "17437a"},
        {"business_shortcode": "1234"},
        {"business_shortcode": "12345678"},
        {"account_type": "till"},  # till number missing
        {"account_type": "till", "till_number": "abc"},
        {"c2b_shortcode": "60 0984"},
        {"environment": "simulator", "base_url": "ftp://127.0.0.1"},
        {"environment": "simulator", "base_url": "127.0.0.1:8765"},
    ],
)
def test_invalid_configurations_are_refused(overrides):
    with pytest.raises(DarajaConfigError) as info:
        make_config(**overrides)
    assert isinstance(info.value, DarajaValidationError)
    assert info.value.message


def test_missing_credential_message_names_it_without_value():
    with pytest.raises(DarajaConfigError) as info:
        make_config(passkey="")
    assert "passkey" in info.value.message


def test_repr_and_str_never_show_secrets():
    config = DarajaConfig(
        environment="sandbox",
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        passkey=PASSKEY,
        account_type="paybill",
        business_shortcode="174379",
    )
    for text in (repr(config), str(config), f"{config}"):
        assert CONSUMER_SECRET not in text
        assert PASSKEY not in text
        assert "174379" in text


def test_config_is_immutable():
    config = make_config()
    with pytest.raises(AttributeError):
        config.passkey = "other"
