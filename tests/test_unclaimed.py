"""Unclaimed payments: found once the match window is over, settled by a manager (attached to the
order's M-Pesa line validated without a matching payment, exactly once; or settled outside the POS).

TestUnclaimedAttachRace: two managers attaching in two real transactions at the same moment (committed
rows, two cursors, two threads, each request run by Odoo's own retry loop as the server runs it)."""

import threading
import time
import uuid
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.api import Environment
from odoo.exceptions import AccessError, UserError
from odoo.service.model import retrying
from odoo.tests import TransactionCase, new_test_user, tagged
from odoo.tools import mute_logger

from ..models.mpesa_claim import REVERSAL_HOLD, SETTLED_OUTSIDE
from .common import MpesaCase


@tagged("post_install", "-at_install")
class TestUnclaimed(MpesaCase):
    def unclaimed(self):
        return self.Callback.with_user(self.accountant).search([("is_unclaimed", "=", True)])

    def settle(self, row, user=None, **vals):
        wizard = (
            self.env["mpesa.unclaimed.settle"]
            .with_user(user or self.pos_manager)
            .create({"callback_id": row.id, "reason": "customer came back", **vals})
        )
        return wizard.action_settle()

    def test_unclaimed_after_the_match_window(self):
        old = self.make_c2b("RKU0000001", minutes_ago=30)
        self.make_c2b("RKU0000002", minutes_ago=2)  # the tills still offer it
        self.make_c2b("RKU0000003", minutes_ago=30, is_claimed=True)
        self.make_c2b("RKU0000004", minutes_ago=30, status="failed")
        self.assertEqual(self.unclaimed(), old)
        self.assertTrue(old.is_unclaimed)
        self.assertEqual(old.waiting_time, "0 h 30 min")
        self.assertNotIn(old, self.Callback.search([("is_unclaimed", "=", False)]))
        self.mpesa_config.match_window = 60  # the account's own window decides
        self.assertFalse(self.unclaimed())

    def test_attached_to_the_order_validated_without_it_once(self):
        row = self.make_c2b("RKU0000010", amount=100, minutes_ago=30)
        order = self.sync_order(str(uuid.uuid4()), None)
        line = order.payment_ids
        self.assertFalse(line.mpesa_callback_id)
        with self.assertRaises(AccessError):
            self.settle(row, user=self.pos_user, pos_payment_id=line.id)
        self.settle(row, pos_payment_id=line.id)
        row.invalidate_recordset()
        self.assertEqual((row.pos_payment_id, row.pos_order_id, row.is_claimed), (line, order, True))
        self.assertEqual((line.mpesa_receipt_number, line.transaction_id), ("RKU0000010", "RKU0000010"))
        self.assertIn("customer came back", row.note)
        self.assertIn("mpesa_manager", row.note.lower().replace(" ", "_"))
        self.assertFalse(row.is_unclaimed)
        # a second attach of the same payment, to another order's line: refused, nothing moves
        other = self.sync_order(str(uuid.uuid4()), None).payment_ids
        with self.assertRaises(UserError), mute_logger("odoo.addons.pos_mpesa"):
            self.settle(row, pos_payment_id=other.id)
        row.invalidate_recordset()
        self.assertEqual(row.pos_payment_id, line)
        self.assertFalse(other.mpesa_callback_id)

    def test_a_cashier_cannot_settle(self):
        row = self.make_c2b("RKU0000030", amount=100, minutes_ago=30)
        line = self.sync_order(str(uuid.uuid4()), None).payment_ids
        with self.assertRaises(UserError):
            row.with_user(self.pos_user).action_settle_unclaimed()
        # a wizard a manager opened, pressed by a cashier
        wizard = self.env["mpesa.unclaimed.settle"].create(
            {"callback_id": row.id, "reason": "mine now", "pos_payment_id": line.id}
        )
        for mode in ("attach", "outside"):
            wizard.mode = mode
            with self.assertRaises(UserError):
                wizard.with_user(self.pos_user).action_settle()
        row.invalidate_recordset()
        self.assertEqual((row.is_claimed, row.pos_payment_id, row.note), (False, line.browse(), False))
        self.assertFalse(line.mpesa_callback_id)
        self.assertTrue(row.is_unclaimed)

    def test_settled_outside_the_pos(self):
        row = self.make_c2b("RKU0000020", minutes_ago=30)
        self.settle(row, mode="outside", reason="paid invoice INV/2026/0042")
        row.invalidate_recordset()
        self.assertEqual(
            (row.is_claimed, row.claim_order_key, row.claimed_by_id),
            (True, SETTLED_OUTSIDE, self.pos_manager),
        )
        self.assertIn("INV/2026/0042", row.note)
        self.assertFalse(self.unclaimed())
        self.as_cashier()
        found = self.rpc("/mpesa/search_unreconciled_callbacks", {"query": "RKU0000020"})
        self.assertFalse(found.get("callbacks"), "no till can take it")
        with self.assertRaises(UserError):
            self.settle(row, mode="outside")  # already settled
        row.with_user(self.pos_manager).action_release_claim()  # a mistake: undone
        self.assertTrue(row.is_unclaimed)


