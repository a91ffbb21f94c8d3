"""Daraja's asynchronous requests on real Odoo, against the simulator: refunds by Reversal, receipt
lookup by Transaction Status, and their result and queue-timeout URLs (stored before they are
acknowledged, a second result never applied twice, a result nobody asked for kept)."""

import json
import time
import uuid

from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged

from ..daraja.api_types import AsyncAck
from .common import MpesaCase

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


@tagged("post_install", "-at_install")
class TestDarajaRequests(MpesaCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.refunder = new_test_user(
            cls.env,
            login="mpesa_refunder",
            groups="base.group_user,point_of_sale.group_pos_user,pos_mpesa.group_mpesa_refund",
            password="mpesa_refunder",
        )

    def setUp(self):
        super().setUp()
        self.with_initiator()
        self.Requests = self.env["mpesa.daraja.request"].sudo()

    # ------------------------------------------------------------------ helpers

    def paid_order(self, amount=100):
        """An order paid at the till with a C2B payment the simulator knows; (order, its row)."""
        receipt = self.sim_pay(amount)
        row = self.Callback.sudo().search([("mpesa_receipt_number", "=", receipt)])
        self.assertEqual(row.status, "success")
        order_uuid = str(uuid.uuid4())
        self.assertTrue(row._claim(order_uuid, pos_config=self.pos_config, payment_method=self.mpesa_method))
        order = self.sync_order(order_uuid, row, amount=amount)
        row.invalidate_recordset()
        self.assertEqual(row.pos_order_id, order)
        return order, row

    def wait_answer(self, route, params, until=("pending",), seconds=15):
        deadline = time.monotonic() + seconds
        answer = self.rpc(route, params)
        while answer.get("status") in until and time.monotonic() < deadline:
            self.let_callbacks_in(0.3)
            answer = self.rpc(route, params)
        return answer

    def reverse(self, order, amount, refund_order_uuid=None):
        return self.make_jsonrpc_request(
            "/mpesa/reverse",
            {
                "order_id": order.id,
                "amount": amount,
                "pos_config_id": self.pos_config.id,
                "refund_order_uuid": refund_order_uuid or str(uuid.uuid4()),
            },
            timeout=60,  # the Daraja client's own timeout is 30 s
        )

    def reversal_result(self, started):
        return self.wait_answer(
            "/mpesa/reversal_status",
            {"reversal_id": started["reversal_id"], "pos_config_id": self.pos_config.id},
        )

    def result_url(self, kind="result"):
        return f"/pos_lipa/cb/{self.mpesa_config.callback_token}/{kind}"

    # ------------------------------------------------------------------ refunds by Reversal

    def test_reversal_sends_the_money_back_once(self):
        order, row = self.paid_order(150)
        self.authenticate("mpesa_refunder", "mpesa_refunder")
        refund = str(uuid.uuid4())
        started = self.reverse(order, 150, refund)
        self.assertEqual((started["success"], started["status"]), (True, "pending"), started)
        self.assertEqual(self.reverse(order, 150, refund)["reversal_id"], started["reversal_id"])

        done = self.reversal_result(started)
        self.assertEqual(done["status"], "reversed", done)
        self.assertTrue(done["reversal_receipt"])
        self.assertIn(done["reversal_receipt"], done["message"])
        row.invalidate_recordset()
        self.assertEqual((row.reversal_state, row.reversal_receipt), ("reversed", done["reversal_receipt"]))
        request = self.Requests.browse(started["reversal_id"])
        self.assertEqual((request.state, request.outcome, request.callback_id), ("done", "reversed", row))
        self.assertIn('"Result"', request.result_payload)  # stored as M-Pesa posted it
        # the till was told on the bus
        messages = self.env["bus.bus"].sudo().search([("message", "like", "MPESA_REVERSAL_RESULT")])
        self.assertTrue(any(str(started["reversal_id"]) in m.message for m in messages))
        # the simulator's phone page lists it
        self.assertTrue(self.sim.state.reversals.get(row.mpesa_receipt_number))

        # the same refund asking again (its till reloaded): where its reversal stands, nothing sent
        self.assertEqual(self.reverse(order, 150, refund)["status"], "reversed")
        # a second refund of the same payment is refused before anything is sent
        again = self.reverse(order, 150)
        self.assertFalse(again["success"])
        self.assertIn("already reversed", again["message"])
        self.assertEqual(self.Requests.search_count([("kind", "=", "reversal")]), 1)

    def test_reversal_refused_for_a_cashier_and_for_part_of_a_payment(self):
        order, row = self.paid_order(200)
        self.as_cashier()
        refused = self.reverse(order, 200)
        self.assertFalse(refused["success"])
        self.assertIn("M-Pesa Refunds", refused["message"])
        self.authenticate("mpesa_refunder", "mpesa_refunder")
        partial = self.reverse(order, 120)
        self.assertFalse(partial["success"])
        self.assertIn("whole payments only", partial["message"])
        cents = self.reverse(order, 199.5)
        self.assertFalse(cents["success"])
        self.assertFalse(
            self.Requests.search([("pos_order_id", "=", order.id)]), "nothing was sent to M-Pesa"
        )
        row.invalidate_recordset()
        self.assertFalse(row.reversal_state)

    def test_reversal_already_reversed_outside_odoo(self):
        order, row = self.paid_order(170)
        # reversed on M-Pesa's portal meanwhile: the simulator remembers it
        self.sim.state.reversals[row.mpesa_receipt_number] = {"kind": "reversal", "status": "reversed"}
        self.authenticate("mpesa_refunder", "mpesa_refunder")
        done = self.reversal_result(self.reverse(order, 170))
        self.assertEqual(done["status"], "already_reversed", done)
        row.invalidate_recordset()
        self.assertEqual(row.reversal_state, "reversed_elsewhere")

    def test_reversal_of_a_receipt_mpesa_does_not_know(self):
        order, row = self.paid_order(180)
        # the row's receipt is not one M-Pesa can reverse (R000002)
        self.env.cr.execute(
            "UPDATE mpesa_callback SET mpesa_receipt_number = 'ZZZ0000001' WHERE id = %s", (row.id,)
        )
        self.authenticate("mpesa_refunder", "mpesa_refunder")
        started = self.reverse(order, 180)
        done = self.reversal_result(started)
        self.assertEqual(done["status"], "refused", done)
        self.assertIn("OriginalTransactionID is invalid", done["message"])
        request = self.Requests.browse(started["reversal_id"])
        self.assertEqual((request.outcome, request.result_code), ("invalid_original", "R000002"))
        row.invalidate_recordset()
        self.assertFalse(row.reversal_state)
        # a refused reversal does not block another try
        self.assertEqual(self.reverse(order, 180)["status"], "pending")

    def test_reversal_timed_out_in_the_queue_can_be_tried_again(self):
        order, _row = self.paid_order(190)
        self.sim_control("POST", "options", {"callback_delay": 30.0})  # the Result would come late
        self.authenticate("mpesa_refunder", "mpesa_refunder")
        started = self.reverse(order, 190)
        request = self.Requests.browse(started["reversal_id"])
        notice = {
            "Result": {
                "ResultType": 1,
                "ResultCode": 1,
                "ResultDesc": "The service request has timed out.",
                "OriginatorConversationID": request.originator_conversation_id,
                "ConversationID": request.conversation_id,
            }
        }
        response = self.post_json(self.result_url("timeout"), notice)
        self.assertEqual(response.json(), ACCEPTED)
        answer = self.rpc(
            "/mpesa/reversal_status", {"reversal_id": request.id, "pos_config_id": self.pos_config.id}
        )
        self.assertEqual(answer["status"], "timeout")
        self.assertIn("nothing was sent back", answer["message"])
        self.post_json(self.result_url("timeout"), notice)  # delivered twice: counted, not applied
        request.invalidate_recordset()
        self.assertEqual((request.state, request.duplicate_count), ("timeout", 1))
        self.assertEqual(self.reverse(order, 190)["status"], "pending")  # free to try again

    def test_reversal_status_is_for_the_asker(self):
        order, _row = self.paid_order(160)
        self.authenticate("mpesa_refunder", "mpesa_refunder")
        started = self.reverse(order, 160)
        self.as_cashier()
        other = self.rpc("/mpesa/reversal_status", {"reversal_id": started["reversal_id"]})
        self.assertFalse(other["success"])
        self.assertEqual(other["message"], "Unknown reversal")
        self.assertFalse(self.rpc("/mpesa/reversal_status", {"reversal_id": "1"})["success"])

    # ------------------------------------------------------------------ the result URLs

    def test_results_stored_once_and_unknown_ones_kept(self):
        request = self.Requests.create(
            {
                "kind": "status",
                "state": "sent",
                "receipt": "SGR7ABC123",
                "config_id": self.mpesa_config.id,
                "originator_conversation_id": "AG_20260101_0001",
                "conversation_id": "AG_CONV_0001",
            }
        )
        result = {
            "Result": {
                "ResultType": 0,
                "ResultCode": 2032,
                "ResultDesc": "The transaction receipt number does not exist.",
                "OriginatorConversationID": "AG_20260101_0001",
                "ConversationID": "AG_CONV_0001",
                "TransactionID": "SGR0000000",
            }
        }
        for _attempt in range(2):
            self.assertEqual(self.post_json(self.result_url(), result).json(), ACCEPTED)
        request.invalidate_recordset()
        self.assertEqual(
            (request.state, request.outcome, request.result_code, request.duplicate_count),
            ("done", "not_found", "2032", 1),
        )
        # a result nobody asked for is kept, acknowledged
        stranger = {"Result": {**result["Result"], "OriginatorConversationID": "AG_UNKNOWN"}}
        self.assertEqual(self.post_json(self.result_url(), stranger).json(), ACCEPTED)
        kept = self.Requests.search([("originator_conversation_id", "=", "AG_UNKNOWN")])
        self.assertEqual((len(kept), kept.state), (1, "unmatched"))
        # unreadable, but authenticated: kept too; an unknown token: refused, nothing kept
        self.assertEqual(self.post_json(self.result_url(), None, raw="{not json").json(), ACCEPTED)
        self.assertEqual(self.Requests.search_count([("result_payload", "=", "{not json")]), 1)
        forged = {"Result": {**result["Result"], "OriginatorConversationID": "AG_FORGED"}}
        refused = self.post_json("/pos_lipa/cb/%s/result" % ("0" * 48), forged)
        self.assertEqual(refused.status_code, 403)
        self.assertFalse(self.Requests.search([("result_payload", "like", "AG_FORGED")]))

    def test_a_result_faster_than_our_commit_is_adopted(self):
        early = {
            "Result": {
                "ResultType": 0,
                "ResultCode": 2032,
                "ResultDesc": "The transaction receipt number does not exist.",
                "OriginatorConversationID": "AG_EARLY_1",
                "ConversationID": "AG_EARLY_C",
            }
        }
        self.post_json(self.result_url(), early)
        request = self.Requests.create(
            {"kind": "status", "receipt": "SGR7ABC124", "config_id": self.mpesa_config.id}
        )
        request._acknowledged(AsyncAck("AG_EARLY_C", "AG_EARLY_1", "Accept the service request."))
        self.assertEqual((request.state, request.outcome), ("done", "not_found"))
        self.assertFalse(
            self.Requests.search(
                [("originator_conversation_id", "=", "AG_EARLY_1"), ("id", "!=", request.id)]
            )
        )
        self.assertEqual(json.loads(request.result_payload), early)

    # ------------------------------------------------------------------ receipt lookup

    def look_up(self, receipt):
        wizard = (
            self.env["mpesa.receipt.lookup"]
            .with_user(self.pos_manager)
            .create({"receipt": receipt, "config_id": self.mpesa_config.id})
        )
        return wizard.action_look_up()

    def test_lookup_finds_a_payment_we_never_heard_of(self):
        lost = self.sim_pay(230, delivery="lost")
        self.assertFalse(self.Callback.sudo().search([("mpesa_receipt_number", "=", lost)]))
        action = self.look_up(lost.lower())
        self.assertEqual(action["res_model"], "mpesa.daraja.request")
        request = self.Requests.browse(action["res_id"])
        deadline = time.monotonic() + 15
        while request.state == "sent" and time.monotonic() < deadline:
            self.let_callbacks_in(0.3)
        self.assertEqual((request.state, request.outcome), ("done", "found"))
        row = request.callback_id
        self.assertEqual(
            (row.mpesa_receipt_number, row.amount, row.source, row.status, row.callback_type),
            (lost, 230, "status", "success", "c2b"),
        )
        # the till can now find it with the C2B search
        self.as_cashier()
        found = self.rpc("/mpesa/search_unreconciled_callbacks", {"amount": 230})
        self.assertEqual([cb["mpesa_receipt_number"] for cb in found["callbacks"]], [lost])
        # asked again: our own row, no second request
        again = self.look_up(lost)
        self.assertEqual((again["res_model"], again["res_id"]), ("mpesa.callback", row.id))
        self.assertEqual(self.Requests.search_count([("kind", "=", "status")]), 1)

    def test_lookup_of_an_unknown_receipt(self):
        request = self.Requests.browse(self.look_up("SGR7ZZZ999")["res_id"])
        deadline = time.monotonic() + 15
        while request.state == "sent" and time.monotonic() < deadline:
            self.let_callbacks_in(0.3)
        self.assertEqual((request.state, request.outcome, request.result_code), ("done", "not_found", "2032"))
        self.assertFalse(self.Callback.sudo().search([("mpesa_receipt_number", "=", "SGR7ZZZ999")]))

    def test_lookup_is_for_managers_and_needs_an_initiator(self):
        wizard = self.env["mpesa.receipt.lookup"].create({"receipt": "SGR7ABC123"})
        with self.assertRaises(UserError):
            wizard.with_user(self.pos_user).action_look_up()
        self.mpesa_config.write({"initiator_name": False})
        with self.assertRaises(UserError):
            self.look_up("SGR7ABC125")

    def test_a_reversal_without_acknowledgement_waits_for_a_manager(self):
        order, _row = self.paid_order(210)
        # Daraja reverses, but its answer comes after the client's 30 s (and the Result much later)
        self.sim_control(
            "POST",
            "options",
            {"fault": "hang", "fault_apis": "reversal", "fault_hang_seconds": 31, "callback_delay": 300},
        )
        self.authenticate("mpesa_refunder", "mpesa_refunder")
        try:
            lost = self.reverse(order, 210)
        finally:
            self.sim_control("POST", "options", {"fault": "none"})
        self.assertFalse(lost["success"])
        self.assertIn("may have been received", lost["message"])
        request = self.Requests.search([("pos_order_id", "=", order.id)])
        self.assertEqual((request.state, request.originator_conversation_id), ("sent", False))
        # the payment cannot be reversed a second time meanwhile
        self.assertIn("already being reversed", self.reverse(order, 210)["message"])
        with self.assertRaises(UserError):
            request.with_user(self.pos_user).action_close()
        request.with_user(self.pos_manager).action_close()
        self.assertEqual(request.state, "closed")
        self.assertEqual(self.reverse(order, 210)["status"], "pending")
