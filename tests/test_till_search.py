"""The till's C2B search beyond the exact amount (any amount, a payer's name, phone digits, a receipt
code, M-Pesa asked about a code we never heard of) and several payments claimed for one order, all
or none, also when two tills race for them."""

import time
import uuid
from unittest.mock import patch

from odoo.api import Environment
from odoo.sql_db import db_connect
from odoo.tests import tagged
from psycopg2 import errors as pg_errors

from .common import MpesaCase


@tagged("post_install", "-at_install")
class TestTillSearch(MpesaCase):
    def setUp(self):
        super().setUp()
        self.as_cashier()

    def search(self, **params):
        return self.rpc(
            "/mpesa/search_unreconciled_callbacks", {"payment_method_id": self.mpesa_method.id, **params}
        )

    def receipts(self, answer):
        self.assertTrue(answer["success"], answer)
        return sorted(cb["mpesa_receipt_number"] for cb in answer["callbacks"])

    def test_any_amount_name_and_phone_digits(self):
        self.make_c2b("RKA0000001", amount=60, customer_name="NICHOLAS OTIENO", phone_number="2547 ***** 126")
        self.make_c2b("RKA0000002", amount=40, customer_name="WANJIRU KAMAU", phone_number="2547 ***** 934")
        self.make_c2b("RKA0000003", amount=40, customer_name="50% OFF", phone_number="a1b2" * 16)  # hashed
        self.make_c2b(
            "RKA0000004", amount=40, minutes_ago=30, customer_name="WANJIRU OLD"
        )  # outside the window
        self.make_c2b("RKA0000005", amount=40, is_claimed=True, customer_name="WANJIRU TAKEN")
        self.assertEqual(self.receipts(self.search()), ["RKA0000001", "RKA0000002", "RKA0000003"])
        self.assertEqual(self.receipts(self.search(amount=40)), ["RKA0000002", "RKA0000003"])
        self.assertEqual(self.receipts(self.search(query="wanjiru")), ["RKA0000002"])
        self.assertEqual(self.receipts(self.search(query="126")), ["RKA0000001"])
        self.assertEqual(self.receipts(self.search(query=" 9 34 ")), ["RKA0000002"])
        self.assertEqual(self.receipts(self.search(query="50%")), ["RKA0000003"])  # % is a character
        for bad in ({"query": "%"}, {"query": ["x"]}, {"query": "x" * 65}, {"amount": "abc"}):
            self.assertFalse(self.search(**bad)["success"], bad)

    def test_receipt_code_whenever_it_came(self):
        self.make_c2b("SGR7AAA001", amount=75, minutes_ago=60 * 30)  # yesterday: outside any window
        self.make_c2b("SGR7AAA002", amount=75, is_claimed=True)
        self.assertEqual(self.receipts(self.search(query="sgr7aaa001")), ["SGR7AAA001"])
        self.assertEqual(self.receipts(self.search(query="SGR7 AAA001", amount=75)), ["SGR7AAA001"])
        taken = self.search(query="SGR7AAA002")
        self.assertFalse(taken["success"])
        self.assertIn("already taken", taken["message"])
        # never heard of, no initiator: said so, nothing asked
        unknown = self.search(query="SGR7ZZZ404")
        self.assertFalse(unknown["success"])
        self.assertIn("has reached Odoo", unknown["message"])

    def test_receipt_code_never_heard_of_is_asked_of_mpesa(self):
        self.with_initiator()
        receipt = self.sim_control(
            "POST", "c2b/pay", {"shortcode": "600984", "amount": 320, "delivery": "lost"}
        )["trans_id"]
        self.let_callbacks_in(0.5)
        started = self.search(query=receipt)
        self.assertEqual((started["success"], started["count"]), (True, 0), started)
        self.assertIn("Asking M-Pesa", started["message"])
        params = {"lookup_id": started["lookup_id"], "payment_method_id": self.mpesa_method.id}
        deadline = time.monotonic() + 15
        answer = self.rpc("/mpesa/lookup_status", params)
        while answer.get("status") == "pending" and time.monotonic() < deadline:
            self.let_callbacks_in(0.3)
            answer = self.rpc("/mpesa/lookup_status", params)
        self.assertEqual((answer["status"], self.receipts(answer)), ("found", [receipt]), answer)
        # the next search finds our own row: M-Pesa is not asked again
        self.assertEqual(self.receipts(self.search(query=receipt)), [receipt])
        self.assertEqual(self.env["mpesa.daraja.request"].sudo().search_count([("receipt", "=", receipt)]), 1)
        # another till's lookup is not this one's to read
        self.assertFalse(self.rpc("/mpesa/lookup_status", {"lookup_id": "1"})["success"])

    # ------------------------------------------------------------------ several payments, one order

    def claim_several(self, rows, amount, order_key=None):
        return self.rpc(
            "/mpesa/reconcile_callbacks",
            {
                "callback_ids": rows.ids,
                "amount": amount,
                "order_id": order_key or str(uuid.uuid4()),
                "payment_method_id": self.mpesa_method.id,
                "pos_config_id": self.pos_config.id,
            },
        )

    def test_several_payments_for_one_order_all_or_none(self):
        first = self.make_c2b("RKS0000001", amount=60)
        second = self.make_c2b("RKS0000002", amount=40)
        taken = self.make_c2b("RKS0000003", amount=40, is_claimed=True)
        rows = first | second

        short = self.claim_several(rows, 110)
        self.assertFalse(short["success"])
        self.assertIn("add up to 100", short["message"])
        mixed = self.claim_several(first | taken, 100)
        self.assertFalse(mixed["success"])
        self.assertIn("already reconciled", mixed["message"])
        first.invalidate_recordset()
        self.assertFalse(first.is_claimed, "none is claimed when one cannot be")

        order_key = str(uuid.uuid4())
        done = self.claim_several(rows, 100, order_key)
        self.assertTrue(done["success"], done)
        self.assertEqual(
            sorted((p["receipt_number"], p["amount"]) for p in done["payments"]),
            [("RKS0000001", 60.0), ("RKS0000002", 40.0)],
        )
        rows.invalidate_recordset()
        self.assertEqual(set(rows.mapped("claim_order_key")), {order_key})
        self.assertEqual(rows.mapped("claimed_by_id"), self.pos_user)
        for bad in ([], [first.id, first.id], "1,2", [first.id, "2"], list(range(1, 13))):
            answer = self.rpc(
                "/mpesa/reconcile_callbacks", {"callback_ids": bad, "amount": 100, "order_id": order_key}
            )
            self.assertFalse(answer["success"], bad)