@tagged("post_install", "-at_install")
class TestUnclaimedAttachRace(TransactionCase):
    """Two POS managers settle at the same moment, each in a real transaction of its own."""

    def setUp(self):
        super().setUp()
        self.db = self.registry._db
        self.tag = uuid.uuid4().hex[:6]
        with self.db.cursor() as cr:
            cr.execute("SELECT id FROM res_users WHERE login = 'admin'")
            env = Environment(cr, cr.fetchone()[0], {})
            company = env.company
            groups = "base.group_user,point_of_sale.group_pos_manager"
            self.managers = [
                new_test_user(
                    env, login=f"race_{self.tag}_{n}", name=f"Manager {n} {self.tag}", groups=groups
                )
                for n in ("Amina", "Baraka")
            ]
            self.journal = env["account.journal"].create(
                {"name": f"M-Pesa race {self.tag}", "type": "bank", "code": "MPRC", "company_id": company.id}
            )
            self.account = env["mpesa.config"].create(
                {"name": f"Attach race {self.tag}", "environment": "sandbox", "business_shortcode": "600993"}
            )
            method = env["pos.payment.method"].create(
                {
                    "name": "M-Pesa race",
                    "journal_id": self.journal.id,
                    "company_id": company.id,
                    "use_payment_terminal": "mpesa",
                    "mpesa_config_id": self.account.id,
                }
            )
            self.method = method
            self.pos_config = env["pos.config"].create(
                {"name": f"Race {self.tag}", "payment_method_ids": [(4, method.id)]}
            )
            session = env["pos.session"].create({"config_id": self.pos_config.id, "user_id": env.uid})
            # three orders validated without a matching payment: an M-Pesa line each, no payment linked
            orders = env["pos.order"].create(
                [
                    {
                        "session_id": session.id,
                        "company_id": company.id,
                        "amount_total": 100,
                        "amount_paid": 100,
                        "amount_tax": 0,
                        "amount_return": 0,
                    }
                    for _n in range(3)
                ]
            )
            self.lines = env["pos.payment"].create(
                [{"pos_order_id": o.id, "amount": 100, "payment_method_id": method.id} for o in orders]
            )
            self.rows = (
                env["mpesa.callback"]
                .sudo()
                .create(
                    [
                        {
                            "callback_type": "c2b",
                            "status": "success",
                            "mpesa_receipt_number": f"RACE{self.tag.upper()}{n}",
                            "amount": 100,
                            "config_id": self.account.id,
                            "company_id": company.id,
                            "received_date": fields.Datetime.now() - timedelta(minutes=30),
                        }
                        for n in range(3)
                    ]
                )
            )
            self.session = session
            self.orders = orders
            # plain values: these records' cursor is closed once the setup commits
            self.manager_names = {manager.id: manager.name for manager in self.managers}
            self.order_of = {line.id: line.pos_order_id.id for line in self.lines}
        self.addCleanup(self.remove_committed)

    def remove_committed(self):
        """Test-only cleanup of the committed rows (the ORM forbids deleting the payment log)."""
        with self.db.cursor() as cr:
            for sql, ids in (
                ("DELETE FROM mpesa_unclaimed_settle WHERE callback_id = ANY(%s)", self.rows.ids),
                ("DELETE FROM mpesa_callback WHERE id = ANY(%s)", self.rows.ids),
                ("DELETE FROM pos_payment WHERE id = ANY(%s)", self.lines.ids),
                ("DELETE FROM pos_order WHERE id = ANY(%s)", self.orders.ids),
                ("DELETE FROM pos_session WHERE id = ANY(%s)", self.session.ids),
                ("DELETE FROM pos_config WHERE id = ANY(%s)", self.pos_config.ids),
                ("DELETE FROM pos_payment_method WHERE id = ANY(%s)", self.method.ids),
                ("DELETE FROM mpesa_config WHERE id = ANY(%s)", self.account.ids),
            ):
                cr.execute(sql, (ids,))
            cr.execute("SELECT default_account_id FROM account_journal WHERE id = %s", (self.journal.id,))
            account_ids = [account_id for (account_id,) in cr.fetchall() if account_id]
            cr.execute("DELETE FROM account_journal WHERE id = %s", (self.journal.id,))
            cr.execute("DELETE FROM account_account WHERE id = ANY(%s)", (account_ids,))
            cr.execute("SELECT id FROM res_users WHERE login = 'admin'")
            env = Environment(cr, cr.fetchone()[0], {})
            users = env["res.users"].browse(list(self.manager_names))
            partners = users.partner_id
            users.unlink()
            partners.unlink()
        self.registry.clear_cache("default")  # the C2B sibling accounts of the deleted account

    def race(self, attempts):
        """Each (manager, row, line) attaches at the same moment, in its own transaction and thread;
        returns each one's outcome: True, or the exception its request ended with."""
        outcomes = [None] * len(attempts)
        ready = threading.Barrier(len(attempts), timeout=30)

        def settle(n, manager, row, line):
            try:
                with self.db.cursor() as cr:
                    env = Environment(cr, manager.id, {})
                    wizard_model = env["mpesa.unclaimed.settle"]
                    # both read the payment (their snapshot) before either writes
                    self.assertTrue(env["mpesa.callback"].browse(row.id).is_unclaimed)
                    ready.wait()

                    def request():
                        wizard = wizard_model.create(
                            {"callback_id": row.id, "pos_payment_id": line.id, "reason": f"race {n}"}
                        )
                        return wizard.action_settle()

                    outcomes[n] = retrying(request, env)
            except Exception as error:  # the outcome under test
                outcomes[n] = error

        threads = [
            threading.Thread(target=settle, args=(n, *attempt), name=f"race-{n}")
            for n, attempt in enumerate(attempts)
        ]
        # the ORM looks the registry up by name in a new transaction, under a lock the test runner's
        # thread holds: these threads get this registry directly
        registry = patch("odoo.orm.environments.Registry", lambda _db_name: self.registry)
        with (
            registry,
            mute_logger("odoo.sql_db", "odoo.service.model", "odoo.addons.pos_mpesa.models.mpesa_claim"),
        ):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        self.assertFalse(any(thread.is_alive() for thread in threads))
        return outcomes

    def assert_one_won(self, outcomes):
        won = [n for n, outcome in enumerate(outcomes) if outcome is True]
        self.assertEqual(len(won), 1, outcomes)
        (lost,) = [outcome for outcome in outcomes if outcome is not True]
        self.assertIsInstance(lost, UserError, repr(lost))
        return won[0], str(lost)

    def fetch(self, sql, *params):
        with self.db.cursor() as cr:
            cr.execute(sql, params)
            return cr.fetchall()

    def test_one_payment_to_two_lines_at_once(self):
        row = self.rows[0]
        lines = self.lines[:2]
        winner, message = self.assert_one_won(
            self.race([(manager, row, line) for manager, line in zip(self.managers, lines, strict=True)])
        )
        self.assertRegex(
            message, r"^RACE\w+ was settled meanwhile by Manager \w+ \w+: reload and try again\.$"
        )
        won_line = lines[winner]
        [(payment_id, order_id, claimed, note)] = self.fetch(
            "SELECT pos_payment_id, pos_order_id, is_claimed, note FROM mpesa_callback WHERE id = %s", row.id
        )
        self.assertEqual((payment_id, order_id, claimed), (won_line.id, self.order_of[won_line.id], True))
        # one pos.payment carries it
        self.assertEqual(
            self.fetch("SELECT id FROM pos_payment WHERE mpesa_callback_id = %s", row.id), [(won_line.id,)]
        )
        names = list(self.manager_names.values())
        self.assertIn(names[winner], note)
        self.assertNotIn(names[1 - winner], note)
        self.assertEqual(note.count("Attached to"), 1, note)

    def test_two_payments_to_one_line_at_once(self):
        line = self.lines[2]
        rows = self.rows[1:]
        winner, message = self.assert_one_won(
            self.race([(manager, row, line) for manager, row in zip(self.managers, rows, strict=True)])
        )
        self.assertRegex(message, r"^The M-Pesa line of .+ is already paid by M-Pesa payment RACE\w+: choose")
        self.assertEqual(
            self.fetch("SELECT mpesa_callback_id FROM pos_payment WHERE id = %s", line.id),
            [(rows[winner].id,)],
        )
        state = dict(
            (row_id, (payment_id, bool(claimed), note))
            for row_id, payment_id, claimed, note in self.fetch(
                "SELECT id, pos_payment_id, is_claimed, note FROM mpesa_callback WHERE id = ANY(%s)", rows.ids
            )
        )
        self.assertEqual(state[rows[winner].id][:2], (line.id, True))
        self.assertIn(list(self.manager_names.values())[winner], state[rows[winner].id][2])
        # the other payment moved nowhere: still unclaimed, nothing written on it
        self.assertEqual(state[rows[1 - winner].id], (None, False, None))


