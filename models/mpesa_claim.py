"""Claims: the one place where M-Pesa money is given to an order.

A successful, non-duplicate row is a payment. A till *claims* it for one order (the STK till for
the order it pushed for, or any till of the account through the C2B search); the claim is *linked*
to the pos.payment when the order reaches the server; a claim not yet linked can be *released* by
the till that holds it or by a POS manager. These methods are the only writers of the
claim fields (CLAIM_FIELDS): each is one guarded UPDATE, so of two tills racing for a
payment one wins and the other waits, then retries and is told "already reconciled"; PostgreSQL
also checks that only a live payment is ever claimed (mpesa_callback.py).

Future sources of payments (Pull Transactions, Transaction Status) and several payments for one
order go through the same calls: a claim is per row, for an order key and a till. A manager's
settlements of an unclaimed payment are claims for no order: settled outside the POS
(SETTLED_OUTSIDE), or held while it is sent back to the payer by an M-Pesa reversal (REVERSAL_HOLD).
"""

import logging
from datetime import timedelta

from odoo import _lt, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL, mute_logger

from .mpesa_callback import CLAIMABLE, LIVE_PAYMENT, LIVE_PAYMENT_DOMAIN
from .mpesa_daraja_request import LIVE_REVERSAL_SQL
from .mpesa_utils import MANAGER_GROUP, STK_WAIT_SECONDS

_logger = logging.getLogger(__name__)

MSG_OTHER_ACCOUNT = _lt("This payment was made to another M-Pesa account")
SETTLED_OUTSIDE = "outside-pos"  # the claim_order_key of a payment a manager settled outside the POS
# the claim_order_key of an unclaimed payment a manager is sending back to the payer by an M-Pesa reversal
REVERSAL_HOLD = "mpesa-reversal"


