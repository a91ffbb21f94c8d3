"""Dynamic QR: the request for a till and a paybill, both success shapes Safaricom shows, and errors."""

import base64

import pytest
import responses
from daraja_testkit import SANDBOX, add_token, body_of, make_client

from daraja import DarajaAPIError, DarajaTransportError, DarajaValidationError, InvalidAmount

QR_URL = f"{SANDBOX}/mpesa/qrcode/v1/generate"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n not really a picture").decode()


@pytest.mark.parametrize(
    ("overrides", "trx_code", "cpi"),
    [({}, "PB", "174379"), ({"account_type": "till", "till_number": "5209999"}, "BG", "5209999")],
)
@pytest.mark.parametrize("code", ["AG_20191219_000043fdf61864fe9ff5", "00"])
@responses.activate
def test_the_qr_of_a_till_or_a_paybill(overrides, trx_code, cpi, code):
    add_token(responses)
    responses.add(
        responses.POST,
        QR_URL,
        json={
            "ResponseCode": code,
            "RequestID": "16738-27456357-1",
            "ResponseDescription": "QR Code Successfully Generated.",
            "QRCode": PNG,
        },
    )
    image = make_client(**overrides).dynamic_qr(150, "K7Q2M", "Mama Mboga Shop")
    assert image == PNG
    sent = body_of(responses.calls[-1])
    assert sent == {
        "MerchantName": "Mama Mboga Shop",
        "RefNo": "K7Q2M",
        "Amount": 150,
        "TrxCode": trx_code,
        "CPI": cpi,
        "Size": "300",
    }


@pytest.mark.parametrize(
    ("amount", "reference", "size", "error"),
    [
        (10.5, "K7Q2M", 300, InvalidAmount),
        (0, "K7Q2M", 300, InvalidAmount),
        (100, "", 300, DarajaValidationError),
        (100, "K7Q2M", 20, DarajaValidationError),
        (100, "K7Q2M", True, DarajaValidationError),
    ],
)
@responses.activate
def test_refused_before_sending(amount, reference, size, error):
    with pytest.raises(error):
        make_client().dynamic_qr(amount, reference, "Shop", size=size)
    assert not responses.calls


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            400,
            {"requestId": "1", "errorCode": "400.002.02", "errorMessage": "Bad Request - Invalid CPI"},
            DarajaAPIError,
        ),
        (200, {"ResponseCode": "00", "ResponseDescription": "No image"}, DarajaAPIError),
        (200, {"ResponseCode": "00", "QRCode": "not base64 at all!"}, DarajaTransportError),
    ],
)
@responses.activate
def test_errors(status, body, error):
    add_token(responses)
    responses.add(responses.POST, QR_URL, json=body, status=status)
    with pytest.raises(error):
        make_client().dynamic_qr(100, "K7Q2M", "Shop")
