"""Dynamic QR: POST /mpesa/qrcode/v1/generate, and "scanning" a QR from the control API or phone page.

Daraja's side (docs/daraja.md, "Dynamic QR"): a synchronous answer holding a base64 PNG; no per-QR
callback, the payment made by scanning arrives as an ordinary C2B confirmation. The simulator keeps
every QR it generated, so `POST /__sim__/qr/<id or RefNo>/pay` can make that payment through the C2B
machinery (c2b.py: validation, confirmation, delivery modes, the lost confirmation).

The picture is a QR-looking pattern that encodes nothing (png.py): a phone cannot read it.
"""

import base64
import secrets

from . import validate
from .c2b import MAX_BILL_REF, normalise_phone
from .http_types import ControlError, bad_request, json_response
from .ids import eat_now, request_id
from .oauth import C2B_FAMILY, require_token
from .png import qr_like_png
from .state import QrCode

# TrxCode -> what CPI is: BG Buy Goods (a till), PB Pay Bill (a paybill), WA withdraw cash at an agent
# till, SM send money (a phone), SB send to business (a business number in MSISDN format).
TRX_CODES = {"BG": "till", "PB": "paybill", "WA": "till", "SM": "phone", "SB": "phone"}
PAYABLE = ("BG", "PB")  # the codes that pay one of the simulator's C2B shortcodes when scanned
DESCRIPTION = "QR Code Successfully Generated."
DEFAULT_SIZE = 300
MIN_SIZE, MAX_SIZE = 50, 1000


class QrService:
    def __init__(self, state, c2b):
        self.state = state
        self.c2b = c2b

    # -- Daraja ---------------------------------------------------------------------------------
    def generate(self, request):
        # Which API family's invalid-token error QR shares is not documented: C2B's (400.003.01)
        require_token(self.state, request, C2B_FAMILY)
        body = validate.require_json_body(request, "MerchantName")
        merchant = validate.non_empty_string(body, "MerchantName").strip()
        ref_no = body.get("RefNo")
        # inferred: a paybill's RefNo becomes the account number, which C2B holds to 20 characters
        if not isinstance(ref_no, str) or not ref_no.strip() or len(ref_no) > MAX_BILL_REF:
            raise bad_request("RefNo")
        amount = validate.amount(body)
        trx_code = body.get("TrxCode")
        if trx_code not in TRX_CODES:
            raise bad_request("TrxCode")
        cpi = self._cpi(body.get("CPI"), TRX_CODES[trx_code])
        size = validate.whole_number(body, "Size", MIN_SIZE, MAX_SIZE, default=DEFAULT_SIZE)
        with self.state.lock:
            qr_id = f"QR{len(self.state.qr_codes) + 1:06d}"
            qr = QrCode(
                qr_id=qr_id,
                request_id=request_id(),
                merchant_name=merchant,
                ref_no=ref_no.strip(),
                amount=amount,
                trx_code=trx_code,
                cpi=cpi,
                size=size,
                created_at=self.state.now(),
            )
            self.state.qr_codes[qr_id] = qr
            code = self.state.options.qr_response_code
            if code == "AG":
                code = f"AG_{eat_now(self.state.now()):%Y%m%d}_{secrets.token_hex(10)}"
        image = self.image(qr)
        return json_response(
            200,
            {
                "ResponseCode": code,
                "RequestID": qr.request_id,
                "ResponseDescription": DESCRIPTION,
                "QRCode": base64.b64encode(image).decode("ascii"),
            },
        )

    def _cpi(self, value, kind: str) -> str:
        if kind == "phone":
            phone = normalise_phone(value)
            if phone is None:
                raise bad_request("CPI")
            return phone
        cpi = validate.shortcode({"CPI": value}, "CPI")
        with self.state.lock:
            account = self.state.c2b_accounts.get(cpi)
        if account is None or account.kind != kind:
            raise bad_request("CPI")
        return cpi

    @staticmethod
    def image(qr: QrCode) -> bytes:
        """The QR's PNG (the same picture every time: drawn from what the QR stands for)."""
        return qr_like_png(f"{qr.qr_id}|{qr.trx_code}|{qr.cpi}|{qr.amount}|{qr.ref_no}", qr.size)

    # -- control API: scan and pay --------------------------------------------------------------
    def listing(self) -> list[dict]:
        """Every QR generated, newest first."""
        with self.state.lock:
            rows = [qr.public() for qr in self.state.qr_codes.values()]
        rows.sort(key=lambda row: (row["created_at"], row["qr_id"]), reverse=True)
        return rows

    def find(self, key: str) -> QrCode:
        """The QR with this id, else the newest QR whose RefNo is `key` (case and spaces ignored)."""
        key = key.strip()
        with self.state.lock:
            qr = self.state.qr_codes.get(key)
            if qr is None:
                wanted = "".join(key.split()).upper()
                same = [
                    q for q in self.state.qr_codes.values() if "".join(q.ref_no.split()).upper() == wanted
                ]
                qr = max(same, key=lambda q: (q.created_at, q.qr_id)) if same else None
        if qr is None:
            raise ControlError(404, f"No Dynamic QR with id or reference {key!r}")
        return qr

    def pay(self, key: str, data: dict) -> dict:
        """The customer scans the QR and pays its amount: a C2B payment to its CPI, BillRefNumber = RefNo.

        For BG (Buy Goods) whether Daraja carries RefNo back as the BillRefNumber is unverified
        (docs/daraja.md, "Dynamic QR"): option qr_till_bill_ref, or "bill_ref": "empty" | "ref_no" in
        the body, sends an empty one instead, to test matching by the amount alone."""
        qr = self.find(key)
        if qr.trx_code not in PAYABLE:
            raise ControlError(
                409,
                f"A {qr.trx_code} QR pays a phone or an agent: only BG and PB QRs pay a C2B shortcode here",
            )
        mode = data.get("bill_ref") or self.state.options.qr_till_bill_ref
        if mode not in ("ref_no", "empty"):
            raise ControlError(400, "bill_ref must be ref_no or empty")
        bill_ref = "" if qr.trx_code == "BG" and mode == "empty" else qr.ref_no
        payment = self.c2b.pay(
            {
                "shortcode": qr.cpi,
                "amount": qr.amount,
                "msisdn": data.get("msisdn", "254708374149"),
                "bill_ref_number": bill_ref,
                "msisdn_mode": data.get("msisdn_mode"),
                "delivery": data.get("delivery"),
            },
            source="qr",
        )
        with self.state.lock:
            qr.payments.append(payment["trans_id"])
            shown = qr.public()
        return {"qr": shown, "payment": payment}
