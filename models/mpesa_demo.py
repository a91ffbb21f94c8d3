"""Demo data only: four days of M-Pesa payments on the two demo tills, so that `make run` shows an
accountant real figures. Nothing here runs for a real shop.

data/mpesa_demo.xml calls MpesaConfig._demo_load_payments once, when pos_mpesa is installed with demo
data (a <function> in a noupdate block: never again on an update). It plays DEMO_DAYS: for each of the
last four days (relative to the install), each till opens a session, sells, and closes it (today's
stay open). Every row goes through what real traffic goes through:

- a C2B payment is created with the model's create (as tests/common.py's make_c2b does), the one the
  Pull Transactions recovered with source "pull";
- an STK push is its pending row (as _stk_push stores it), then Safaricom's callback through
  _stk_process_callback (the state machine decides: paid, cancelled, amount mismatch...);
- a till takes a payment with the till's own requests (_pos_claim, the STK till's _stk_claim_for_pusher),
  and the order reaches the server with pos.order.sync_from_ui, whose pos.payment links the claimed
  row (models/pos_payment.py, the claim module models/mpesa_claim.py);
- a manager settles a payment outside the POS with the Unclaimed Payments wizard;
- a refund by Reversal is the request row _send would leave, then M-Pesa's Result through
  mpesa.daraja.request._on_result;
- sessions close with close_session_from_ui (the M-Pesa differences written on the session).

Only timestamps are backdated (a session's opening and closing, a reversal's date): claim fields are
never written here.
"""

import json
import logging
import random
import uuid
from datetime import datetime, time, timedelta, timezone

from odoo import api, fields, models

from ..daraja import nairobi_timestamp, parse_callback
from ..daraja.timeutil import NAIROBI

_logger = logging.getLogger(__name__)

# Each till's day: (minutes after the session opened, what happened, amount, detail: the products sold,
# a result code, a reason).
# Kinds: stk (paid push), c2b (paid from the M-Pesa menu, picked in the till's search), pull (a C2B
# payment whose confirmation never came, recovered by Pull Transactions, then picked), stk_failed
# (push refused by the customer: result code in `extra`), stk_review (the callback says another amount),
# unclaimed (paid, no till took it), outside (paid, settled outside the POS by a manager),
# no_match (an order whose M-Pesa line was validated without a matching payment), refund (the
# previous sale of the session refunded by Reversal).
# The paybill sells at the Furniture Shop, the till at the Bakery Shop.
FURNITURE = {
    "desk": ("point_of_sale.wall_shelf", 1),
    "shelf": ("point_of_sale.small_shelf", 1),
    "board": ("point_of_sale.magnetic_board", 1),
    "tray": ("point_of_sale.letter_tray", 2),
    "lamp": ("point_of_sale.led_lamp", 1),
    "rack": ("point_of_sale.newspaper_rack", 1),
}
BAKERY = {
    "croissant": ("point_of_sale.product_butter_croissant", 4),
    "loaf": ("point_of_sale.product_sourdough_loaf", 1),
    "pie": ("point_of_sale.product_apple_pie", 1),
    "muffin": ("point_of_sale.product_blueberry_muffin", 6),
    "bagel": ("point_of_sale.product_bagel", 3),
    "roll": ("point_of_sale.product_cinnamon_roll", 2),
}
DEMO_DAYS = {
    3: {
        "paybill": [
            (20, "stk", 1250, "desk"),
            (55, "c2b", 480, "tray"),
            (95, "stk_failed", 600, "1032"),  # the customer cancelled the PIN prompt...
            (97, "stk", 600, "board"),  # ...and paid the second push
            (180, "unclaimed", 350, None),
        ],
        "till": [
            (15, "c2b", 120, "croissant"),
            (70, "c2b", 260, "loaf"),
            (130, "stk", 340, "pie"),
        ],
    },
    2: {
        "paybill": [
            (30, "c2b", 2400, "lamp"),
            (75, "refund", 2400, None),  # the lamp came back: the 2,400 returned by Reversal
            (120, "stk", 900, "shelf"),
            (200, "outside", 1500, "Deposit for a made-to-order bookcase (quotation S00042)"),
        ],
        "till": [
            (25, "stk_failed", 180, "1"),  # insufficient balance...
            (28, "c2b", 180, "muffin"),  # ...so the customer paid from the M-Pesa menu
            (90, "c2b", 95, "bagel"),
            (160, "stk", 420, "roll"),
        ],
    },
    1: {
        "paybill": [
            (40, "stk_review", 500, 50),  # M-Pesa says 50 was paid for a push of 500: a human checks
            (85, "pull", 700, "rack"),
            (150, "c2b", 1100, "desk"),
        ],
        "till": [
            (35, "no_match", 450, "pie"),  # the cashier validated without picking the payment...
            (36, "unclaimed", 450, None),  # ...which is still waiting: attach it in Unclaimed Payments
            (110, "stk", 230, "croissant"),
            (170, "c2b", 150, "bagel"),
        ],
    },
    0: {
        "paybill": [
            (15, "stk", 760, "board"),
            (50, "c2b", 310, "tray"),
            (100, "unclaimed", 200, None),
        ],
        "till": [
            (10, "c2b", 85, "roll"),
            (45, "stk", 140, "muffin"),
            (80, "stk_failed", 300, "1037"),  # no answer from the phone
        ],
    },
}
OPENS_AT = time(8, 30)  # Nairobi time, on the days before today
TODAY_OPENED = timedelta(hours=3)  # today's sessions opened this long before the install
CLOSES_AFTER = timedelta(hours=4)
STK_OK = "The service request is processed successfully."
STK_DESC = {
    "1032": "Request Cancelled by user.",
    "1": "The balance is insufficient for the transaction.",
    "1037": "DS timeout user cannot be reached.",
}
PAYERS = [
    ("254708374149", "JANE", "WANJIKU"),
    ("254712345678", "PETER", "OTIENO"),
    ("254722000111", "MARY", "AKINYI"),
    ("254733444555", "JOHN", "KAMAU"),
    ("254711222333", "GRACE", "MUTUA"),
]


