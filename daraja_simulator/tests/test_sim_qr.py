"""Dynamic QR on the simulator: generate (the answer's shape, a real PNG, Daraja's validation), list,
and scan and pay (a C2B confirmation with the QR's amount and reference)."""

import base64
import struct
import zlib

import pytest
from sim_helpers import register_receiver, wait_until
from test_client_against_simulator import make_client

QR_PATH = "/mpesa/qrcode/v1/generate"


def qr_body(**overrides):
    body = {
        "MerchantName": "SIM PAYBILL SHOP",
        "RefNo": "AB3CD",
        "Amount": 250,
        "TrxCode": "PB",
        "CPI": "600984",
        "Size": "300",
    }
    body.update(overrides)
    return body


def png_facts(data: bytes):
    """(width, height, pixel rows) of a PNG, every chunk's CRC checked (fails on anything else)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, color, _c, _f, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, color, interlace) == (8, 0, 0)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(raw) == height * (width + 1)
    rows = [raw[y * (width + 1) : (y + 1) * (width + 1)] for y in range(height)]
    assert all(row[0] == 0 for row in rows)  # filter None
    return width, height, [row[1:] for row in rows]


def test_generate_answers_a_real_png(daraja):
    answer = daraja.post(QR_PATH, qr_body())
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["ResponseCode"] == "00"
    assert data["ResponseDescription"] == "QR Code Successfully Generated."
    assert data["RequestID"]
    width, height, rows = png_facts(base64.b64decode(data["QRCode"], validate=True))
    assert (width, height) == (300, 300)
    pixels = b"".join(rows)
    assert set(pixels) == {0, 255}  # black modules on white
    assert rows[0] == b"\xff" * 300  # the quiet zone


def test_the_documented_ag_code_on_option(daraja):
    assert daraja.control("options", {"qr_response_code": "AG"}).status_code == 200
    data = daraja.post(QR_PATH, qr_body(Size=120)).json()
    assert data["ResponseCode"].startswith("AG_") and len(data["ResponseCode"]) > 12
    assert png_facts(base64.b64decode(data["QRCode"]))[:2] == (120, 120)
    assert daraja.control("options", {"qr_response_code": "01"}).status_code == 400


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"MerchantName": ""}, "MerchantName"),
        ({"MerchantName": None}, "MerchantName"),
        ({"RefNo": ""}, "RefNo"),
        ({"RefNo": "X" * 21}, "RefNo"),
        ({"Amount": 0}, "Amount"),
        ({"Amount": "12.5"}, "Amount"),
        ({"TrxCode": "XX"}, "TrxCode"),
        ({"TrxCode": None}, "TrxCode"),
        ({"CPI": "999999"}, "CPI"),  # no such shortcode
        ({"TrxCode": "BG"}, "CPI"),  # 600984 is a paybill, not a till
        ({"TrxCode": "PB", "CPI": "174381"}, "CPI"),  # a till, not a paybill
        ({"TrxCode": "SM", "CPI": "600984"}, "CPI"),  # send money: a phone
        ({"Size": "10"}, "Size"),
        ({"Size": "abc"}, "Size"),
    ],
)
def test_invalid_fields_get_darajas_400(daraja, overrides, field):
    answer = daraja.post(QR_PATH, qr_body(**overrides))
    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "400.002.02"
    assert answer.json()["errorMessage"] == f"Bad Request - Invalid {field}"


def test_other_codes_and_a_phone_cpi(daraja):
    for overrides in (
        {"TrxCode": "BG", "CPI": "174381"},
        {"TrxCode": "SM", "CPI": "0712345678"},
        {"TrxCode": "SB", "CPI": 254712345678},
        {"TrxCode": "WA", "CPI": "174381"},
    ):
        assert daraja.post(QR_PATH, qr_body(**overrides)).status_code == 200, overrides
    rows = daraja.control("qr").json()["qr_codes"]
    assert [row["trx_code"] for row in rows] == ["WA", "SB", "SM", "BG"]  # newest first
    assert rows[2]["cpi"] == "254712345678"


def test_token_content_type_and_method(daraja, sim):
    assert daraja.post(QR_PATH, qr_body(), token="nope").json()["errorCode"] == "400.003.01"
    raw = daraja.http.post(
        f"{sim.base_url}{QR_PATH}", data="x", headers={"Authorization": f"Bearer {daraja.token()}"}, timeout=5
    )
    assert raw.json()["errorMessage"] == "Bad Request - Invalid MerchantName"
    assert daraja.http.get(f"{sim.base_url}{QR_PATH}", timeout=5).status_code == 405


def test_qr_faults(daraja):
    daraja.control("options", {"fault": "http_500", "fault_apis": "qr", "fault_limit": 1})
    assert daraja.post(QR_PATH, qr_body()).status_code == 500
    assert daraja.post(QR_PATH, qr_body()).status_code == 200
    assert daraja.control("stats").json()["api_requests"]["qr"] == 2


def test_scan_and_pay_a_paybill_qr(daraja, receiver):
    register_receiver(daraja, receiver)
    daraja.post(QR_PATH, qr_body(RefNo="AB3CD", Amount=250))
    qr_id = daraja.control("qr").json()["qr_codes"][0]["qr_id"]
    answer = daraja.control(f"qr/{qr_id}/pay", {"msisdn": "0712345678", "msisdn_mode": "plain"})
    assert answer.status_code == 200, answer.text
    paid = answer.json()
    assert paid["payment"]["amount"] == 250 and paid["payment"]["source"] == "qr"
    assert paid["qr"]["payments"] == [paid["payment"]["trans_id"]]
    confirmation = receiver.json(path="/c2b/confirm")
    assert confirmation["TransID"] == paid["payment"]["trans_id"]
    assert (confirmation["TransAmount"], confirmation["BillRefNumber"]) == ("250.00", "AB3CD")
    assert (confirmation["BusinessShortCode"], confirmation["MSISDN"]) == ("600984", "254712345678")
    image = daraja.http.get(f"{daraja.base}/__sim__/qr/{qr_id}/image", timeout=5)
    assert image.headers["Content-Type"] == "image/png" and png_facts(image.content)[:2] == (300, 300)


def test_scan_by_reference_and_the_till_switch(daraja, receiver):
    register_receiver(daraja, receiver, "174381")
    daraja.post(QR_PATH, qr_body(TrxCode="BG", CPI="174381", RefNo="Order 7", Amount=90))
    assert daraja.control("qr/ORDER7/pay").status_code == 200  # case and spaces ignored, like Odoo
    assert receiver.json(0, path="/c2b/confirm")["BillRefNumber"] == "Order 7"
    assert daraja.control("qr/pay", {"reference": "Order 7", "bill_ref": "empty"}).status_code == 200
    assert receiver.json(1, path="/c2b/confirm")["BillRefNumber"] == ""
    daraja.control("options", {"qr_till_bill_ref": "empty"})
    assert daraja.control("qr/Order%207/pay").status_code == 200
    third = receiver.json(2, path="/c2b/confirm")
    assert (third["BillRefNumber"], third["TransAmount"]) == ("", "90.00")
    assert len(daraja.control("qr").json()["qr_codes"][0]["payments"]) == 3


def test_the_paybill_reference_stays_with_the_till_switch(daraja, receiver):
    register_receiver(daraja, receiver)
    daraja.control("options", {"qr_till_bill_ref": "empty"})
    daraja.post(QR_PATH, qr_body(RefNo="KEEP1"))
    assert daraja.control("qr/KEEP1/pay", {"bill_ref": "empty"}).status_code == 200
    assert receiver.json(path="/c2b/confirm")["BillRefNumber"] == "KEEP1"


def test_a_lost_confirmation_and_refusals(daraja, receiver):
    daraja.post(QR_PATH, qr_body(RefNo="LOST1"))
    assert daraja.control("qr/LOST1/pay").status_code == 409  # no C2B URLs registered yet
    register_receiver(daraja, receiver)
    answer = daraja.control("qr/LOST1/pay", {"delivery": "lost"})
    assert answer.status_code == 200
    trans_id = answer.json()["payment"]["trans_id"]
    wait_until(
        lambda: any(
            t.get("trans_id") == trans_id and t["status"] == "lost"
            for t in daraja.control("transactions").json()["transactions"]
        )
    )
    assert not [r for r in receiver.requests if r["path"] == "/c2b/confirm"]
    assert daraja.control("qr/NOPE/pay").status_code == 404
    assert daraja.control("qr/pay", {}).status_code == 400
    assert daraja.control("qr/LOST1/pay", {"msisdn": "12"}).status_code == 400
    assert daraja.control("qr/LOST1/pay", {"bill_ref": "other"}).status_code == 400
    daraja.post(QR_PATH, qr_body(TrxCode="SM", CPI="0712345678", RefNo="PHONE1"))
    assert daraja.control("qr/PHONE1/pay").status_code == 409


def test_reset_forgets_the_qrs(daraja):
    daraja.post(QR_PATH, qr_body())
    assert daraja.control("qr").json()["qr_codes"]
    daraja.control("reset")
    assert daraja.control("qr").json()["qr_codes"] == []


@pytest.mark.parametrize(("account", "trx"), [("paybill", "PB"), ("till", "BG")])
def test_the_daraja_client_gets_its_qr(sim, daraja, account, trx):
    client = make_client(sim, account)
    image = client.dynamic_qr(150, "ZX9QW", "My Shop", size=200)
    assert png_facts(base64.b64decode(image))[:2] == (200, 200)
    row = daraja.control("qr").json()["qr_codes"][0]
    assert (row["trx_code"], row["amount"], row["ref_no"], row["merchant_name"]) == (
        trx,
        150,
        "ZX9QW",
        "My Shop",
    )
    client.session.close()