class MpesaCallback(models.Model):
    _inherit = "mpesa.callback"

    # ================================================================== reading a claim

    def _claim_reserved_for_pusher(self):
        """An STK payment belongs to the pushing till while it waits (STK_WAIT_SECONDS), unless it gave up."""
        self.ensure_one()
        return (
            self.callback_type == "stk"
            and not self.stk_abandoned
            and bool(self.request_date)
            and fields.Datetime.now() - self.request_date < timedelta(seconds=STK_WAIT_SECONDS)
        )

    def _claim_is_for(self, order_keys):
        """Claimed (or linked) for one of these order references."""
        self.ensure_one()
        return bool(self.is_claimed and self.claim_order_key and self.claim_order_key in set(order_keys))

    @api.model
    def _claim_accounts(self, pos_config, payment_method=None):
        """Accounts whose payments a till may take: those of its M-Pesa payment methods and their C2B
        siblings (mpesa_c2b.py); with no till, the named payment method's, else the company's
        default account's, as the C2B search."""
        if payment_method and not pos_config:
            accounts = payment_method.sudo().mpesa_config_id
        elif pos_config:
            methods = pos_config.sudo().payment_method_ids.filtered(
                lambda m: m.use_payment_terminal == "mpesa"
            )
            accounts = methods.mpesa_config_id
        else:
            accounts = self.env.company.sudo().mpesa_config_id
        return self.env["mpesa.config"].sudo().union(*(self._c2b_search_accounts(a) for a in accounts))

    # ================================================================== claim

    def _claim(self, order_key, pos_config=None, pos_session=None, order=None, payment_method=None):
        """Take this payment for one order; True when this call took it. One UPDATE decides.

        The order's till (else the till, else the payment method named) takes only its own
        accounts' payments."""
        self.ensure_one()
        if not order_key:
            raise ValidationError(self.env._("A claim needs the order it is for."))
        pos_config = (order.config_id if order else None) or pos_config or self.env["pos.config"]
        own_push = self.callback_type == "stk" and order_key == self._stk_order_key()
        if not own_push and self.config_id not in self._claim_accounts(pos_config, payment_method):
            raise UserError(str(MSG_OTHER_ACCOUNT))
        pos_session = pos_session or pos_config.current_session_id
        self.flush_recordset()
        # another till's claim in flight: LockNotAvailable makes Odoo run this request again after
        # a short pause, when it sees that claim's outcome (taken, or free again if it failed)
        with mute_logger("odoo.sql_db"):
            self.env.cr.execute("SELECT id FROM mpesa_callback WHERE id = %s FOR UPDATE NOWAIT", (self.id,))
        self.env.cr.execute(
            SQL(
                """UPDATE mpesa_callback
                  SET is_claimed = TRUE, claim_date = now() at time zone 'UTC',
                      claimed_by_id = %s, claim_order_key = %s, pos_order_id = %s,
                      claim_config_id = %s, claim_session_id = %s, stk_abandoned = FALSE,
                      write_uid = %s, write_date = now() at time zone 'UTC'
                WHERE id = %s AND %s
            RETURNING id""",
                self.env.uid,
                order_key,
                order.id if order else None,
                pos_config.id or None,
                pos_session.id or None,
                self.env.uid,
                self.id,
                CLAIMABLE,
            )
        )
        claimed = bool(self.env.cr.fetchone())
        self.invalidate_recordset()
        if claimed:
            _logger.info(
                "M-Pesa payment %s claimed for order %s by user %s", self.id, order_key, self.env.uid
            )
        return claimed

    # ================================================================== taken for no order

    def _claim_for_no_order(self, order_key, note):
        """Take this payment, if still claimable and never reversed, under ``order_key`` (SETTLED_OUTSIDE
        or REVERSAL_HOLD: names no order), with ``note``; True when taken."""
        self.flush_recordset()
        self.env.cr.execute(
            SQL(
                """UPDATE mpesa_callback
                  SET is_claimed = TRUE, claim_date = now() at time zone 'UTC', claimed_by_id = %s,
                      claim_order_key = %s, note = %s,
                      write_uid = %s, write_date = now() at time zone 'UTC'
                WHERE id = %s AND %s AND reversal_state IS NULL
            RETURNING id""",
                self.env.uid,
                order_key,
                note,
                self.env.uid,
                self.id,
                CLAIMABLE,
            )
        )
        taken = bool(self.env.cr.fetchone())
        self.invalidate_recordset()
        return taken

    # ================================================================== settled outside the POS

    def _claim_settle_outside(self, reason):
        """A manager says this payment was accounted for outside the POS (an invoice paid, a deposit):
        it is taken like a claim, for no order, so that no till can take it; a release undoes it."""
        self.ensure_one()
        if not self.env.user.has_group(MANAGER_GROUP):
            raise UserError(self.env._("Only Point of Sale managers can settle a payment outside the POS."))
        note = self._note_with(
            self.env._(
                "Settled outside the POS by %(user)s on %(date)s: %(reason)s",
                user=self.env.user.name,
                date=fields.Datetime.now(),
                reason=reason,
            )
        )
        if not self._claim_for_no_order(SETTLED_OUTSIDE, note):
            raise UserError(self.env._("%(name)s was taken meanwhile: reload and try again.", name=self.name))
        return True

    # ================================================================== sent back by a reversal

    def _claim_hold_for_reversal(self, reason):
        """A manager sends this payment back to the payer by an M-Pesa reversal (mpesa_unclaimed.py): it
        is taken like a claim, for no order, before the Reversal is sent, so that no till can take it
        while M-Pesa works. Kept once reversed; _claim_release_reversal gives it back when M-Pesa
        refuses or drops the reversal. A second press finds it taken: nothing is sent twice."""
        self.ensure_one()
        if not self.env.user.has_group(MANAGER_GROUP):
            raise UserError(self.env._("Only Point of Sale managers can send an unclaimed payment back."))
        note = self._note_with(
            self.env._(
                "Reversal to the payer asked by %(user)s on %(date)s: %(reason)s",
                user=self.env.user.name,
                date=fields.Datetime.now(),
                reason=reason,
            )
        )
        if not self._claim_for_no_order(REVERSAL_HOLD, note):
            if self.claim_order_key == REVERSAL_HOLD or self.reversal_state:
                raise UserError(
                    self.env._("%(name)s is already being sent back to the payer, or was.", name=self.name)
                )
            raise UserError(self.env._("%(name)s was taken meanwhile: reload and try again.", name=self.name))
        return True

    def _claim_release_reversal(self, why, asked_by):
        """The reversal of this held payment that ``asked_by`` (a user) asked for was not made: M-Pesa
        refused it or dropped it, nothing reached M-Pesa, or a manager closed the request. The payment
        is unclaimed again, with why in its note. Only while no reversal of it is in flight or done, and
        never once reversed: otherwise it stays held. True when released."""
        self.ensure_one()
        note = self._note_with(
            self.env._(
                "Reversal asked by %(user)s not made (%(why)s): unclaimed again on %(date)s",
                user=asked_by.name or "?",
                why=why,
                date=fields.Datetime.now(),
            )
        )
        self.env["mpesa.daraja.request"].flush_model(["kind", "state", "outcome", "callback_id"])
        self.flush_recordset()
        self.env.cr.execute(
            SQL(
                """UPDATE mpesa_callback
                  SET is_claimed = FALSE, claim_date = NULL, claimed_by_id = NULL, claim_order_key = NULL,
                      note = %s, write_uid = %s, write_date = now() at time zone 'UTC'
                WHERE id = %s AND is_claimed AND claim_order_key = %s AND pos_payment_id IS NULL
                  AND reversal_state IS NULL
                  AND NOT EXISTS (SELECT 1 FROM mpesa_daraja_request
                                   WHERE callback_id = mpesa_callback.id AND %s)
            RETURNING id""",
                note,
                self.env.uid,
                self.id,
                REVERSAL_HOLD,
                SQL(LIVE_REVERSAL_SQL),
            )
        )
        released = bool(self.env.cr.fetchone())
        self.invalidate_recordset()
        if released:
            _logger.info("M-Pesa payment %s: its reversal was not made, unclaimed again", self.id)
        return released

    # ================================================================== release

    def _claim_may_release(self, pos_config):
        """The till holding the claim, or a POS manager."""
        self.ensure_one()
        if self.env.user.has_group(MANAGER_GROUP):
            return True
        holder = self.claim_config_id
        return bool(holder and pos_config and holder == pos_config)

    def _claim_release(self, pos_config=None, by_manager=False):
        """Make a claimed but unlinked payment matchable again (the till dropped the line)."""
        self.ensure_one()
        if not self.is_claimed:
            raise UserError(self.env._("%(name)s is not claimed.", name=self.name))
        if self.pos_payment_id:
            raise UserError(
                self.env._("%(name)s is linked to a POS payment and cannot be released.", name=self.name)
            )
        if self.claim_order_key == REVERSAL_HOLD:
            raise UserError(
                self.env._(
                    "%(name)s is being sent back to the payer by an M-Pesa reversal, or was: it cannot be "
                    "released. If M-Pesa never answers, close the reversal request (M-Pesa Lookups and "
                    "Reversals): the payment is then unclaimed again.",
                    name=self.name,
                )
            )
        if not (by_manager and self.env.user.has_group(MANAGER_GROUP)) and not self._claim_may_release(
            pos_config
        ):
            raise UserError(self.env._("Only the till that took this payment, or a manager, can release it."))
        note = self._note_with(
            self.env._(
                "Claim for %(order)s released by %(user)s on %(date)s",
                order=self.claim_order_key,
                user=self.env.user.name,
                date=fields.Datetime.now(),
            )
        )
        self.flush_recordset()
        self.env.cr.execute(
            """UPDATE mpesa_callback
                  SET is_claimed = FALSE, claim_date = NULL, claimed_by_id = NULL,
                      claim_order_key = NULL, pos_order_id = NULL, claim_config_id = NULL,
                      claim_session_id = NULL, stk_abandoned = TRUE, note = %s,
                      write_uid = %s, write_date = now() at time zone 'UTC'
                WHERE id = %s AND is_claimed AND pos_payment_id IS NULL
                  AND claim_order_key IS DISTINCT FROM %s
            RETURNING id""",
            (note, self.env.uid, self.id, REVERSAL_HOLD),
        )
        released = bool(self.env.cr.fetchone())
        self.invalidate_recordset()
        if not released:
            raise UserError(self.env._("%(name)s changed meanwhile: reload and try again.", name=self.name))
        return True

    # ================================================================== link to the pos.payment

    @api.model
    def _claim_row_for_payment(self, payment):
        """The M-Pesa row a synced payment line refers to (by id, CheckoutRequestID or receipt)."""
        Callback = self.sudo()
        if payment.mpesa_callback_id:
            return payment.sudo().mpesa_callback_id
        if payment.mpesa_checkout_request_id:
            return Callback.search(
                [
                    ("checkout_request_id", "=", payment.mpesa_checkout_request_id),
                    ("callback_type", "=", "stk"),
                ],
                limit=1,
            )
        if payment.mpesa_receipt_number:
            return Callback.search(
                [
                    ("mpesa_receipt_number", "=", payment.mpesa_receipt_number),
                    *LIVE_PAYMENT_DOMAIN,
                ],
                limit=1,
            )
        return Callback

    def _claim_link_payment(self, payment):
        """The order reached the server: its payment line gets the row it claimed.

        The row must be claimed for this order, or be free (a till that was offline): a payment line
        never takes money another order owns. Refusing raises, so the order does not sync with money
        it does not have.
        """
        self.ensure_one()
        if self.pos_payment_id == payment:
            return True
        self._lock_row()
        order = payment.pos_order_id
        refs = [ref for ref in (order.uuid, str(order.id), order.pos_reference, order.name) if ref]
        own_stk = self.callback_type == "stk" and self._stk_order_key() in refs
        free = (
            not self.is_claimed
            and self._is_live_payment()
            and (own_stk or not self._claim_reserved_for_pusher())
        )
        if self.config_id not in self._claim_accounts(order.config_id):
            _logger.warning(
                "POS payment %s refers to M-Pesa row %s of another account: refused", payment.id, self.id
            )
            raise ValidationError(str(MSG_OTHER_ACCOUNT))
        if (
            self.company_id != order.company_id
            or self.pos_payment_id
            or not (self._claim_is_for(refs) or free)
        ):
            _logger.warning(
                "POS payment %s refers to M-Pesa row %s owned by another order: refused", payment.id, self.id
            )
            raise ValidationError(
                self.env._(
                    "M-Pesa payment %(name)s belongs to another order: it cannot pay %(order)s.",
                    name=self.name,
                    order=order.pos_reference or order.name,
                )
            )
        order_key = self.claim_order_key if self._claim_is_for(refs) else (order.uuid or str(order.id))
        self.flush_recordset()
        self.env.cr.execute(
            SQL(
                """UPDATE mpesa_callback
                  SET is_claimed = TRUE,
                      claim_date = COALESCE(claim_date, now() at time zone 'UTC'),
                      claimed_by_id = COALESCE(claimed_by_id, %s),
                      claim_order_key = %s, pos_order_id = %s, pos_payment_id = %s,
                      claim_config_id = COALESCE(claim_config_id, %s),
                      claim_session_id = COALESCE(claim_session_id, %s),
                      write_uid = %s, write_date = now() at time zone 'UTC'
                WHERE id = %s AND pos_payment_id IS NULL AND %s
            RETURNING id""",
                self.env.uid,
                order_key,
                order.id,
                payment.id,
                order.config_id.id or None,
                order.session_id.id or None,
                self.env.uid,
                self.id,
                LIVE_PAYMENT,
            ),
        )
        linked = bool(self.env.cr.fetchone())
        self.invalidate_recordset()
        return linked
