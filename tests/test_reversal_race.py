"""One M-Pesa payment is never reversed twice, whoever asks at the same moment.

Each actor works in a real transaction of its own, as two Odoo workers do: the rows are committed from
a separate cursor, every actor has its own cursor and thread, reads the payment (its snapshot) and waits
for the others at a barrier before it writes, and its request is run by Odoo's own retry loop. Daraja is
the simulator, over HTTP: what matters is how many Reversal requests it received for the receipt.

- two tills refund the same sale (/mpesa/reverse): M-Pesa is asked once; the other till is refused (a
  second refund order must not be paid out for one reversal) and nothing is sent when it asks again;
- two managers send back the same unclaimed payment: held once, M-Pesa asked once, the other refused;
- a manager sends back an unclaimed payment while a till claims it for an order: either it is on the
  order and M-Pesa never asked, or it is reversed and no order carries it;
- a manager releases a till's claim while the cashier refunds that order, which does not carry the payment
  yet: never reversed (failed before the fix in mpesa_reversal.py, _reversal_candidates).
"""

import json
import logging
import threading
import time
import uuid
from datetime import timedelta
from unittest.mock import patch

import requests
from odoo import fields
from odoo.api import Environment
from odoo.exceptions import UserError, ValidationError
from odoo.service.model import retrying
from odoo.tests import TransactionCase, new_test_user, tagged
from odoo.tools import mute_logger

from ..models.mpesa_claim import REVERSAL_HOLD
from .common import TEST_INITIATOR, UNREACHABLE, simulator_paybill, start_simulator

_logger = logging.getLogger(__name__)

REFUND_GROUPS = "base.group_user,pos_mpesa.group_mpesa_refund"
C2B_SHORTCODE = "600984"
AMOUNT = 150
ALREADY_REVERSING = "This M-Pesa payment is already being reversed, or was reversed."
NOT_PAID_WITH_MPESA = "This order was not paid with M-Pesa: refund it another way."


