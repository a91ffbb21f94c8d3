"""Shared helpers for the Daraja layer's tests (a plain module: no conftest, no package).

Test modules in daraja/tests/ are named test_daraja_*.py so that their basenames never collide
with the simulator's tests (pytest's default import mode).
"""

import base64
import json

import responses

from daraja import DarajaClient, DarajaConfig, MemoryTokenStore

SANDBOX = "https://sandbox.safaricom.co.ke"
PRODUCTION = "https://api.safaricom.co.ke"
OAUTH_URL = f"{SANDBOX}/oauth/v1/generate"
STK_URL = f"{SANDBOX}/mpesa/stkpush/v1/processrequest"
QUERY_URL = f"{SANDBOX}/mpesa/stkpushquery/v1/query"

CONSUMER_KEY = "test-consumer-key"
CONSUMER_SECRET = "Sup3rS3cretConsumerValue"
PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
TOKEN = "c9SQxWWhmdVRlyh0zh8gZDTkubVF"
TOKEN_2 = "Zz9SQxWWhmdVRlyh0zh8gZDTkub2"
CALLBACK_URL = "https://pos.example.com/pos_mobile_money/cb/0123456789abcdef"


def make_config(**overrides):
    values = {
        "environment": "sandbox",
        "consumer_key": CONSUMER_KEY,
        "consumer_secret": CONSUMER_SECRET,
        "passkey": PASSKEY,
        "account_type": "paybill",
        "business_shortcode": "174379",
    }
    values.update(overrides)
    return DarajaConfig(**values)


class Clock:
    """An injectable clock: epoch seconds that tests move by hand."""

    def __init__(self, now=1_790_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def make_client(clock=None, store=None, timeout=(5, 30), **config_overrides):
    return DarajaClient(
        make_config(**config_overrides),
        token_store=store if store is not None else MemoryTokenStore(),
        timeout=timeout,
        clock=clock or Clock(),
    )


def add_token(rsps, token=TOKEN, expires_in=3599, base=SANDBOX):
    return rsps.add(
        responses.GET,
        f"{base}/oauth/v1/generate",
        json={"access_token": token, "expires_in": expires_in},
    )


def body_of(call) -> dict:
    return json.loads(call.request.body)


def decoded_password(payload) -> str:
    return base64.b64decode(payload["Password"]).decode()


STK_ACCEPTED = {
    "MerchantRequestID": "2654-4b64-97ff-b827b542881d3130",
    "CheckoutRequestID": "ws_CO_1007202409152617172396192",
    "ResponseCode": "0",
    "ResponseDescription": "Success. Request accepted for processing",
    "CustomerMessage": "Success. Request accepted for processing",
}