@tagged("post_install", "-at_install")
class TestSeveralPaymentsRace(MpesaCase):
    """Two tills tick overlapping payments at the same moment, in two real transactions."""

    def test_two_tills_overlapping_payments(self):
        connection = db_connect(self.env.cr.dbname)
        setup_cr = connection.cursor()
        ids = []
        try:
            setup_cr.execute("SELECT id FROM res_users WHERE login = 'admin'")
            admin_id = setup_cr.fetchone()[0]
            env0 = Environment(setup_cr, admin_id, {})
            config = env0["mpesa.config"].create(
                {"name": "Several race", "environment": "sandbox", "business_shortcode": "600991"}
            )
            rows = (
                env0["mpesa.callback"]
                .sudo()
                .create(
                    [
                        {
                            "callback_type": "c2b",
                            "status": "success",
                            "mpesa_receipt_number": f"SEV{config.id:05d}{n}",
                            "amount": amount,
                            "config_id": config.id,
                            "company_id": config.company_id.id,
                        }
                        for n, amount in enumerate((60, 40, 60))
                    ]
                )
            )
            ids = rows.ids
            setup_cr.commit()
            a_ids, b_ids = ids[:2], ids[1:]  # both want the 40
            order_a, order_b = str(uuid.uuid4()), str(uuid.uuid4())
            cr_a, cr_b = connection.cursor(), connection.cursor()
            race_account = patch.object(
                type(self.env["mpesa.callback"]),
                "_claim_accounts",
                lambda model, pos_config, payment_method=None: model.env["mpesa.config"].browse(config.id),
            )
            with race_account:
                try:
                    env_a, env_b = Environment(cr_a, admin_id, {}), Environment(cr_b, admin_id, {})
                    for env in (env_a, env_b):  # both take their snapshot before either decides
                        self.assertEqual(len(env["mpesa.callback"].sudo().browse(ids).exists()), 3)
                    claim = "_pos_claim_several"
                    won = env_a["mpesa.callback"]._run_pos_request(
                        claim, callback_ids=a_ids, amount=100, order_id=order_a
                    )
                    self.assertTrue(won["success"], won)
                    # B meets A's claim in flight: Odoo runs B's request again
                    with self.assertRaises(pg_errors.LockNotAvailable):
                        env_b["mpesa.callback"]._run_pos_request(
                            claim, callback_ids=b_ids, amount=100, order_id=order_b
                        )
                    cr_a.commit()
                    cr_b.rollback()
                    lost = env_b["mpesa.callback"]._run_pos_request(
                        claim, callback_ids=b_ids, amount=100, order_id=order_b
                    )
                    self.assertFalse(lost["success"])
                    cr_b.commit()
                    cr_a.execute(
                        "SELECT id, claim_order_key FROM mpesa_callback WHERE id = ANY(%s) ORDER BY id",
                        (ids,),
                    )
                    self.assertEqual(
                        cr_a.fetchall(), [(ids[0], order_a), (ids[1], order_a), (ids[2], None)]
                    )  # B took nothing: its other payment is still free
                finally:
                    cr_a.close()
                    cr_b.close()
        finally:
            setup_cr.rollback()
            if ids:  # test-only cleanup of committed rows (the ORM forbids deleting the log)
                setup_cr.execute("DELETE FROM mpesa_callback WHERE id = ANY(%s)", (ids,))
                setup_cr.execute("DELETE FROM mpesa_config WHERE name = 'Several race'")
                setup_cr.commit()
            setup_cr.close()