def masked(msisdn):
    """The payer's number as a C2B confirmation gives it."""
    return f"{msisdn[:4]} ***** {msisdn[-3:]}"


class _DemoNumbers:
    """Receipts, payers, request and order ids: seeded, the same on every demo database."""

    LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"

    def __init__(self):
        self.rng = random.Random(254)  # noqa: S311 (demo values, not secrets)
        self.count = 0

    def receipt(self):
        """As M-Pesa issues them: three letters, a digit, six letters or digits."""
        rng = self.rng
        head = [*rng.choices(self.LETTERS, k=3), rng.choice("123456789")]
        return "".join(head + rng.choices(self.LETTERS + "0123456789", k=6))

    def payer(self):
        return self.rng.choice(PAYERS)

    def serial(self):
        self.count += 1
        return self.count

    def order_key(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


class _DemoTill:
    """One till (pos.config) and its M-Pesa payment method, playing its days."""

    def __init__(self, env, pos_config, method, products, numbers):
        self.env, self.pos_config, self.method = env, pos_config, method
        self.account = method.mpesa_config_id
        self.products, self.numbers = products, numbers
        self.Callback = env["mpesa.callback"].sudo()  # Safaricom's side: the callback routes run as sudo
        self.session = env["pos.session"]
        self.last_sale = None

    # ------------------------------------------------------------------ the session

    def open(self, at):
        self.pos_config.open_ui()
        self.session = self.pos_config.current_session_id
        self.session.set_opening_control(0, "")
        self.session.sudo().write({"start_at": at})

    def close(self, at):
        session = self.session
        session.post_closing_cash_details(session.cash_register_balance_end)
        session.update_closing_control_state_session("")
        session.sudo().write({"stop_at": at})
        result = session.close_session_from_ui()
        if not result.get("successful"):
            _logger.warning("M-Pesa demo: session %s not closed: %s", session.name, result.get("message"))

    # ------------------------------------------------------------------ M-Pesa

    def c2b(self, amount, at, source="token_url", paid_at=None):
        """A C2B payment received at ``at`` (paid then, or at ``paid_at``), stored as the confirmation
        route (or Pull Transactions, source "pull") stores it."""
        paid_at = paid_at or at
        msisdn, first, last = self.numbers.payer()
        receipt = self.numbers.receipt()
        shortcode = self.account._get_c2b_shortcode()
        payload = {
            "TransactionType": "Buy Goods" if self.account.account_type == "till" else "Pay Bill",
            "TransID": receipt,
            "TransTime": nairobi_timestamp(paid_at),
            "TransAmount": f"{amount:.2f}",
            "BusinessShortCode": shortcode,
            "BillRefNumber": "" if self.account.account_type == "till" else "SHOP",
            "MSISDN": masked(msisdn),
            "FirstName": first,
            "LastName": last,
        }
        return self.Callback.create(
            {
                "callback_type": "c2b",
                "status": "success",
                "result_code": "0",
                "reason": "paid",
                "mpesa_receipt_number": receipt,
                "amount": amount,
                "phone_number": payload["MSISDN"],
                "customer_name": f"{first} {last}",
                "bill_ref_number": payload["BillRefNumber"] or False,
                "transaction_type": payload["TransactionType"],
                "business_shortcode": shortcode,
                "received_date": at,
                "transaction_date": paid_at,
                "raw_payload": json.dumps(payload)
                if source != "pull"  # what _pull_missed keeps of a pulled transaction
                else json.dumps({"pulled": receipt, "amount": f"{amount:.2f}", "at": str(paid_at)}),
                "source": source,
                "config_id": self.account.id,
                "company_id": self.account.company_id.id,
            }
        )

    def stk(self, amount, at, order_key, result_code="0", paid=None):
        """A push for ``amount`` and Safaricom's callback (``paid``: the amount it says was paid)."""
        msisdn = self.numbers.payer()[0]
        serial = self.numbers.serial()
        checkout = f"ws_CO_{nairobi_timestamp(at)}{serial:08d}"
        merchant = f"29115-{serial:08d}-1"
        row = self.Callback.create(
            {
                "callback_type": "stk",
                "status": "pending",
                "source": "pos",
                "checkout_request_id": checkout,
                "merchant_request_id": merchant,
                "requested_amount": amount,
                "request_phone": msisdn,
                "phone_number": msisdn,
                "order_reference": f"{self.pos_config.name} {order_key[:8]}",
                "order_key": order_key,
                "request_date": at,
                "received_date": at,
                "config_id": self.account.id,
                "company_id": self.account.company_id.id,
                "pos_config_id": self.pos_config.id,
                "pos_session_id": self.session.id,
                "payment_method_id": self.method.id,
                "user_id": self.env.uid,
                "business_shortcode": self.account.business_shortcode,
            }
        )
        body = {
            "MerchantRequestID": merchant,
            "CheckoutRequestID": checkout,
            "ResultCode": int(result_code),
            "ResultDesc": STK_DESC.get(result_code, STK_OK),
        }
        if result_code == "0":
            body["CallbackMetadata"] = {
                "Item": [
                    {"Name": "Amount", "Value": paid if paid is not None else amount},
                    {"Name": "MpesaReceiptNumber", "Value": self.numbers.receipt()},
                    {"Name": "Balance"},
                    {"Name": "TransactionDate", "Value": int(nairobi_timestamp(at + timedelta(seconds=20)))},
                    {"Name": "PhoneNumber", "Value": int(msisdn)},
                ]
            }
        raw = json.dumps({"Body": {"stkCallback": body}})
        self.Callback._stk_process_callback(parse_callback(raw, "stk"), raw, "token_url", self.account)
        return row

    def till_request(self, method_name, **params):
        """What the till asks the server (controllers/main.py), as its cashier."""
        answer = self.env["mpesa.callback"]._run_pos_request(method_name, **params)
        if not answer.get("success"):
            raise RuntimeError(f"M-Pesa demo: {method_name} refused: {answer.get('message')}")
        return answer

    # ------------------------------------------------------------------ orders

    def sell(self, product_key, amount, at, order_key, payment_vals, refund_of=None):
        """The till's order reaches the server (sync_from_ui), paid by one M-Pesa line."""
        xmlid, qty = self.products[product_key] if product_key else (None, 1)
        product = (xmlid and self.env.ref(xmlid, raise_if_not_found=False)) or self.env[
            "product.product"
        ].search([("available_in_pos", "=", True)], limit=1)
        if refund_of:
            qty = -refund_of.lines[:1].qty
        unit = amount / qty
        line = {
            "product_id": product.id,
            "qty": qty,
            "price_unit": unit,
            "price_subtotal": amount,
            "price_subtotal_incl": amount,
            "discount": 0,
            "tax_ids": [(6, 0, [])],
            "pack_lot_ids": [],
        }
        if refund_of:
            line["refunded_orderline_id"] = refund_of.lines[:1].id
        order_data = {
            "uuid": order_key,
            "name": f"Order {order_key}",
            "session_id": self.session.id,
            "pricelist_id": self.pos_config.pricelist_id.id,
            "user_id": self.env.uid,
            "amount_paid": amount,
            "amount_return": 0,
            "amount_tax": 0,
            "amount_total": amount,
            "date_order": fields.Datetime.to_string(at),
            "last_order_preparation_change": "{}",
            "state": "paid",
            "lines": [(0, 0, line)],
            "payment_ids": [
                (
                    0,
                    0,
                    {
                        "amount": amount,
                        "name": fields.Datetime.to_string(at),
                        "payment_method_id": self.method.id,
                        **payment_vals,
                    },
                )
            ],
        }
        result = self.env["pos.order"].sync_from_ui([order_data])
        order = self.env["pos.order"].browse(result["pos.order"][0]["id"])
        self.last_sale = order
        return order

    # ------------------------------------------------------------------ one event

    def play(self, kind, amount, at, extra):
        order_key = self.numbers.order_key()
        if kind == "stk":
            row = self.stk(amount, at, order_key)
            # the till's status check: its own payment is taken for the order it pushed for
            self.till_request(
                "_pos_check_status",
                checkout_request_id=row.checkout_request_id,
                pos_config_id=self.pos_config.id,
                order_uuid=order_key,
            )
            self.sell(extra, amount, at, order_key, {"mpesa_checkout_request_id": row.checkout_request_id})
        elif kind in ("c2b", "pull"):
            if kind == "c2b":
                row = self.c2b(amount, at - timedelta(minutes=2))
            else:  # paid while the confirmation was lost, recovered by the pull of a few minutes ago
                row = self.c2b(amount, at - timedelta(minutes=5), "pull", paid_at=at - timedelta(minutes=40))
            # the cashier picks it in the till's C2B search
            self.till_request(
                "_pos_claim",
                callback_id=row.id,
                order_id=order_key,
                payment_method_id=self.method.id,
                pos_config_id=self.pos_config.id,
            )
            self.sell(
                extra,
                amount,
                at,
                order_key,
                {"mpesa_callback_id": row.id, "mpesa_receipt_number": row.mpesa_receipt_number},
            )
        elif kind == "stk_failed":
            self.stk(amount, at, order_key, result_code=extra)
        elif kind == "stk_review":
            self.stk(amount, at, order_key, paid=extra)
        elif kind == "unclaimed":
            self.c2b(amount, at)
        elif kind == "outside":
            row = self.c2b(amount, at)
            wizard = self.env["mpesa.unclaimed.settle"].create(
                {"callback_id": row.id, "mode": "outside", "reason": extra}
            )
            wizard.action_settle()
        elif kind == "no_match":
            self.sell(extra, amount, at, order_key, {})
        elif kind == "refund":
            self.refund(self.last_sale, amount, at, order_key)

    def refund(self, order, amount, at, refund_key):
        """A refund order whose negative M-Pesa line sent the payment back by Reversal."""
        payment = self.Callback.search([("pos_order_id", "=", order.id)], limit=1)
        Requests = self.env["mpesa.daraja.request"].sudo()
        stamp = nairobi_timestamp(at)
        # the request as _send leaves it once Daraja acknowledged it
        request = Requests.create(
            {
                "kind": "reversal",
                "state": "sent",
                "config_id": self.account.id,
                "company_id": self.account.company_id.id,
                "user_id": self.env.uid,
                "receipt": payment.mpesa_receipt_number,
                "amount": payment.amount,
                "callback_id": payment.id,
                "pos_config_id": self.pos_config.id,
                "pos_order_id": order.id,
                "refund_order_key": refund_key,
                "conversation_id": f"AG_{stamp}_DEMO{payment.id}",
                "originator_conversation_id": f"DEMO-{payment.id}-{stamp}",
            }
        )
        reversal_receipt = self.numbers.receipt()
        result = {
            "Result": {
                "ResultType": 0,
                "ResultCode": 0,
                "ResultDesc": STK_OK,
                "OriginatorConversationID": request.originator_conversation_id,
                "ConversationID": request.conversation_id,
                "TransactionID": reversal_receipt,
                "ResultParameters": {
                    "ResultParameter": [
                        {"Key": "Amount", "Value": amount},
                        {"Key": "OriginalTransactionID", "Value": payment.mpesa_receipt_number},
                        {"Key": "TransCompletedTime", "Value": int(stamp)},
                        {"Key": "CreditPartyPublicName", "Value": f"{payment.phone_number} - CUSTOMER"},
                    ]
                },
            }
        }
        Requests._on_result(self.account, json.dumps(result), False)
        payment.write({"reversal_date": at})
        self.sell(None, -amount, at, refund_key, {"transaction_id": reversal_receipt}, refund_of=order)


class MpesaConfig(models.Model):
    _inherit = "mpesa.config"

    @api.model
    def _demo_load_payments(self, paybill_id, till_method_id):
        """Demo data only (data/mpesa_demo.xml): four days of M-Pesa payments on Point of Sale's
        Furniture Shop (the paybill's method) and Bakery Shop (the till's method ``till_method_id``).
        Skipped, with a line in the log, when those demo shops are not as Point of Sale's demo leaves
        them (missing, or a session already open); an error rolls the demo payments back, logged, and
        the install goes on."""
        tills = self._demo_tills(paybill_id, till_method_id)
        if not tills:
            _logger.info("M-Pesa demo payments skipped: Point of Sale's demo shops are not as expected")
            return False
        try:
            with self.env.cr.savepoint():
                self._demo_play(tills)
        except Exception:  # demo data never stops an install: the log says why
            _logger.exception("M-Pesa demo payments could not be loaded: the demo goes on without them")
            return False
        return True

    @api.model
    def _demo_play(self, tills):
        """DEMO_DAYS, oldest first: each till opens, sells and closes (today's session stays open)."""
        now = fields.Datetime.now()
        today = now.replace(tzinfo=timezone.utc).astimezone(NAIROBI).date()
        for days_ago in sorted(DEMO_DAYS, reverse=True):
            if days_ago:  # 08:30 in Nairobi
                opened = (
                    datetime.combine(today - timedelta(days=days_ago), OPENS_AT, tzinfo=NAIROBI)
                    .astimezone(timezone.utc)
                    .replace(tzinfo=None)
                )
            else:  # a few hours ago: every payment of the open session is in the past
                opened = now - TODAY_OPENED
            for key, events in DEMO_DAYS[days_ago].items():
                till = tills[key]
                till.open(opened)
                for minutes, kind, amount, extra in events:
                    till.play(kind, amount, opened + timedelta(minutes=minutes), extra)
                if days_ago:
                    till.close(opened + CLOSES_AFTER)

    @api.model
    def _demo_tills(self, paybill_id, till_method_id):
        """{"paybill": furniture shop, "till": bakery shop} as _DemoTill, run as the demo administrator;
        {} when they are not there."""
        admin = self.env.ref("base.user_admin", raise_if_not_found=False)
        furniture = self.env.ref("point_of_sale.pos_config_main", raise_if_not_found=False)
        bakery = self.env.ref("point_of_sale.pos_config_bakery", raise_if_not_found=False)
        if not (admin and furniture and bakery) or (furniture | bakery).current_session_id:
            return {}
        paybill_method = furniture.payment_method_ids.filtered(
            lambda m: m.use_payment_terminal == "mpesa" and m.mpesa_config_id.id == paybill_id
        )[:1]
        till_method = bakery.payment_method_ids.filtered(lambda m: m.id == till_method_id)
        if not (paybill_method and till_method):
            return {}
        env = self.env(user=admin.id, su=False)
        numbers = _DemoNumbers()
        return {
            "paybill": _DemoTill(
                env, furniture.with_env(env), paybill_method.with_env(env), FURNITURE, numbers
            ),
            "till": _DemoTill(env, bakery.with_env(env), till_method.with_env(env), BAKERY, numbers),
        }
