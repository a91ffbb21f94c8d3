"""Pay-to-account codes: a payment that names its order by the account number is claimed on arrival;
the right code with another amount is told to the till, never claimed."""

import time
import uuid
from unittest.mock import patch

from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger
from psycopg2 import errors as pg_errors

from ..models import mpesa_account_code
from ..models.mpesa_account_code import ALPHABET, CODE_LENGTH
from .common import MpesaCase, c2b_confirmation


@tagged("post_install", "-at_install")
class TestAccountCode(MpesaCase):
    def setUp(self):
        super().setUp()
        self.as_cashier()
        self.Codes = self.env["mpesa.account.code"].sudo()

    def ask(self, amount=150, order_uuid=None, **extra):
        return self.rpc(
            "/mpesa/account_code",
            {
                "amount": amount,
                "order_uuid": order_uuid or str(uuid.uuid4()),
                "payment_method_id": self.mpesa_method.id,
                "pos_config_id": self.pos_config.id,
                **extra,
            },
        )

    def pay(self, bill_ref, amount, trans_id):
        body = c2b_confirmation(trans_id, amount=f"{amount}.00")
        body["BillRefNumber"] = bill_ref
        response = self.post_json(self.token_url("confirm"), body)
        self.assertEqual(response.json()["ResultCode"], 0)
        return self.Callback.sudo().search([("mpesa_receipt_number", "=", trans_id)])

    def status(self, code_id):
        return self.rpc(
            "/mpesa/account_code_status", {"code_id": code_id, "pos_config_id": self.pos_config.id}
        )

    def bus(self, message_type):
        return self.env["bus.bus"].sudo().search([("message", "like", message_type)])

    def test_code_shape_and_one_code_per_order_and_amount(self):
        order = str(uuid.uuid4())
        first = self.ask(150, order)
        self.assertTrue(first["success"], first)
        self.assertEqual(len(first["code"]), CODE_LENGTH)
        self.assertTrue(set(first["code"]) <= set(ALPHABET))
        self.assertEqual((first["shortcode"], first["status"]), ("600984", "waiting"))
        self.assertIn(first["code"], first["message"])
        self.assertEqual(self.ask(150, order)["code_id"], first["code_id"])  # asked again: the same
        other = self.ask(200, order)  # the amount changed: a new code, the old one cancelled
        self.assertNotEqual(other["code_id"], first["code_id"])
        self.assertEqual(self.Codes.browse(first["code_id"]).state, "cancelled")
        for bad in ({"amount": 99.5}, {"amount": 0}, {"order_uuid": "not-a-uuid"}, {"qr": "yes"}):
            self.assertFalse(self.ask(**bad)["success"], bad)

    def test_a_clash_draws_again_and_the_index_holds(self):
        draws = iter("AAAAA" + "AAAAA" + "CCCCC")
        with patch.object(mpesa_account_code.secrets, "choice", lambda alphabet: next(draws)):
            first, second = self.ask(), self.ask()
        self.assertEqual((first["code"], second["code"]), ("AAAAA", "CCCCC"))
        with (
            self.assertRaises(pg_errors.UniqueViolation),
            mute_logger("odoo.sql_db"),
            self.env.cr.savepoint(),
        ):
            self.Codes.create(
                {
                    "code": "CCCCC",
                    "shortcode": "600984",
                    "config_id": self.mpesa_config.id,
                    "user_id": self.pos_user.id,
                    "order_key": "x",
                    "amount": 1,
                }
            )

    def test_the_payment_naming_the_code_is_claimed_on_arrival(self):
        order = str(uuid.uuid4())
        code = self.ask(150, order)
        row = self.pay(" " + code["code"].lower()[:3] + " " + code["code"].lower()[3:], 150, "RKCODE0001")
        self.assertEqual(
            (row.is_claimed, row.claim_order_key, row.claimed_by_id), (True, order, self.pos_user)
        )
        self.assertEqual(row.claim_config_id, self.pos_config)
        answer = self.status(code["code_id"])
        self.assertEqual(
            (answer["status"], answer["receipt_number"], answer["callback_id"]),
            ("paid", "RKCODE0001", row.id),
        )
        self.assertTrue(self.bus("MPESA_CODE_PAID"))
        self.assertFalse(self.bus("MPESA_C2B_RECEIVED"), "no other till is offered it")
        # delivered again: counted, nothing else
        self.pay(code["code"], 150, "RKCODE0001")
        row.invalidate_recordset()
        self.assertEqual((row.duplicate_count, row.claim_order_key), (1, order))

    def test_right_code_wrong_amount_is_told_never_claimed(self):
        code = self.ask(150)
        row = self.pay(code["code"], 100, "RKCODE0002")
        self.assertFalse(row.is_claimed)
        answer = self.status(code["code_id"])
        self.assertEqual(answer["status"], "mismatch")
        self.assertIn("RKCODE0002", answer["message"])
        self.assertTrue(self.bus("MPESA_CODE_MISMATCH"))
        # the right payment still completes it
        self.assertTrue(self.pay(code["code"], 150, "RKCODE0003").is_claimed)

    def test_cancelled_or_unknown_codes_claim_nothing(self):
        code = self.ask(150)
        cancelled = self.rpc(
            "/mpesa/account_code_cancel", {"code_id": code["code_id"], "pos_config_id": self.pos_config.id}
        )
        self.assertEqual(cancelled["status"], "cancelled")
        self.assertFalse(self.pay(code["code"], 150, "RKCODE0004").is_claimed)
        self.assertFalse(self.pay("ZZZZZ", 150, "RKCODE0005").is_claimed)  # not a code: an ordinary payment
        self.assertFalse(self.pay("Till 1", 150, "RKCODE0006").is_claimed)

    def test_a_code_is_its_till_s(self):
        code = self.ask(150)
        new_test_user(
            self.env,
            login="other_cashier",
            groups="base.group_user,point_of_sale.group_pos_user",
            password="other_cashier",
        )
        self.authenticate("other_cashier", "other_cashier")
        self.assertEqual(
            self.rpc("/mpesa/account_code_status", {"code_id": code["code_id"]})["message"], "Unknown code"
        )
        self.assertEqual(
            self.rpc("/mpesa/account_code_cancel", {"code_id": code["code_id"]})["message"], "Unknown code"
        )

    def test_a_till_number_takes_no_account_number(self):
        self.mpesa_config.write({"account_type": "till", "till_number": "5209999", "c2b_shortcode": False})
        answer = self.ask(150)
        self.assertFalse(answer["success"])
        self.assertIn("Dynamic QR", answer["message"])

    def test_paid_through_the_simulator(self):
        self.mpesa_config.callback_base_url = self.base_url()
        self.mpesa_config.with_user(self.pos_manager).action_register_c2b_urls()
        order = str(uuid.uuid4())
        code = self.ask(260, order)
        self.sim_control(
            "POST", "c2b/pay", {"shortcode": "600984", "amount": 260, "bill_ref_number": code["code"].lower()}
        )
        deadline = time.monotonic() + 15
        answer = self.status(code["code_id"])
        while answer["status"] == "waiting" and time.monotonic() < deadline:
            self.let_callbacks_in(0.3)
            answer = self.status(code["code_id"])
        self.assertEqual(answer["status"], "paid", answer)
        row = self.Callback.sudo().browse(answer["callback_id"])
        self.assertEqual((row.amount, row.claim_order_key), (260, order))

    def test_a_till_s_dynamic_qr_is_matched_by_its_amount(self):
        self.mpesa_config.write(
            {"account_type": "till", "till_number": "174381", "business_shortcode": "174380"}
        )
        self.mpesa_config.c2b_shortcode = "174381"
        qr = self.ask(180, qr=True)
        self.assertTrue(qr["success"], qr)
        self.assertTrue(qr["qr_image"])  # the simulator's PNG, base64
        # a Buy Goods payment carries no account number: the one QR of that amount takes it
        body = c2b_confirmation("RKQR000001", amount="180.00", shortcode="174381")
        body["BillRefNumber"] = ""
        self.assertEqual(self.post_json(self.token_url("confirm"), body).json()["ResultCode"], 0)
        row = self.Callback.sudo().search([("mpesa_receipt_number", "=", "RKQR000001")])
        self.assertTrue(row.is_claimed)
        self.assertEqual(self.status(qr["code_id"])["status"], "paid")
        # two QRs of one amount waiting: which is it? the cashier picks in the search
        self.ask(90, qr=True)
        self.ask(90, qr=True)
        body = c2b_confirmation("RKQR000002", amount="90.00", shortcode="174381")
        body["BillRefNumber"] = ""
        self.post_json(self.token_url("confirm"), body)
        self.assertFalse(
            self.Callback.sudo().search([("mpesa_receipt_number", "=", "RKQR000002")]).is_claimed
        )
