"""Safaricom-facing routes: storage before acknowledgement, idempotency, forged requests."""

import json
import threading
from unittest.mock import patch

import requests
from odoo.addons.pos_mpesa.controllers.callback import MpesaCallbackController
from odoo.addons.pos_mpesa.models.mpesa_callback import BUS_AFTER_ANSWER
from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import (
    EXAMPLE_C2B_CALLBACK,
    EXAMPLE_STK_CALLBACK,
    POSTMAN_C2B,
    MpesaCase,
    c2b_confirmation,
    stk_callback,
)

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


@tagged("post_install", "-at_install")
class TestCallbackRoutes(MpesaCase):
    def _notify_calls(self):
        calls = []

        def fake_notify(config, *notifications, private=True):
            calls.append((config.id, notifications))

        return calls, patch.object(type(self.env["pos.config"]), "_notify", fake_notify)

    # ------------------------------------------------------------------ example payloads

    def test_example_stk_callback_unknown_request_goes_to_review(self):
        response = self.post_json("/mpesa/callback", EXAMPLE_STK_CALLBACK)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), ACCEPTED)
        row = self.Callback.sudo().search([("checkout_request_id", "=", "ws_CO_xxx")])
        self.assertEqual(len(row), 1)
        self.assertEqual(row.status, "needs_review")
        self.assertEqual(row.review_reason, "Unknown CheckoutRequestID")
        self.assertEqual(json.loads(row.raw_payload), EXAMPLE_STK_CALLBACK)
        self.assertFalse(row.is_claimed)

    def test_example_c2b_payloads_on_public_route(self):
        for payload in (EXAMPLE_C2B_CALLBACK, POSTMAN_C2B):
            response = self.post_json("/mpesa/callback", payload)
            self.assertEqual(response.json(), ACCEPTED)
            row = self.Callback.sudo().search([("mpesa_receipt_number", "=", payload["TransID"])])
            self.assertEqual(len(row), 1)
            self.assertEqual(row.callback_type, "c2b")
            self.assertEqual(row.status, "success")
            self.assertFalse(row.is_claimed)
            self.assertEqual(row.amount, 100.0)
            self.assertEqual(row.customer_name, "John Doe")
            self.assertEqual(row.config_id, self.mpesa_config)  # sandbox/simulator fallback
            self.assertEqual(row.source, "public_url")

    # ------------------------------------------------------------------ the tills, after the answer

    def _bus_rows(self, text):
        return self.env["bus.bus"].sudo().search([("message", "like", text)])

    def test_tills_told_after_the_answer(self):
        """A real server (not a test: it shares the test's cursor) answers Safaricom, then tells the
        till: the message waits for the answer, and it still comes."""
        self.make_pending("ws_CO_AFTER01", "m-after")
        answered, sent = threading.Event(), threading.Event()
        waited = []
        Callback = type(self.env["mpesa.callback"])
        original = Callback._bus_send_queued

        def send_after_answer(model, queued):
            waited.append(answered.wait(10))  # never set while the answer is held back
            try:
                return original(model, queued)
            finally:
                sent.set()

        deferred = staticmethod(lambda: {BUS_AFTER_ANSWER: True})
        self.env.flush_all()
        with (
            patch.object(MpesaCallbackController, "_bus_context", deferred),
            patch.object(Callback, "_bus_send_queued", send_after_answer),
            self.allow_requests(all_requests=True),
        ):
            body = json.dumps(stk_callback("ws_CO_AFTER01", "m-after"))
            response = requests.post(
                self.base_url() + self.token_url("stk"),
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            answered.set()
            self.assertTrue(sent.wait(20), "the tills were told")
        self.assertEqual(response.json(), ACCEPTED)
        self.assertEqual(waited, [True], "the answer did not wait for the tills")
        self.env.invalidate_all()
        row = self.Callback.sudo().search([("checkout_request_id", "=", "ws_CO_AFTER01")])
        self.assertEqual(row.status, "success")
        messages = self._bus_rows("ws_CO_AFTER01")
        self.assertEqual(len(messages), 1)
        self.assertIn("MPESA_PAYMENT_STATUS", messages.message)
        self.assertIn(self.pos_config.access_token, messages.channel)

    def test_refused_or_failed_callback_tells_no_till(self):
        """A callback that is refused, or whose processing failed (rolled back to its savepoint),
        queues no message for after the answer."""
        self.make_pending("ws_CO_BROKEN1", "m-broken")
        queued = []
        Callback = type(self.env["mpesa.callback"])
        deferred = staticmethod(lambda: {BUS_AFTER_ANSWER: True})

        def broken(model, *args, **kwargs):
            model.search([("checkout_request_id", "=", "ws_CO_BROKEN1")])._notify_till()
            raise RuntimeError("a bug after the till message was queued")

        with (
            patch.object(MpesaCallbackController, "_bus_context", deferred),
            patch.object(Callback, "_bus_send_queued", lambda model, q: queued.append(q)),
            patch.object(Callback, "_stk_process_callback", broken),
            mute_logger("odoo.addons.pos_mpesa.controllers.callback"),
        ):
            response = self.post_json(self.token_url("stk"), stk_callback("ws_CO_BROKEN1", "m-broken"))
            self.assertEqual(response.json(), ACCEPTED)  # kept for review, acknowledged
            refused = self.post_json("/pos_lipa/cb/%s/stk" % ("0" * 48), stk_callback("ws_CO_BROKEN1", "m"))
            self.assertEqual(refused.status_code, 403)
            with self.allow_requests(all_requests=True):
                pass
        self.assertEqual(queued, [])
        kept = self.Callback.sudo().search([("raw_payload", "like", "ws_CO_BROKEN1")])
        self.assertEqual(kept.mapped("status"), ["needs_review"])

    # ------------------------------------------------------------------ STK on the token URL

    def test_stk_success_completes_pending_row_and_notifies_till(self):
        row = self.make_pending("ws_CO_OK1", "m-1", requested=100)
        calls, patcher = self._notify_calls()
        with patcher:
            response = self.post_json(
                self.token_url(), stk_callback("ws_CO_OK1", "m-1", amount=100.00, receipt="QKX1OK0001")
            )
        self.assertEqual(response.json(), ACCEPTED)
        row.invalidate_recordset()
        self.assertEqual(row.status, "success")
        self.assertEqual(row.mpesa_receipt_number, "QKX1OK0001")
        self.assertEqual(row.amount, 100)
        self.assertEqual(row.phone_number, "254708374100")
        self.assertTrue(row.transaction_date)
        self.assertEqual(len(calls), 1)
        config_id, notifications = calls[0]
        self.assertEqual(config_id, self.pos_config.id)
        name, payload = notifications
        self.assertEqual(name, "MPESA_PAYMENT_STATUS")
        self.assertEqual(payload["status"], "completed")
        self.assertEqual(payload["receipt_number"], "QKX1OK0001")
        self.assertEqual(payload["message"], "Payment successful!")
        self.assertEqual(payload["checkout_request_id"], "ws_CO_OK1")

    def test_stk_failures_map_to_status(self):
        cases = [
            (1032, "cancelled", "cancelled"),
            (1, "failed", "insufficient_balance"),
            (1037, "timeout", "timeout"),
            ("SFC_IC0003", "failed", "config_error"),
            (424242, "needs_review", "unknown"),
        ]
        for index, (code, status, reason) in enumerate(cases):
            row = self.make_pending(f"ws_CO_F{index}", f"m-f{index}")
            self.post_json(
                self.token_url(), stk_callback(f"ws_CO_F{index}", f"m-f{index}", result_code=code, desc="x")
            )
            row.invalidate_recordset()
            self.assertEqual((row.status, row.reason), (status, reason), code)
            self.assertEqual(row.result_code, str(code))

    def test_duplicate_stk_callback_recorded_terminal_state_kept(self):
        row = self.make_pending("ws_CO_DUP", "m-d")
        payload = stk_callback("ws_CO_DUP", "m-d", receipt="QKX1DUP001")
        self.post_json(self.token_url(), payload)
        self.assertEqual(self.post_json(self.token_url(), payload).json(), ACCEPTED)
        cancelled = stk_callback("ws_CO_DUP", "m-d", result_code=1032, desc="Request cancelled by user")
        self.assertEqual(self.post_json(self.token_url(), cancelled).json(), ACCEPTED)
        row.invalidate_recordset()
        self.assertEqual(row.status, "success")
        self.assertEqual(row.duplicate_count, 2)
        self.assertEqual(json.loads(row.last_duplicate_payload), cancelled)
        self.assertEqual(self.Callback.sudo().search_count([("checkout_request_id", "=", "ws_CO_DUP")]), 1)

    def test_wrong_amount_goes_to_review(self):
        row = self.make_pending("ws_CO_AMT", "m-a", requested=100)
        self.post_json(self.token_url(), stk_callback("ws_CO_AMT", "m-a", amount=1, receipt="QKX1AMT001"))
        row.invalidate_recordset()
        self.assertEqual(row.status, "needs_review")
        self.assertIn("Amount mismatch", row.review_reason)

    def test_merchant_request_mismatch_goes_to_review(self):
        row = self.make_pending("ws_CO_MRQ", "m-real")
        self.post_json(self.token_url(), stk_callback("ws_CO_MRQ", "m-forged", receipt="QKX1MRQ001"))
        row.invalidate_recordset()
        self.assertEqual(row.status, "needs_review")

    def test_unknown_checkout_on_token_url(self):
        self.post_json(self.token_url(), stk_callback("ws_CO_NOPE", "m-n", receipt="QKX1NOPE01"))
        row = self.Callback.sudo().search([("checkout_request_id", "=", "ws_CO_NOPE")])
        self.assertEqual(row.status, "needs_review")
        self.assertEqual(row.config_id, self.mpesa_config)

    def test_forged_token_refused_and_stored(self):
        row = self.make_pending("ws_CO_FORGE", "m-x")
        payload = stk_callback("ws_CO_FORGE", "m-x", receipt="QKX1FORGE1")
        for url in (
            "/pos_lipa/cb/{}/stk".format("0" * 48),
            "/pos_lipa/cb/NOT-HEX/stk",
            f"/pos_lipa/cb/{self.mpesa_config.callback_token.upper()}/stk",
        ):
            response = self.post_json(url, payload)
            self.assertEqual(response.status_code, 403, url)
            self.assertNotIn(self.mpesa_config.callback_token, response.text)
        row.invalidate_recordset()
        self.assertEqual(row.status, "pending")
        # nobody authenticated them: counted (per sender, route, hour), never a payment nor a review row
        self.assertFalse(self.Callback.sudo().search([("review_reason", "=", "Unknown callback token")]))
        rejected = (
            self.env["mpesa.rejected.request"].sudo().search([("reason", "=", "Unknown callback token")])
        )
        self.assertEqual(sum(rejected.mapped("count")), 3)
        self.assertTrue(all("/pos_lipa/cb/***/stk" in r.route and r.body_sha256 for r in rejected))

    def test_malformed_and_wrong_shapes_stored_invalid(self):
        cases = [
            (b"{not json", 400, "Callback body is not valid JSON"),
            (b"[1, 2]", 400, "Callback body is not a JSON object"),
            (b"", 400, "Empty body"),
            (json.dumps({"hello": "world"}).encode(), 400, "Neither an STK callback nor a C2B notification"),
        ]
        Rejected = self.env["mpesa.rejected.request"].sudo()
        for body, status, reason in cases:
            # on the token URL (Safaricom's): kept whole for a human
            before = self.Callback.sudo().search_count([])
            response = self.url_open(
                self.token_url("confirm"),
                data=body,
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            self.assertEqual(response.status_code, status, body)
            self.assertEqual(response.json()["ResultCode"], 1)
            row = self.Callback.sudo().search([], order="id desc", limit=1)
            self.assertEqual(self.Callback.sudo().search_count([]), before + 1)
            self.assertEqual(row.status, "invalid")
            self.assertTrue(row.review_reason)  # the C2B parser's own words on the confirmation URL
            self.assertEqual(row.raw_payload or "", body.decode())
            self.assertEqual(row.name, f"Request #{row.id}")
            # on the public route (anybody's): counted only
            response = self.url_open(
                "/mpesa/callback", data=body, headers={"Content-Type": "application/json"}, method="POST"
            )
            self.assertEqual(response.status_code, status, body)
            self.assertEqual(self.Callback.sudo().search_count([]), before + 1)
            self.assertEqual(Rejected.search_count([("reason", "=", reason)]), 1)

    def test_stk_missing_fields_stored_invalid(self):
        payload = {"Body": {"stkCallback": {"MerchantRequestID": "m", "ResultDesc": "x"}}}
        response = self.post_json(self.token_url(), payload)
        self.assertEqual(response.status_code, 400)
        row = self.Callback.sudo().search([], order="id desc", limit=1)
        self.assertEqual((row.status, row.callback_type), ("invalid", "stk"))

    def test_huge_body_refused_truncated(self):
        body = json.dumps({"TransID": "BIG", "pad": "x" * (70 * 1024)}).encode()
        response = self.url_open(
            self.token_url("confirm"), data=body, headers={"Content-Type": "application/json"}
        )
        self.assertEqual(response.status_code, 413)
        row = self.Callback.sudo().search([], order="id desc", limit=1)
        self.assertEqual(row.status, "invalid")
        self.assertTrue(row.payload_truncated)
        self.assertEqual(len(row.raw_payload.encode()), 64 * 1024)

    # ------------------------------------------------------------------ C2B

    def test_c2b_confirmation_and_duplicate(self):
        calls, patcher = self._notify_calls()
        self.pos_config.open_ui()
        with patcher:
            first = self.post_json(self.token_url("confirm"), c2b_confirmation("RKL51ZDR4F"))
            second = self.post_json(self.token_url("confirm"), c2b_confirmation("RKL51ZDR4F"))
        self.assertEqual(first.json(), ACCEPTED)
        self.assertEqual(second.json(), ACCEPTED)
        rows = self.Callback.sudo().search([("mpesa_receipt_number", "=", "RKL51ZDR4F")])
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows.status, "success")
        self.assertEqual(rows.duplicate_count, 1)
        self.assertEqual(rows.phone_number, "2547 ***** 126")
        c2b_calls = [c for c in calls if c[1][0] == "MPESA_C2B_RECEIVED"]
        self.assertEqual(len(c2b_calls), 1)
        self.assertEqual(
            c2b_calls[0][1][1],
            {"callback_id": rows.id, "amount": 100.0, "mpesa_config_id": self.mpesa_config.id},
        )

    def test_c2b_row_stored_in_one_insert_is_complete(self):
        """A confirmation's row is written by one INSERT (mpesa.callback._insert_row), not by the
        ORM's create: it carries everything create() would have written."""
        self.post_json(self.token_url("confirm"), c2b_confirmation("RKINSERT01", amount="1250.00"))
        row = self.Callback.sudo().search([("mpesa_receipt_number", "=", "RKINSERT01")])
        self.assertEqual(row.name, "RKINSERT01")
        self.assertEqual(row.currency_id, self.kes)
        self.assertEqual(row.company_id, self.company)
        self.assertEqual(row.amount, 1250.0)
        self.assertTrue(row.create_date and row.write_date and row.received_date)
        self.assertEqual(row.create_uid, row.write_uid)
        self.assertEqual((row.callback_type, row.source, row.status), ("c2b", "token_url", "success"))
        self.assertEqual(row.duplicate_count, 0)
        self.assertFalse(row.is_claimed)
        # cents kept exactly; NUL (the parser refuses it; stored text never holds it) replaced
        self.post_json(self.token_url("confirm"), c2b_confirmation("RKINSERT02", amount="99.50"))
        cents = self.Callback.sudo().search([("mpesa_receipt_number", "=", "RKINSERT02")])
        self.assertEqual((cents.status, cents.amount), ("success", 99.5))
        vals = dict(callback_type="c2b", status="failed", company_id=self.company.id)
        nul = self.Callback.sudo()._insert_row(dict(vals, mpesa_receipt_number="RKNUL00001", note="a\x00b"))
        self.assertEqual((nul.note, nul.name), ("a\ufffdb", "RKNUL00001"))
        # a row without a receipt gets its computed name through create()
        nameless = self.Callback.sudo()._insert_row(dict(vals))
        self.assertEqual(nameless.name, f"Request #{nameless.id}")
        # an amount with a fraction of a cent (the parser refuses those too) goes through create()
        # and is rounded as the ORM rounds money
        vals.update(amount="10.005", mpesa_receipt_number="RKFRAC0001")
        self.assertEqual(self.Callback.sudo()._insert_row(vals).amount, 10.01)

    def test_c2b_validation_accept_and_reject(self):
        payload = c2b_confirmation("RKVALID001", amount="250")
        payload["OrgAccountBalance"] = ""
        response = self.post_json(self.token_url("validate"), payload)
        self.assertEqual(response.json(), {"ResultCode": "0", "ResultDesc": "Accepted"})
        row = self.Callback.sudo().search([("mpesa_receipt_number", "=", "RKVALID001")])
        self.assertEqual((row.status, row.is_validation), ("pending", True))
        # the confirmation of the same transaction completes the row, no second row
        self.post_json(self.token_url("confirm"), c2b_confirmation("RKVALID001", amount="250"))
        row.invalidate_recordset()
        self.assertEqual(row.status, "success")
        self.assertEqual(self.Callback.sudo().search_count([("mpesa_receipt_number", "=", "RKVALID001")]), 1)

        bad = c2b_confirmation("RKVALID002", amount="10.50")
        response = self.post_json(self.token_url("validate"), bad)
        self.assertEqual(response.json(), {"ResultCode": "C2B00013", "ResultDesc": "Rejected"})
        self.assertEqual(
            self.Callback.sudo().search([("mpesa_receipt_number", "=", "RKVALID002")]).status, "failed"
        )

    def test_stk_then_c2b_twin_is_one_payment(self):
        row = self.make_pending("ws_CO_TWIN", "m-t")
        self.post_json(self.token_url(), stk_callback("ws_CO_TWIN", "m-t", receipt="QKX1TWIN01"))
        self.post_json(self.token_url("confirm"), c2b_confirmation("QKX1TWIN01"))
        row.invalidate_recordset()
        self.assertEqual(row.duplicate_count, 1)
        self.assertFalse(
            self.Callback.sudo().search(
                [("callback_type", "=", "c2b"), ("mpesa_receipt_number", "=", "QKX1TWIN01")]
            )
        )

    def test_c2b_then_stk_twin_hidden_from_search(self):
        twin = self.make_c2b("QKX1TWIN02")
        row = self.make_pending("ws_CO_TWIN2", "m-t2")
        self.post_json(self.token_url(), stk_callback("ws_CO_TWIN2", "m-t2", receipt="QKX1TWIN02"))
        row.invalidate_recordset()
        twin.invalidate_recordset()
        self.assertEqual(row.status, "success")
        self.assertEqual(twin.duplicate_of_id, row)

    def test_c2b_twin_already_claimed_puts_stk_in_review(self):
        self.make_c2b("QKX1TWIN03", is_claimed=True, claim_order_key="other-order")
        row = self.make_pending("ws_CO_TWIN3", "m-t3")
        self.post_json(self.token_url(), stk_callback("ws_CO_TWIN3", "m-t3", receipt="QKX1TWIN03"))
        row.invalidate_recordset()
        self.assertEqual(row.status, "needs_review")

    # ------------------------------------------------------------------ production hardening

    def test_production_public_route_needs_token_or_ip(self):
        self.mpesa_config.write(
            {
                "environment": "production",
                "callback_base_url": "https://shop.example.com",
                "c2b_shortcode": "600777",
            }
        )
        payload = c2b_confirmation("PRODC2B001", shortcode="600777")
        response = self.post_json("/mpesa/callback", payload)
        self.assertEqual(response.status_code, 403)
        self.assertFalse(self.Callback.sudo().search([("mpesa_receipt_number", "=", "PRODC2B001")]))
        refused = self.env["mpesa.rejected.request"].sudo().search([], order="id desc", limit=1)
        self.assertIn("production account", refused.reason)
        # the hand-made Postman payload has a shortcode no production account owns: no fallback in production
        # with the token: accepted
        response = self.post_json(f"/mpesa/callback?token={self.mpesa_config.callback_token}", payload)
        self.assertEqual(response.json(), ACCEPTED)
        self.assertEqual(
            self.Callback.sudo().search([("mpesa_receipt_number", "=", "PRODC2B001")]).status, "success"
        )
        # from an allowed address: accepted
        self.mpesa_config.allowed_ips = "127.0.0.1/32"
        response = self.post_json("/mpesa/callback", c2b_confirmation("PRODC2B002", shortcode="600777"))
        self.assertEqual(response.json(), ACCEPTED)

    def test_callbacks_are_never_deleted(self):
        row = self.make_c2b("KEEPME0001")
        with self.assertRaises(UserError):
            row.sudo().unlink()
        with self.assertRaises(UserError):
            self.mpesa_config.unlink()
