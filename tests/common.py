import json
import time
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.addons.pos_mpesa.daraja_simulator import SimulatorServer
from odoo.tests import HttpCase, new_test_user
from odoo.tests.common import BaseCase

SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"


# an initiator with a SecurityCredential as pasted from the M-PESA portal (Transaction Status, Reversal)
TEST_INITIATOR = {"initiator_name": "testapi", "security_credential": "UGFzdGVkRnJvbVBvcnRhbA=="}


def start_simulator(test_class, callback_delay):
    """Start an in-process Daraja simulator for the class as ``test_class.sim`` (stopped at cleanup)."""
    test_class.sim = SimulatorServer(host="127.0.0.1", port=0, callback_delay=callback_delay)
    test_class.sim.start()
    test_class.addClassCleanup(test_class.sim.stop)
    # Odoo's test HTTP guard compares the timeout with an int; the Daraja client passes
    # (connect, read) as requests allows: hand the guard the larger of the two
    guard = BaseCase._request_handler.__func__

    def request_handler(klass, session, prepared, **kwargs):
        if isinstance(kwargs.get("timeout"), tuple):
            kwargs["timeout"] = max(kwargs["timeout"])
        return guard(klass, session, prepared, **kwargs)

    test_class.startClassPatcher(patch.object(BaseCase, "_request_handler", classmethod(request_handler)))


def simulator_paybill(sim, **vals):
    """The values of an M-Pesa account on the simulator's paybill 174379 (C2B 600984), with ``vals``."""
    return {
        "environment": "simulator",
        "simulator_url": sim.base_url,
        "account_type": "paybill",
        "business_shortcode": "174379",
        "c2b_shortcode": "600984",
        "consumer_key": "sim-consumer-key",
        "consumer_secret": "sim-consumer-secret",
        "passkey": SANDBOX_PASSKEY,
        **vals,
    }


def tell_tills_in_the_transaction(test_class):
    """Odoo's test server shares the test's one cursor: a till message sent after the answer (from
    another thread, once the response is closed) would use that cursor while the test does. In
    these tests the tills are told inside the callback's transaction; test_callbacks.py's
    test_tills_told_after_the_answer, `make prefork-tours` and `make bench` run the real order."""
    from odoo.addons.pos_mpesa.controllers.callback import MpesaCallbackController

    test_class.startClassPatcher(patch.object(MpesaCallbackController, "_bus_context", staticmethod(dict)))


# nothing listens on port 9: the simulator's callbacks go nowhere unless a test points them at Odoo
UNREACHABLE = "http://127.0.0.1:9"