@tagged("post_install", "-at_install")
class TestUnclaimedReversal(MpesaCase):
    """An unclaimed payment sent back to the payer by an M-Pesa Reversal, on the simulator: the send path
    of a POS refund (mpesa_reversal.py), with the payment held by the claim module meanwhile."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        refund = "pos_mpesa.group_mpesa_refund"
        cls.refunder = new_test_user(
            cls.env,
            login="mpesa_refund_manager",
            name="Refund Manager",
            groups=f"base.group_user,point_of_sale.group_pos_manager,{refund}",
        )
        cls.refunding_cashier = new_test_user(
            cls.env,
            login="mpesa_refund_cashier",
            groups=f"base.group_user,point_of_sale.group_pos_user,{refund}",
        )

    def setUp(self):
        super().setUp()
        self.with_initiator()
        self.Requests = self.env["mpesa.daraja.request"].sudo()

    def unclaimed_payment(self, amount):
        """A customer paid the shortcode on the simulator half an hour ago; no till took it."""
        receipt = self.sim_control("POST", "c2b/pay", {"shortcode": "600984", "amount": amount})["trans_id"]
        deadline = time.monotonic() + 15
        row = self.Callback.sudo()
        while not row and time.monotonic() < deadline:
            self.let_callbacks_in(0.2)
            row = self.Callback.sudo().search([("mpesa_receipt_number", "=", receipt)])
        self.assertEqual(row.status, "success")
        self.env.cr.execute(
            "UPDATE mpesa_callback SET received_date = received_date - interval '30 minutes' WHERE id = %s",
            (row.id,),
        )
        row.invalidate_recordset()
        self.assertTrue(row.is_unclaimed)
        return row

    def send_back(self, row, user=None):
        wizard = (
            self.env["mpesa.unclaimed.settle"]
            .with_user(user or self.refunder)
            .create({"callback_id": row.id, "mode": "reverse", "reason": "paid the wrong till"})
        )
        return wizard.action_settle()

    def wait_answer(self, request, seconds=15):
        deadline = time.monotonic() + seconds
        while request.state in ("sending", "sent") and time.monotonic() < deadline:
            self.let_callbacks_in(0.3)
            request.invalidate_recordset()
        return request

    def assert_held(self, row):
        row.invalidate_recordset()
        self.assertEqual(
            (row.is_claimed, row.claim_order_key, row.claimed_by_id, row.pos_order_id),
            (True, REVERSAL_HOLD, self.refunder, self.env["pos.order"]),
        )
        self.assertFalse(row.is_unclaimed)

    def till_claim(self, row):
        self.as_cashier()
        return self.rpc(
            "/mpesa/reconcile_callback",
            {
                "callback_id": row.id,
                "order_id": str(uuid.uuid4()),
                "payment_method_id": self.mpesa_method.id,
                "pos_config_id": self.pos_config.id,
            },
        )

    def assert_no_till_takes(self, row):
        """Neither the till's search nor its claim, nor a manager's other settlements."""
        self.as_cashier()
        found = self.rpc("/mpesa/search_unreconciled_callbacks", {"query": row.mpesa_receipt_number})
        self.assertFalse(found.get("callbacks"), found)
        self.assertFalse(self.till_claim(row)["success"])
        line = self.sync_order(str(uuid.uuid4()), None, amount=row.amount).payment_ids
        for vals in ({"mode": "attach", "pos_payment_id": line.id}, {"mode": "outside"}):
            with self.assertRaises(UserError), mute_logger("odoo.addons.pos_mpesa"):
                self.env["mpesa.unclaimed.settle"].with_user(self.pos_manager).create(
                    {"callback_id": row.id, "reason": "no", **vals}
                ).action_settle()
        with self.assertRaises(UserError):
            row.with_user(self.pos_manager).action_release_claim()
        self.assert_held(row)

    def test_sent_back_and_reversed_once(self):
        row = self.unclaimed_payment(150)
        action = self.send_back(row)
        self.assertEqual(action["params"]["type"], "success", action)
        self.assert_held(row)
        request = row.reversal_request_ids
        self.assertEqual(
            (len(request), request.state, request.callback_id, request.pos_order_id, request.user_id),
            (1, request.state, row, self.env["pos.order"], self.refunder),
        )
        self.assertIn(request.state, ("sent", "done"))
        # a second press sends nothing
        with self.assertRaises(UserError) as second:
            self.send_back(row)
        self.assertIn("already being sent back", str(second.exception))
        self.assertEqual(self.Requests.search_count([("kind", "=", "reversal")]), 1)

        self.wait_answer(request)
        self.assertEqual((request.state, request.outcome), ("done", "reversed"))
        row.invalidate_recordset()
        self.assertEqual((row.reversal_state, row.reversal_receipt), ("reversed", request.result_receipt))
        self.assertEqual(len(self.sim.state.reversals), 1)
        self.assert_no_till_takes(row)  # reversed: held for good
        self.assertIn("Refund Manager", row.note)
        self.assertIn("paid the wrong till", row.note)
        self.assertIn(request.result_receipt, row.note)

    def test_refused_by_mpesa_is_unclaimed_again(self):
        row = self.unclaimed_payment(160)
        # a receipt M-Pesa cannot reverse (R000002)
        self.env.cr.execute(
            "UPDATE mpesa_callback SET mpesa_receipt_number = 'ZZZ0000002' WHERE id = %s", (row.id,)
        )
        row.invalidate_recordset()
        self.send_back(row)
        self.assert_held(row)
        request = self.wait_answer(row.reversal_request_ids)
        self.assertEqual(request.outcome, "invalid_original")
        row.invalidate_recordset()
        self.assertEqual((row.is_claimed, row.claim_order_key, row.reversal_state), (False, False, False))
        self.assertTrue(row.is_unclaimed)
        self.assertIn("not made", row.note)
        self.assertIn("Refund Manager", row.note)
        # claimable again: a till takes it
        claimed = self.till_claim(row)
        self.assertTrue(claimed["success"], claimed)

    def test_refused_at_once_or_dropped_from_the_queue(self):
        row = self.unclaimed_payment(170)
        self.sim_control("POST", "options", {"fault": "spike_arrest", "fault_apis": "reversal"})
        try:
            action = self.send_back(row)
        finally:
            self.sim_control("POST", "options", {"fault": "none"})
        self.assertEqual(action["params"]["type"], "danger", action)
        row.invalidate_recordset()
        self.assertTrue(row.is_unclaimed)
        self.assertEqual(row.reversal_request_ids.state, "not_sent")
        # M-Pesa takes the next one, then drops it from its queue: unclaimed again
        self.sim_control("POST", "options", {"async_outcome": "timeout"})
        self.send_back(row)
        self.assert_held(row)
        request = self.wait_answer(row.reversal_request_ids.filtered(lambda r: r.state != "not_sent"))
        self.assertEqual(request.state, "timeout")
        row.invalidate_recordset()
        self.assertTrue(row.is_unclaimed)
        self.assertEqual(row.note.count("not made"), 2, row.note)

    def test_no_till_takes_it_while_mpesa_works(self):
        row = self.unclaimed_payment(180)
        self.sim_control("POST", "options", {"callback_delay": 30.0})  # the Result comes late
        self.send_back(row)
        request = row.reversal_request_ids
        self.assertEqual(request.state, "sent")
        self.assert_no_till_takes(row)
        # M-Pesa never answers: a manager who checked the M-PESA portal closes the request
        with self.assertRaises(UserError):
            request.with_user(self.pos_user).action_close()
        self.assert_held(row)
        request.with_user(self.pos_manager).action_close()
        row.invalidate_recordset()
        self.assertTrue(row.is_unclaimed)
        self.assertIn("mpesa_manager", row.note.lower().replace(" ", "_"))

    def test_only_managers_of_the_refund_group(self):
        row = self.unclaimed_payment(190)
        with self.assertRaises(UserError):
            self.send_back(row, user=self.pos_manager)  # a POS manager without the refund group
        with self.assertRaises(UserError):
            row.with_user(self.pos_manager).action_refund_unclaimed()
        with self.assertRaises(UserError):  # a cashier of the refund group
            row.with_user(self.refunding_cashier).action_refund_unclaimed()
        with self.assertRaises(UserError):
            row.with_user(self.refunding_cashier)._unclaimed_send_back("mine")
        self.assertFalse(self.Requests.search([("kind", "=", "reversal")]), "nothing was sent to M-Pesa")
        row.invalidate_recordset()
        self.assertTrue(row.is_unclaimed)
        self.assertFalse(row.note)
        action = row.with_user(self.refunder).action_refund_unclaimed()
        self.assertEqual(action["context"]["default_mode"], "reverse")