@tagged("post_install", "-at_install")
class TestReversalRace(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        start_simulator(cls, callback_delay=0.0)

    def setUp(self):
        super().setUp()
        self.db = self.registry._db
        self.tag = uuid.uuid4().hex[:6]
        self.sim.reset()
        self.made = {"rows": [], "orders": [], "lines": []}
        with self.db.cursor() as cr:
            env = self.admin_env(cr)
            company = env.company
            self.company_id = company.id
            people = [
                ("Cashier Wanjiru", "point_of_sale.group_pos_user"),
                ("Cashier Otieno", "point_of_sale.group_pos_user"),
                ("Manager Amina", "point_of_sale.group_pos_manager"),
                ("Manager Baraka", "point_of_sale.group_pos_manager"),
            ]
            users = [
                new_test_user(
                    env,
                    login=f"reversal_race_{self.tag}_{n}",
                    name=f"{name} {self.tag}",
                    groups=f"{REFUND_GROUPS},{group}",
                )
                for n, (name, group) in enumerate(people)
            ]
            self.names = {user.id: user.name for user in users}
            self.cashiers, self.managers = [u.id for u in users[:2]], [u.id for u in users[2:]]
            self.journal_id = (
                env["account.journal"]
                .create({"name": f"M-Pesa reversal race {self.tag}", "type": "bank", "code": "MPRV"})
                .id
            )
            account = env["mpesa.config"].create(
                simulator_paybill(
                    self.sim,
                    name=f"Reversal race {self.tag}",
                    callback_base_url=UNREACHABLE,  # M-Pesa's Results are fed to Odoo by the test
                    **TEST_INITIATOR,
                )
            )
            self.account_id = account.id
        # committed first: the OAuth token is stored in a transaction of its own
        with self.db.cursor() as cr:
            env = self.admin_env(cr)
            # M-Pesa takes payments to the shortcode once its C2B URLs are registered (also the OAuth
            # token every actor then shares)
            self.assertTrue(env["mpesa.config"].browse(self.account_id)._register_c2b_urls()["success"])
            self.method_id = (
                env["pos.payment.method"]
                .create(
                    {
                        "name": f"M-Pesa race {self.tag}",
                        "journal_id": self.journal_id,
                        "use_payment_terminal": "mpesa",
                        "mpesa_config_id": self.account_id,
                    }
                )
                .id
            )
            tills = env["pos.config"].create(
                [
                    {"name": f"Till {n} {self.tag}", "payment_method_ids": [(4, self.method_id)]}
                    for n in (1, 2)
                ]
            )
            self.tills = tills.ids
            self.sessions = [
                env["pos.session"].create({"config_id": till.id, "user_id": env.uid}).id for till in tills
            ]
            cr.execute("SELECT COALESCE(max(id), 0) FROM bus_bus")
            self.bus_start = cr.fetchone()[0]
        self.addCleanup(self.remove_committed)

    @staticmethod
    def admin_env(cr):
        cr.execute("SELECT id FROM res_users WHERE login = 'admin'")
        return Environment(cr, cr.fetchone()[0], {})

    def remove_committed(self):
        """Test-only cleanup of the committed rows (the ORM forbids deleting the payment log)."""
        rows, orders, lines = self.made["rows"], self.made["orders"], self.made["lines"]
        with self.db.cursor() as cr:
            for sql, ids in (
                ("DELETE FROM mpesa_unclaimed_settle WHERE callback_id = ANY(%s)", rows),
                ("DELETE FROM mpesa_daraja_request WHERE config_id = ANY(%s)", [self.account_id]),
                ("DELETE FROM mpesa_callback WHERE id = ANY(%s)", rows),
                ("DELETE FROM pos_payment WHERE id = ANY(%s)", lines),
                ("DELETE FROM pos_order WHERE id = ANY(%s)", orders),
                ("DELETE FROM pos_session WHERE id = ANY(%s)", self.sessions),
                ("DELETE FROM pos_config WHERE id = ANY(%s)", self.tills),
                ("DELETE FROM pos_payment_method WHERE id = ANY(%s)", [self.method_id]),
                ("DELETE FROM mpesa_config WHERE id = ANY(%s)", [self.account_id]),  # its token too
                ("DELETE FROM bus_bus WHERE id > %s", self.bus_start),
            ):
                cr.execute(sql, (ids,))
            cr.execute("SELECT default_account_id FROM account_journal WHERE id = %s", (self.journal_id,))
            account_ids = [account_id for (account_id,) in cr.fetchall() if account_id]
            cr.execute("DELETE FROM account_journal WHERE id = %s", (self.journal_id,))
            cr.execute("DELETE FROM account_account WHERE id = ANY(%s)", (account_ids,))
            users = self.admin_env(cr)["res.users"].browse(list(self.names))
            partners = users.partner_id
            users.unlink()
            partners.unlink()
        self.registry.clear_cache("default")  # the accounts and payment methods the tills looked up

    # ------------------------------------------------------------------ M-Pesa (the simulator)

    def sim_call(self, method, path, payload=None):
        response = requests.request(
            method,
            f"{self.sim.base_url}/__sim__/{path}",
            json=payload if method == "POST" else None,
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def reversals_asked(self):
        """Reversal requests M-Pesa received so far (its own count, whatever it answered)."""
        return self.sim_call("GET", "stats")["api_requests"].get("reversal", 0)

    def reversals_made(self, receipt):
        return [
            row
            for row in self.sim_call("GET", "transactions")["transactions"]
            if row.get("kind") == "reversal" and row.get("detail") == f"reverses {receipt}"
        ]

    def customer_paid(self):
        """A customer paid the paybill on the simulator: the receipt is one M-Pesa can reverse. Its
        confirmation never reaches Odoo (delivery "lost"): the test stores the payment itself."""
        receipt = self.sim_call(
            "POST", "c2b/pay", {"shortcode": C2B_SHORTCODE, "amount": AMOUNT, "delivery": "lost"}
        )["trans_id"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            rows = self.sim_call("GET", "transactions")["transactions"]
            if any(row.get("trans_id") == receipt and row["status"] == "lost" for row in rows):
                return receipt
            time.sleep(0.05)
        raise AssertionError(f"M-Pesa never took {receipt}")

    def mpesa_answers(self, receipt):
        """M-Pesa's Result of the reversal of ``receipt`` (the simulator could not post it: the test
        stores it in a transaction of its own, as the Result URL does)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            posted = [
                row
                for row in self.sim_call("GET", "callbacks")["callbacks"]
                if row["kind"] == "reversal_result" and row["reference"] == receipt
            ]
            if posted:
                break
            time.sleep(0.05)
        self.assertEqual(len(posted), 1, posted)
        with self.db.cursor() as cr:
            env = self.admin_env(cr)
            env["mpesa.daraja.request"].sudo()._on_result(
                env["mpesa.config"].browse(self.account_id), json.dumps(posted[0]["payload"]), False
            )

    # ------------------------------------------------------------------ committed rows

    def payment(self, received_minutes_ago):
        """A payment M-Pesa took and Odoo stored (committed); returns (its id, its receipt)."""
        receipt = self.customer_paid()
        with self.db.cursor() as cr:
            row = (
                self.admin_env(cr)["mpesa.callback"]
                .sudo()
                .create(
                    {
                        "callback_type": "c2b",
                        "status": "success",
                        "mpesa_receipt_number": receipt,
                        "amount": AMOUNT,
                        "phone_number": "2547 ***** 149",
                        "config_id": self.account_id,
                        "company_id": self.company_id,
                        "received_date": fields.Datetime.now() - timedelta(minutes=received_minutes_ago),
                        "source": "token_url",
                    }
                )
            )
        self.made["rows"].append(row.id)
        return row.id, receipt

    def order(self, paid_by=None):
        """An order of the first till, paid by the payment ``paid_by`` (linked by the claim module, as when
        the order reached the server), else a draft with no payment; returns its id."""
        with self.db.cursor() as cr:
            env = self.admin_env(cr)
            order = env["pos.order"].create(
                {
                    "session_id": self.sessions[0],
                    "company_id": self.company_id,
                    "amount_total": AMOUNT,
                    "amount_paid": AMOUNT if paid_by else 0,
                    "amount_tax": 0,
                    "amount_return": 0,
                }
            )
            self.made["orders"].append(order.id)
            if paid_by:
                line = env["pos.payment"].create(
                    {
                        "pos_order_id": order.id,
                        "amount": AMOUNT,
                        "payment_method_id": self.method_id,
                        "mpesa_callback_id": paid_by,
                    }
                )
                self.made["lines"].append(line.id)
                self.assertEqual(env["mpesa.callback"].browse(paid_by).pos_payment_id, line)
                order.state = "paid"
            return order.id

    def fetch(self, sql, *params):
        with self.db.cursor() as cr:
            cr.execute(sql, params)
            return cr.fetchall()

    def payment_state(self, row_id):
        [state] = self.fetch(
            "SELECT is_claimed, claim_order_key, claimed_by_id, pos_order_id, pos_payment_id, reversal_state,"
            " note FROM mpesa_callback WHERE id = %s",
            row_id,
        )
        keys = ("claimed", "key", "by", "order", "line", "reversal", "note")
        return dict(zip(keys, state, strict=True))

    def live_reversals(self, row_id):
        """The payment's reversals that may move the money, or did: (id, user, till, state, outcome)."""
        return self.fetch(
            "SELECT id, user_id, pos_config_id, state, outcome FROM mpesa_daraja_request"
            " WHERE callback_id = %s AND kind = 'reversal'"
            " AND (state IN ('sending', 'sent') OR outcome IN ('reversed', 'already_reversed'))",
            row_id,
        )

    # ------------------------------------------------------------------ the race

    def at_once(self, row_id, actors, late=None):
        """Run each actor, a (user id, request) pair, at the same moment in a transaction of its own;
        ``request(env)`` is one server request, run by Odoo's retry loop (``late``: (actor, seconds), that
        actor starts a little after the others). Returns what each request answered, or the exception it
        ended with; self.attempts counts how many times each request ran."""
        answers = [None] * len(actors)
        self.attempts = [0] * len(actors)
        ready = threading.Barrier(len(actors), timeout=30)

        def act(n, uid, request):
            def attempt(env):
                self.attempts[n] += 1
                return request(env)

            try:
                with self.db.cursor() as cr:
                    env = Environment(cr, uid, {})
                    # the payment as this transaction sees it, before anyone writes
                    env["mpesa.callback"].sudo().browse(row_id).read(["is_claimed", "reversal_state"])
                    ready.wait()
                    if late and late[0] == n:
                        time.sleep(late[1])
                    answers[n] = retrying(lambda: attempt(env), env)
            except Exception as error:  # the outcome under test
                answers[n] = error

        threads = [
            threading.Thread(target=act, args=(n, *actor), name=f"reversal-race-{n}")
            for n, actor in enumerate(actors)
        ]
        # a new transaction looks the registry up by name, under a lock the test runner's thread holds:
        # these threads get this registry directly
        with (
            patch("odoo.orm.environments.Registry", lambda _db_name: self.registry),
            mute_logger("odoo.sql_db", "odoo.service.model", "odoo.addons.pos_mpesa.models.mpesa_claim"),
        ):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(90)
        self.assertFalse(any(thread.is_alive() for thread in threads))
        return answers

    def till_refund(self, cashier, till, order_id):
        """The cashier's /mpesa/reverse for a refund order of its own (what the controller runs)."""
        refund_order_uuid = str(uuid.uuid4())

        def request(env):
            return env["mpesa.callback"]._run_pos_request(
                "_pos_reverse",
                order_id=order_id,
                amount=AMOUNT,
                pos_config_id=till,
                refund_order_uuid=refund_order_uuid,
            )

        return cashier, request

    def send_back(self, manager, row_id):
        """The manager's "send back to the payer" in the settle wizard of an unclaimed payment."""

        def request(env):
            wizard = env["mpesa.unclaimed.settle"].create(
                {"callback_id": row_id, "mode": "reverse", "reason": f"sent back by {env.uid}"}
            )
            return wizard.action_settle()

        return manager, request

    def till_claim(self, cashier, row_id, order_id):
        """The till's /mpesa/reconcile_callback: the payment for its order."""

        def request(env):
            return env["mpesa.callback"]._run_pos_request(
                "_pos_claim",
                callback_id=row_id,
                order_id=order_id,
                payment_method_id=self.method_id,
                pos_config_id=self.tills[0],
            )

        return cashier, request

    def assert_asked_once(self, asked_before, receipt, answers):
        """What matters: M-Pesa received one Reversal request, and made one reversal of this receipt."""
        self.assertEqual(
            self.reversals_asked() - asked_before, 1, f"Reversal requests M-Pesa received; answers: {answers}"
        )
        self.assertEqual(len(self.reversals_made(receipt)), 1)

    def the_one(self, answers, won):
        """The index of the one answer that ``won`` says took the payment; fails unless exactly one did."""
        winners = [n for n, answer in enumerate(answers) if won(answer)]
        self.assertEqual(len(winners), 1, f"exactly one takes the payment; answers: {answers}")
        return winners[0]

    # ------------------------------------------------------------------ the cases

    def test_two_tills_refund_one_sale_at_once(self):
        row_id, receipt = self.payment(received_minutes_ago=5)
        order_id = self.order(paid_by=row_id)
        asked_before = self.reversals_asked()
        answers = self.at_once(
            row_id,
            [
                self.till_refund(cashier, till, order_id)
                for cashier, till in zip(self.cashiers, self.tills, strict=True)
            ],
        )
        _logger.info("two tills: answers %s, attempts %s", answers, self.attempts)
        self.assert_asked_once(asked_before, receipt, answers)
        self.assertTrue(all(isinstance(answer, dict) for answer in answers), answers)
        won = self.the_one(answers, lambda answer: answer["success"])
        sent, refused = answers[won], answers[1 - won]
        self.assertEqual((sent["status"], sent["receipt_number"]), ("pending", receipt), sent)
        # the other till: told plainly, before anything is sent (the database took one reversal)
        self.assertEqual(refused, {"success": False, "status": "refused", "message": ALREADY_REVERSING})
        self.assertEqual(
            self.live_reversals(row_id),
            [(sent["reversal_id"], self.cashiers[won], self.tills[won], "sent", None)],
        )
        self.assertEqual(
            self.fetch("SELECT count(*) FROM mpesa_daraja_request WHERE callback_id = %s", row_id), [(1,)]
        )

        # M-Pesa answers: reversed; the refused till asks again for its refund: refused, nothing sent
        self.mpesa_answers(receipt)
        self.assertEqual(self.payment_state(row_id)["reversal"], "reversed")
        [again] = self.at_once(
            row_id, [self.till_refund(self.cashiers[1 - won], self.tills[1 - won], order_id)]
        )
        self.assertFalse(again["success"], again)
        self.assertEqual(again["message"], f"M-Pesa payment {receipt} was already reversed.")
        self.assertEqual(self.reversals_asked() - asked_before, 1)
        self.assertEqual(len(self.live_reversals(row_id)), 1)

    def test_two_managers_send_back_one_payment_at_once(self):
        row_id, receipt = self.payment(received_minutes_ago=30)
        asked_before = self.reversals_asked()
        answers = self.at_once(row_id, [self.send_back(manager, row_id) for manager in self.managers])
        _logger.info("two managers: answers %s, attempts %s", answers, self.attempts)
        self.assert_asked_once(asked_before, receipt, answers)
        won = self.the_one(answers, lambda answer: isinstance(answer, dict))
        refused = answers[1 - won]
        self.assertEqual(answers[won]["params"]["type"], "success", answers[won])
        self.assertIsInstance(refused, UserError, repr(refused))
        self.assertRegex(str(refused), r" is already being sent back to the payer, or was\.$")
        [(_id, user_id, till, state, _outcome)] = self.live_reversals(row_id)
        self.assertEqual((user_id, till, state), (self.managers[won], None, "sent"))
        # held once, by the manager whose reversal M-Pesa took
        state = self.payment_state(row_id)
        self.assertEqual(
            (state["claimed"], state["key"], state["by"], state["order"]),
            (True, REVERSAL_HOLD, self.managers[won], None),
        )
        self.assertEqual(state["note"].count("Reversal to the payer asked by"), 1, state["note"])
        self.assertIn(self.names[self.managers[won]], state["note"])
        self.assertNotIn(self.names[self.managers[1 - won]], state["note"])

        self.mpesa_answers(receipt)
        state = self.payment_state(row_id)
        self.assertEqual((state["reversal"], state["key"]), ("reversed", REVERSAL_HOLD))
        self.assertEqual(state["note"].count("Sent back to the payer"), 1, state["note"])

    def test_a_manager_releases_the_claim_while_the_till_refunds(self):
        """A payment a till claimed for an order on the server that does not carry it yet (no payment line
        linked: the order is not paid): a manager may still release it to another order, so it is not this
        order's to reverse. Here the manager releases it while a cashier asks /mpesa/reverse for that order;
        then another order takes it. Before the fix M-Pesa reversed it and the other order took it too."""
        row_id, _receipt = self.payment(received_minutes_ago=5)
        order_id = self.order()
        [claimed] = self.at_once(row_id, [self.till_claim(self.cashiers[0], row_id, order_id)])
        self.assertTrue(claimed["success"], claimed)
        asked_before = self.reversals_asked()

        def release(env):
            return env["mpesa.callback"].browse(row_id).action_release_claim()

        refund, released = self.at_once(
            row_id,
            [self.till_refund(self.cashiers[0], self.tills[0], order_id), (self.managers[0], release)],
        )
        _logger.info("release against a refund: answers %s, attempts %s", [refund, released], self.attempts)
        self.assertEqual(self.reversals_asked(), asked_before, f"M-Pesa was never asked; the till: {refund}")
        self.assertFalse(self.fetch("SELECT id FROM mpesa_daraja_request WHERE callback_id = %s", row_id))
        self.assertEqual(
            refund,
            {"success": False, "status": "refused", "message": NOT_PAID_WITH_MPESA},
        )
        self.assertIs(released, True, repr(released))
        # still the shop's money: another order takes it, and it was never sent back
        [again] = self.at_once(row_id, [self.till_claim(self.cashiers[1], row_id, self.order())])
        self.assertTrue(again["success"], again)
        self.assertIsNone(self.payment_state(row_id)["reversal"])

    def test_send_back_while_a_till_claims_it(self):
        """Several rounds, a new payment each, so that both sides win sometimes."""
        rounds = []
        for late in (None, None, None, (1, 0.01), (1, 0.03), (1, 0.06)):
            rounds.append((self.send_back_against_claim(late), late, self.attempts))
        _logger.info("send back against a till's claim (winner, the manager late, attempts): %s", rounds)

    def send_back_against_claim(self, late):
        row_id, receipt = self.payment(received_minutes_ago=30)
        order_id = self.order()
        asked_before = self.reversals_asked()
        claimed, sent_back = self.at_once(
            row_id,
            [self.till_claim(self.cashiers[0], row_id, order_id), self.send_back(self.managers[0], row_id)],
            late=late,
        )
        self.assertIsInstance(claimed, dict, repr(claimed))
        won = self.the_one(
            [claimed, sent_back], lambda answer: isinstance(answer, dict) and answer.get("success", True)
        )
        state = self.payment_state(row_id)
        if won == 0:  # the till's: on its order, M-Pesa never asked
            self.assertIsInstance(sent_back, UserError, repr(sent_back))
            self.assertRegex(str(sent_back), r" was taken meanwhile: reload and try again\.$")
            self.assertEqual(
                (state["claimed"], state["order"], state["by"], state["reversal"]),
                (True, order_id, self.cashiers[0], None),
            )
            self.assertEqual(self.reversals_asked(), asked_before, "M-Pesa was never asked")
            self.assertFalse(self.fetch("SELECT id FROM mpesa_daraja_request WHERE callback_id = %s", row_id))
            return "till"
        # the manager's: reversed, and no order carries it
        self.assertEqual(claimed, {"success": False, "message": "This payment is already reconciled"})
        self.assertEqual(sent_back["params"]["type"], "success", sent_back)
        self.assertEqual(
            (state["claimed"], state["key"], state["order"], state["line"]), (True, REVERSAL_HOLD, None, None)
        )
        self.assert_asked_once(asked_before, receipt, [claimed, sent_back])
        self.assertEqual(len(self.live_reversals(row_id)), 1)
        self.mpesa_answers(receipt)
        # the till's order reaching the server with that payment anyway: refused
        with self.assertRaises(ValidationError), mute_logger("odoo.addons.pos_mpesa"), self.db.cursor() as cr:
            self.admin_env(cr)["pos.payment"].create(
                {
                    "pos_order_id": order_id,
                    "amount": AMOUNT,
                    "payment_method_id": self.method_id,
                    "mpesa_callback_id": row_id,
                }
            )
        self.assertFalse(self.fetch("SELECT id FROM pos_payment WHERE mpesa_callback_id = %s", row_id))
        self.assertEqual(self.payment_state(row_id)["reversal"], "reversed")
        return "manager"