# hand-made example payloads of /mpesa/callback (placeholder ids, no Balance item)
EXAMPLE_STK_CALLBACK = {
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
EXAMPLE_C2B_CALLBACK = {
    "TransactionType": "Pay Bill",
    "TransID": "ABC123",
    "TransTime": "20191122063845",
    "TransAmount": "100.00",
    "BusinessShortCode": "600638",
    "BillRefNumber": "ORDER-001",
    "MSISDN": "254708374149",
    "FirstName": "John",
    "LastName": "Doe",
}
POSTMAN_C2B = {
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


def stk_callback(
    checkout_id,
    merchant_id,
    result_code=0,
    amount=100,
    receipt="QKX1ABCD23",
    desc="The service request is processed successfully.",
):
    body = {
        "MerchantRequestID": merchant_id,
        "CheckoutRequestID": checkout_id,
        "ResultCode": result_code,
        "ResultDesc": desc,
    }
    if result_code == 0:
        body["CallbackMetadata"] = {
            "Item": [
                {"Name": "Amount", "Value": amount},
                {"Name": "MpesaReceiptNumber", "Value": receipt},
                {"Name": "Balance"},
                {"Name": "TransactionDate", "Value": 20261126101500},
                {"Name": "PhoneNumber", "Value": 254708374100},
            ]
        }
    return {"Body": {"stkCallback": body}}


def c2b_confirmation(trans_id, amount="100.00", shortcode="600984", msisdn="2547 ***** 126"):
    return {
        "TransactionType": "Pay Bill",
        "TransID": trans_id,
        "TransTime": "20261126121325",
        "TransAmount": amount,
        "BusinessShortCode": shortcode,
        "BillRefNumber": "Till 1",
        "InvoiceNumber": "",
        "OrgAccountBalance": "25.00",
        "ThirdPartyTransID": "",
        "MSISDN": msisdn,
        "FirstName": "NICHOLAS",
        "MiddleName": "",
        "LastName": "",
    }


def order_line(product, price=100):
    """One line of a POS order as the till syncs it (sync_from_ui), no taxes."""
    return (
        0,
        0,
        {
            "product_id": product.id,
            "qty": 1,
            "price_unit": price,
            "price_subtotal": price,
            "price_subtotal_incl": price,
            "tax_ids": [(6, 0, [])],
            "pack_lot_ids": [],
        },
    )


class MpesaCase(HttpCase):
    """Company with an M-Pesa account on the simulator, a shop using it, and three users."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        start_simulator(cls, callback_delay=0.0)
        tell_tills_in_the_transaction(cls)

        cls.company = cls.env.company
        cls.kes = cls.env.ref("base.KES")
        cls.kes.active = True
        cls.mpesa_config = cls.env["mpesa.config"].create(
            simulator_paybill(
                cls.sim, name="Test Paybill", company_id=cls.company.id, callback_base_url=UNREACHABLE
            )
        )
        cls.company.mpesa_config_id = cls.mpesa_config
        cls.bank_journal = cls.env["account.journal"].create(
            {"name": "M-Pesa Test", "type": "bank", "code": "MPTST", "company_id": cls.company.id}
        )
        cls.mpesa_method = cls.env["pos.payment.method"].create(
            {
                "name": "M-Pesa",
                "journal_id": cls.bank_journal.id,
                "company_id": cls.company.id,
            }
        )
        cls.pos_config = cls.env["pos.config"].create(
            {
                "name": "M-Pesa Shop",
                "payment_method_ids": [(4, cls.mpesa_method.id)],
            }
        )
        cls.pos_user = new_test_user(
            cls.env,
            login="mpesa_cashier",
            groups="base.group_user,point_of_sale.group_pos_user",
            password="mpesa_cashier",
        )
        cls.pos_manager = new_test_user(
            cls.env,
            login="mpesa_manager",
            groups="base.group_user,point_of_sale.group_pos_manager,base.group_system",
            password="mpesa_manager",
        )
        cls.accountant = new_test_user(
            cls.env,
            login="mpesa_accountant",
            groups="base.group_user,account.group_account_readonly",
            password="mpesa_accountant",
        )
        cls.Callback = cls.env["mpesa.callback"]

    def setUp(self):
        super().setUp()
        # the simulator's callbacks carry no test cookie: let them in (they still wait for the test lock)
        self.http_request_allow_all = True
        self.sim.reset()

    # ------------------------------------------------------------------ helpers

    def sim_control(self, method, path, payload=None):
        import requests

        # the simulator may call Odoo back while answering: release the test lock like url_open does
        self.env.flush_all()
        self.env.invalidate_all()
        with self.allow_requests(all_requests=True):
            body = (payload or {}) if method == "POST" else None
            response = requests.request(method, f"{self.sim.base_url}/__sim__/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else None

    def post_json(self, path, payload, raw=None, headers=None):
        body = raw if raw is not None else json.dumps(payload)
        return self.url_open(
            path, data=body, headers={"Content-Type": "application/json", **(headers or {})}, method="POST"
        )

    def token_url(self, kind="stk", config=None):
        config = config or self.mpesa_config
        paths = {
            "stk": "/pos_lipa/cb/%s/stk",
            "confirm": "/pos_lipa/cb/%s/c2b/confirm",
            "validate": "/pos_lipa/cb/%s/c2b/validate",
        }
        return paths[kind] % config.callback_token

    def rpc(self, route, params):
        return self.make_jsonrpc_request(route, params)

    def with_initiator(self):
        """The account can ask M-Pesa (Transaction Status, Reversal) and hear its Results and C2B
        confirmations on this test server."""
        self.mpesa_config.write({"callback_base_url": self.base_url(), **TEST_INITIATOR})
        self.mpesa_config.with_user(self.pos_manager).action_register_c2b_urls()

    def sim_pay(self, amount, delivery="once"):
        """A customer pays the shortcode on the simulator (delivery: once, lost, ...); returns the
        receipt once M-Pesa holds it and a delivered confirmation is in."""
        receipt = self.sim_control(
            "POST", "c2b/pay", {"shortcode": "600984", "amount": amount, "delivery": delivery}
        )["trans_id"]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            self.let_callbacks_in(0.2)
            rows = self.sim_control("GET", "transactions")["transactions"]
            if any(r.get("trans_id") == receipt and r["status"] in ("confirmed", "lost") for r in rows):
                self.let_callbacks_in(0.3)
                return receipt
        raise AssertionError(f"{receipt} never completed on the simulator")

    def let_callbacks_in(self, seconds=0.5):
        """Callbacks posted by the simulator run while the test lock is released."""
        self.env.flush_all()
        self.env.invalidate_all()
        with self.allow_requests(all_requests=True):
            time.sleep(seconds)

    def as_cashier(self):
        self.authenticate("mpesa_cashier", "mpesa_cashier")

    def make_pending(self, checkout_id="ws_CO_TEST0001", merchant_id="29115-1-1", requested=100, **extra):
        vals = {
            "callback_type": "stk",
            "status": "pending",
            "source": "pos",
            "checkout_request_id": checkout_id,
            "merchant_request_id": merchant_id,
            "requested_amount": requested,
            "request_phone": "254708374100",
            "order_reference": "Order 00001",
            "request_date": fields.Datetime.now(),
            "config_id": self.mpesa_config.id,
            "company_id": self.company.id,
            "pos_config_id": self.pos_config.id,
            "payment_method_id": self.mpesa_method.id,
            "user_id": self.pos_user.id,
        }
        vals.update(extra)
        return self.Callback.sudo().create(vals)

    def make_c2b(self, trans_id="RKL51ZDR4F", amount=100, minutes_ago=1, **extra):
        vals = {
            "callback_type": "c2b",
            "status": "success",
            "mpesa_receipt_number": trans_id,
            "amount": amount,
            "phone_number": "2547 ***** 126",
            "customer_name": "NICHOLAS",
            "config_id": self.mpesa_config.id,
            "company_id": self.company.id,
            "received_date": fields.Datetime.now() - timedelta(minutes=minutes_ago),
            "transaction_date": fields.Datetime.now() - timedelta(minutes=minutes_ago),
            "source": "token_url",
        }
        if extra.get("is_claimed"):
            # a claim names its order and who took it (a CHECK constraint of mpesa.callback)
            vals.update(claim_order_key="claimed-order", claimed_by_id=self.pos_user.id)
        vals.update(extra)
        return self.Callback.sudo().create(vals)

    def sync_order(self, order_uuid, row, checkout_request_id=None, amount=100):
        """The till's order paid by ``row`` (or the STK push ``checkout_request_id``; neither: validated
        without a matching payment) reaches the server."""
        if not self.pos_config.current_session_id:
            self.pos_config.open_ui()
            self.pos_config.current_session_id.set_opening_control(0, None)
        session = self.pos_config.current_session_id
        product = self.env["product.product"].create(
            {"name": "Chair", "list_price": amount, "available_in_pos": True, "taxes_id": [(5, 0, 0)]}
        )
        order_data = {
            "uuid": order_uuid,
            "name": f"Order {order_uuid}",
            "session_id": session.id,
            "pricelist_id": self.pos_config.pricelist_id.id,
            "user_id": self.env.uid,
            "amount_paid": amount,
            "amount_return": 0,
            "amount_tax": 0,
            "amount_total": amount,
            "date_order": fields.Datetime.to_string(fields.Datetime.now()),
            "last_order_preparation_change": "{}",
            "state": "paid",
            "lines": [
                order_line(product, amount),
            ],
            "payment_ids": [
                (
                    0,
                    0,
                    {
                        "amount": amount,
                        "name": fields.Datetime.now(),
                        "payment_method_id": self.mpesa_method.id,
                        **(
                            {
                                "mpesa_checkout_request_id": checkout_request_id,
                                "mpesa_phone_number": "254712345600",
                            }
                            if checkout_request_id
                            else {
                                "mpesa_receipt_number": row.mpesa_receipt_number,
                                "mpesa_callback_id": row.id,
                            }
                            if row
                            else {}  # validated without a matching payment
                        ),
                    },
                )
            ],
        }
        result = self.env["pos.order"].with_user(self.pos_user).sync_from_ui([order_data])
        return self.env["pos.order"].browse(result["pos.order"][0]["id"])
