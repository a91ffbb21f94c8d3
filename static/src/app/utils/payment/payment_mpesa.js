import {_t} from "@web/core/l10n/translation";
import {rpc} from "@web/core/network/rpc";
import {AlertDialog} from "@web/core/confirmation_dialog/confirmation_dialog";
import {PaymentInterface} from "@point_of_sale/app/utils/payment/payment_interface";
import {register_payment_method} from "@point_of_sale/app/services/pos_store";
import {ask, makeAwaitable} from "@point_of_sale/app/utils/make_awaitable_dialog";
import {MpesaPhoneDialog} from "@pos_mpesa/app/components/mpesa_phone_dialog/mpesa_phone_dialog";
import {MpesaPaymentSelectDialog} from "@pos_mpesa/app/components/mpesa_payment_select_dialog/mpesa_payment_select_dialog";
import {checkMpesaAmount, displayMpesaPhone, MPESA_MAX_AMOUNT} from "@pos_mpesa/utils/phone";
import {refundedOrder} from "@pos_mpesa/utils/refund";
import {couldMakeUp} from "@pos_mpesa/utils/till_pay";

// The till waits 75 s for the customer's PIN (the server answers "timeout" after that).
export const STK_WAIT_MS = 75000;
// A reversal's result usually comes within seconds; M-Pesa has no deadline of its own for it, so the
// till waits this long (plus NO_ANSWER_GRACE_MS) and the cashier can check again afterwards.
export const REVERSAL_WAIT_MS = 60000;
// A pay-to-account code or Dynamic QR: the customer types or scans it on their phone.
export const CODE_WAIT_MS = 5 * 60000;
// The result normally arrives by bus push; polling is the fallback, quick first then slower.
const POLL_DELAYS_MS = [3000, 3000, 5000, 5000, 8000, 10000];
// With no final answer this long after the deadline, stop waiting.
const NO_ANSWER_GRACE_MS = 60000;
// What the till says when it stops waiting without a final answer, by kind of wait.
const NO_ANSWER = {
    stk: () =>
        _t(
            "No answer about this payment. Check the customer's M-Pesa message; if it was paid, switch the toggle OFF and Validate to find it."
        ),
    code: () =>
        _t(
            "No payment with this code yet. If the customer paid, switch to Find Payment and search their receipt code."
        ),
    reversal: () =>
        _t(
            "No answer from M-Pesa about this reversal yet. Do not refund this amount another way: press Check Reversal in a moment."
        ),
};
// Why a refund line cannot be reversed, found before asking the server (see refundedOrder).
const NOT_REVERSIBLE = {
    none: () =>
        _t("This refund is not linked to a paid order: refund it with another payment method."),
    several: () =>
        _t(
            "This refund takes back lines of several orders: refund each order on its own to reverse its M-Pesa payment."
        ),
    not_synced: () =>
        _t(
            "The refunded order is not on the server yet: reverse the payment once the POS is back online."
        ),
};

/**
 * M-Pesa at the till. One payment line runs one of two flows, chosen with the line's toggle:
 * STK push (ON): ask the customer's phone for the PIN, then wait for the result;
 * C2B (OFF, default): find the payment the customer already sent and claim it for this order.
 * On a refund order, a negative M-Pesa line is a Reversal instead: the customer's payment of the
 * refunded order goes back to their M-Pesa (the toggle does not apply).
 */
export class PaymentMpesa extends PaymentInterface {
    setup() {
        super.setup(...arguments);
        // Waits in progress, by payment line uuid: {kind: "stk", checkoutId} or
        // {kind: "reversal", reversalId}, with {promise, resolve, timer, settled}
        this.waiters = {};
    }

    /** The cashier picks STK or C2B on the line before anything is sent. */
    get fastPayments() {
        return false;
    }

    async sendPaymentRequest(uuid) {
        await super.sendPaymentRequest(...arguments);
        const line = this._findLine(uuid);
        if (!line) {
            return false;
        }
        if (line.isMpesaReversal()) {
            return this._reverse(line);
        }
        if (!this._checkAmount(line)) {
            return false;
        }
        const codeMode = line.getMpesaState().mpesaCodeMode;
        line.setMpesaState({mpesaMessage: "", mpesaCodeMode: ""});
        if (codeMode && !line.isMpesaStk()) {
            return this._codePay(line, codeMode === "qr");
        }
        return line.isMpesaStk() ? this._stkPay(line) : this._c2bPay(line);
    }

    /**
     * Resolves false (nothing cancelled) when the customer's payment arrived meanwhile: the line
     * is paid and stays paid, whichever of the cancel and the result reaches the till first.
     */
    async sendPaymentCancel(order, uuid) {
        await super.sendPaymentCancel(...arguments);
        const line = order.payment_ids.find((l) => l.uuid === uuid);
        const waiter = this.waiters[uuid];
        if (waiter?.kind === "reversal") {
            return false; // a reversal sent to M-Pesa cannot be called back
        }
        if (!line || !waiter) {
            return !line?.getMpesaState().mpesaPaid;
        }
        if (waiter.kind === "code") {
            return this._cancelCode(line, waiter);
        }
        const result = await this._rpc("/mpesa/cancel_stk", this._stkParams(line, waiter));
        if (waiter.settled) {
            return !line.getMpesaState().mpesaPaid; // the result came in while we asked
        }
        if (result.success && result.status === "completed") {
            this._settle(line, waiter, result); // paid before the cancel: the server kept it for us
            return false;
        }
        // The till stops waiting even if the server could not be told: a late payment is
        // stored anyway and can be found with the C2B search.
        const message = _t(
            "Payment request cancelled. If the customer pays anyway, switch the toggle OFF and Validate to find the payment."
        );
        this._settle(line, waiter, {status: "cancelled_at_till", message});
        return true;
    }

    /** Who asks about an STK push: only the till and the order it was sent for get an answer. */
    _stkParams(line, waiter) {
        return {
            checkout_request_id: waiter.checkoutId,
            pos_config_id: this.pos.config.id,
            order_uuid: line.pos_order_id?.uuid,
        };
    }

    // ------------------------------------------------------------------ STK push

    async _stkPay(line) {
        const order = line.pos_order_id;
        // the last number tried on this line, else the customer's
        const defaultPhone = displayMpesaPhone(
            line.mpesa_phone_number || order.getPartner()?.phone
        );
        const phone = await makeAwaitable(this.env.services.dialog, MpesaPhoneDialog, {
            amount: this.env.utils.formatCurrency(line.amount),
            defaultPhone,
        });
        if (!phone) {
            return false;
        }
        const result = await this._rpc("/mpesa/stk_push", {
            phone_number: phone,
            amount: Math.round(line.amount), // checked whole before: never rounds real cents
            order_reference: order.pos_reference || order.name || order.uuid,
            payment_method_id: this.payment_method_id.id,
            pos_config_id: this.pos.config.id,
            order_uuid: order.uuid, // the payment can only ever pay this order
        });
        if (!result.success) {
            this._fail(line, result.message || _t("The payment request was not sent."));
            return false;
        }
        line.mpesa_checkout_request_id = result.checkout_request_id;
        line.mpesa_phone_number = phone;
        line.setMpesaState({mpesaDeadline: Date.now() + STK_WAIT_MS, mpesaMessage: ""});
        line.setPaymentStatus("waitingCard");
        return this.waitForResult(line);
    }

    // ------------------------------------------------------------------ waiting for a result

    /**
     * Waits for the result of what the line sent (an STK push, or a reversal when the line holds
     * one): resolves true when the customer paid or got the money back, false otherwise. The result
     * normally comes by bus push; polling asks the server as fallback. Also used to resume the wait
     * after a reload of the POS (immediate: ask at once).
     */
    waitForResult(line, {immediate = false} = {}) {
        const existing = this.waiters[line.uuid];
        if (existing) {
            return existing.promise;
        }
        const {mpesaReversalId: reversalId, mpesaCodeId: codeId} = line.getMpesaState();
        let waiter = {kind: "stk", checkoutId: line.mpesa_checkout_request_id, settled: false};
        if (reversalId) {
            waiter = {kind: "reversal", reversalId, settled: false};
        } else if (codeId) {
            waiter = {kind: "code", codeId, settled: false};
        }
        waiter.promise = new Promise((resolve) => (waiter.resolve = resolve));
        this.waiters[line.uuid] = waiter;
        this._schedulePoll(line, waiter, immediate ? 0 : POLL_DELAYS_MS[0], 0);
        return waiter.promise;
    }

    /** Bus push MPESA_PAYMENT_STATUS from the server (see the PosStore patch). */
    async handleStatusPush(payload) {
        const line = this._findLineByCheckout(payload.checkout_request_id);
        const waiter = line && this.waiters[line.uuid];
        if (!waiter || waiter.settled || waiter.kind !== "stk" || payload.status === "pending") {
            return;
        }
        if (payload.status === "completed") {
            // check_status takes the payment for this till: ask it rather than trust the push alone
            clearTimeout(waiter.timer);
            await this._checkStatus(line, waiter, 0);
        } else {
            this._settle(line, waiter, payload);
        }
    }

    _schedulePoll(line, waiter, delay, attempt) {
        clearTimeout(waiter.timer);
        waiter.timer = setTimeout(() => this._checkStatus(line, waiter, attempt), delay);
    }

    async _checkStatus(line, waiter, attempt) {
        if (waiter.settled) {
            return;
        }
        if (!line.pos_order_id?.payment_ids.includes(line)) {
            this._settle(line, waiter, null); // the line was removed: nothing to wait for
            return;
        }
        const answer = await this._askStatus(line, waiter);
        if (waiter.settled) {
            return;
        }
        if (answer.success && !this._isStillWaiting(line, waiter, answer)) {
            this._settle(line, waiter, answer);
            return;
        }
        // Still pending, or no answer. An STK push times out on the server at the deadline; a
        // reversal may stay pending: either way the till stops waiting some time after it.
        const deadline = line.getMpesaState().mpesaDeadline || Date.now();
        const now = Date.now();
        if (now > deadline + NO_ANSWER_GRACE_MS) {
            if (waiter.kind === "code") {
                // a payment that came meanwhile is kept
                await this._cancelCode(line, waiter, NO_ANSWER.code());
                return;
            }
            this._settle(line, waiter, {status: "no_answer", message: NO_ANSWER[waiter.kind]()});
            return;
        }
        // Ask again, never later than the deadline (the server may answer timeout then).
        const backoff = POLL_DELAYS_MS[Math.min(attempt + 1, POLL_DELAYS_MS.length - 1)];
        const delay = deadline > now ? Math.min(backoff, deadline - now + 500) : backoff;
        this._schedulePoll(line, waiter, delay, attempt + 1);
    }

    /** The answer is not final yet (a code paid with the wrong amount keeps waiting). */
    _isStillWaiting(line, waiter, answer) {
        if (waiter.kind !== "code") {
            return answer.status === "pending";
        }
        if (answer.status === "mismatch") {
            line.setMpesaState({mpesaMessage: answer.message});
        }
        return ["waiting", "mismatch"].includes(answer.status);
    }

    _askStatus(line, waiter) {
        if (waiter.kind === "code") {
            return this._rpc("/mpesa/account_code_status", {
                code_id: waiter.codeId,
                pos_config_id: this.pos.config.id,
            });
        }
        if (waiter.kind === "reversal") {
            return this._rpc("/mpesa/reversal_status", {
                reversal_id: waiter.reversalId,
                pos_config_id: this.pos.config.id,
            });
        }
        return this._rpc("/mpesa/check_status", this._stkParams(line, waiter));
    }

    /** The wait is over (answer null: the line was removed); resolves it with the line's outcome. */
    _settle(line, waiter, answer) {
        waiter.settled = true;
        clearTimeout(waiter.timer);
        delete this.waiters[line.uuid];
        const results = {
            reversal: () => this._reversalResult(line, answer),
            code: () => this._codeResult(line, answer),
            stk: () => this._stkResult(line, answer),
        };
        const done = results[waiter.kind]();
        waiter.resolve(done);
    }

    /** Applies an STK push's final answer to the line; true when the customer paid. */
    _stkResult(line, answer) {
        if (answer?.status === "completed") {
            line.mpesa_receipt_number = answer.receipt_number || "";
            line.transaction_id = answer.receipt_number || line.transaction_id;
            const paid = answer.message; // the server's wording (daraja/results.py)
            // confirmed by the STK query only: no receipt number to show, so say it is paid
            line.setMpesaState({
                mpesaDeadline: 0,
                mpesaPaid: true,
                mpesaMessage: answer.receipt_number ? "" : paid,
            });
            this.env.services.notification.add(paid, {type: "success"});
            return true;
        }
        // A failed push keeps no reference: the line may later take a C2B payment instead.
        line.mpesa_checkout_request_id = "";
        line.setMpesaState({
            mpesaDeadline: 0,
            mpesaPaid: false,
            mpesaMessage: answer?.message || "",
        });
        if (answer && answer.status !== "cancelled_at_till") {
            this._showError(
                _t("%(message)s. Resend the request or choose another payment method.", {
                    message: (answer.message || _t("Payment failed")).replace(/[.!]$/, ""),
                }),
                _t("M-Pesa payment not received")
            );
        }
        return false;
    }

    // ------------------------------------------------------------------ pay to account, Dynamic QR

    /**
     * A code naming this order: the customer pays to the paybill with it as account number, or
     * scans the Dynamic QR that carries it (qr). The server claims the payment for the order the
     * moment it arrives; the till waits like for an STK push.
     */
    async _codePay(line, qr) {
        const result = await this._rpc("/mpesa/account_code", {
            amount: Math.round(line.amount), // checked whole before: never rounds real cents
            order_uuid: line.pos_order_id.uuid,
            payment_method_id: this.payment_method_id.id,
            pos_config_id: this.pos.config.id,
            qr,
        });
        if (!result.success) {
            this._fail(line, result.message || _t("No code could be made for this payment."));
            return false;
        }
        line.setMpesaState({
            mpesaCodeId: result.code_id,
            mpesaCode: result.code,
            mpesaShortcode: result.shortcode,
            mpesaQrImage: (qr && result.qr_image) || "",
            mpesaDeadline: Date.now() + CODE_WAIT_MS,
            mpesaMessage: "",
        });
        if (qr && result.qr_image) {
            // Odoo's customer display shows the selected line's QR (as for its own QR methods)
            line.qrPaymentData = {
                name: this.payment_method_id.name,
                amount: this.env.utils.formatCurrency(line.amount),
                qrCode: `data:image/png;base64,${result.qr_image}`,
            };
        }
        line.setPaymentStatus("waitingCard");
        return this.waitForResult(line);
    }

    /** The till stops waiting for a code; a payment that came meanwhile stays the order's. */
    async _cancelCode(line, waiter, message = "") {
        const answer = await this._rpc("/mpesa/account_code_cancel", {
            code_id: waiter.codeId,
            pos_config_id: this.pos.config.id,
        });
        if (waiter.settled) {
            return !line.getMpesaState().mpesaPaid;
        }
        if (answer.success && answer.status === "paid") {
            this._settle(line, waiter, answer);
            return false;
        }
        this._settle(line, waiter, {status: message ? "no_answer" : "cancelled_at_till", message});
        return true;
    }

    /** Bus push MPESA_CODE_PAID / MPESA_CODE_MISMATCH (see the PosStore patch). */
    handleCodePush(payload) {
        const line = this._findLineByCode(payload?.code_id);
        const waiter = line && this.waiters[line.uuid];
        if (!waiter || waiter.settled || waiter.kind !== "code") {
            return;
        }
        if (!this._isStillWaiting(line, waiter, payload)) {
            this._settle(line, waiter, payload);
        }
    }

    /** Applies a code's final answer to the line; true when the customer paid with it. */
    _codeResult(line, answer) {
        const state = {mpesaCodeId: 0, mpesaQrImage: "", mpesaDeadline: 0};
        line.qrPaymentData = null; // off the customer display
        if (answer?.status === "paid") {
            line.setMpesaState(state);
            this._markClaimed(line, answer);
            this.env.services.notification.add(answer.message, {type: "success"});
            return true;
        }
        line.setMpesaState({...state, mpesaMessage: answer?.message || ""});
        if (answer && !["cancelled_at_till", "no_answer"].includes(answer.status)) {
            this._showError(answer.message, _t("M-Pesa payment not received"));
        }
        return false;
    }

    _findLineByCode(codeId) {
        return (
            codeId &&
            this.pos.models["pos.payment"].find(
                (line) => line.isMpesa() && line.getMpesaState().mpesaCodeId === codeId
            )
        );
    }

    // ------------------------------------------------------------------ refund by Reversal

    /**
     * Sends the customer's M-Pesa payment of the refunded order back (the server picks the payment
     * of exactly this amount), then waits for M-Pesa's result. A line that already sent a reversal
     * whose result did not come in time asks about that one again (Check Reversal): never twice.
     */
    async _reverse(line) {
        const order = line.pos_order_id;
        let immediate = Boolean(line.getMpesaState().mpesaReversalId);
        line.setMpesaState({mpesaMessage: ""});
        if (!immediate) {
            const original = refundedOrder(order);
            if (!original.orderId) {
                this._fail(line, NOT_REVERSIBLE[original.problem]());
                return false;
            }
            const result = await this._rpc("/mpesa/reverse", {
                order_id: original.orderId,
                amount: -line.amount, // the server checks it is exactly one M-Pesa payment
                pos_config_id: this.pos.config.id,
                refund_order_uuid: order.uuid,
            });
            if (!result.success) {
                this._fail(line, result.message || _t("The reversal was not sent."));
                return false;
            }
            line.setMpesaState({mpesaReversalId: result.reversal_id, mpesaMessage: result.message});
            immediate = result.status !== "pending"; // answered already: take it at once
        }
        line.setMpesaState({mpesaDeadline: Date.now() + REVERSAL_WAIT_MS});
        line.setPaymentStatus("waitingCard");
        return this.waitForResult(line, {immediate});
    }

    /** Bus push MPESA_REVERSAL_RESULT: the server's final answer (see the PosStore patch). */
    handleReversalPush(payload) {
        const line = this._findLineByReversal(payload?.reversal_id);
        const waiter = line && this.waiters[line.uuid];
        if (
            !waiter ||
            waiter.settled ||
            waiter.kind !== "reversal" ||
            payload.status === "pending"
        ) {
            return;
        }
        this._settle(line, waiter, payload);
    }

    /** Applies a reversal's final answer to the line; true when the money went back. */
    _reversalResult(line, answer) {
        line.setMpesaState({mpesaDeadline: 0});
        if (!answer) {
            return false;
        }
        if (["reversed", "already_reversed"].includes(answer.status)) {
            line.setMpesaState({mpesaMessage: answer.message});
            if (answer.reversal_receipt && this.pos.models["pos.payment"].fields.transaction_id) {
                line.transaction_id = answer.reversal_receipt;
            }
            this.env.services.notification.add(answer.message, {type: "success"});
            return true;
        }
        if (answer.status !== "no_answer") {
            // refused or dropped by M-Pesa: nothing went back, the line may send a new reversal
            line.setMpesaState({mpesaReversalId: 0});
        }
        this._fail(line, answer.message);
        return false;
    }

    // ------------------------------------------------------------------ C2B matching

    async _c2bPay(line) {
        const order = line.pos_order_id;
        const amount = this.env.utils.formatCurrency(line.amount);
        const windowMinutes = this.payment_method_id.mpesa_match_window || 10;
        const target = {
            payment_method_id: this.payment_method_id.id,
            pos_config_id: this.pos.config.id,
        };
        // with a query (receipt code, phone digits, name): any amount; else the line's, or any
        const search = ({query = "", allAmounts = false} = {}) =>
            this._rpc("/mpesa/search_unreconciled_callbacks", {
                amount: query || allAmounts ? false : line.amount,
                max_age_minutes: windowMinutes,
                query: query || false,
                ...target,
            });
        let result = await search();
        if (!result.success) {
            this._fail(line, result.message || _t("Could not search for M-Pesa payments."));
            return false;
        }
        let allAmounts = false;
        if (!result.callbacks?.length) {
            // none of the amount: several smaller payments may make it up (one order, two phones)
            const any = await search({allAmounts: true});
            if (any.success && couldMakeUp(any.callbacks || [], line.amount)) {
                result = any;
                allAmounts = true;
            }
        }
        if (!result.callbacks?.length) {
            const validateAnyway = await ask(this.env.services.dialog, {
                title: _t("No M-Pesa Payment Found"),
                body: _t(
                    "No unmatched M-Pesa payment of %(amount)s was received in the last %(minutes)s minutes. Check the amount with the customer and try again, or validate without a matching payment.",
                    {amount, minutes: windowMinutes}
                ),
                confirmLabel: _t("Validate Anyway"),
                cancelLabel: _t("Cancel"),
            });
            if (!validateAnyway) {
                line.setMpesaState({mpesaMessage: _t("No M-Pesa payment found")});
                return false;
            }
            return this.acceptUnmatched(line);
        }
        const choice = await makeAwaitable(this.env.services.dialog, MpesaPaymentSelectDialog, {
            amount,
            amountValue: line.amount,
            windowMinutes,
            callbacks: result.callbacks,
            allAmounts,
            search,
            lookup: (lookupId) =>
                this._rpc("/mpesa/lookup_status", {lookup_id: lookupId, ...target}),
            claim: (callbacks) =>
                this._rpc("/mpesa/reconcile_callbacks", {
                    callback_ids: callbacks.map((cb) => cb.id),
                    amount: line.amount,
                    order_id: order.uuid, // the order is not on the server yet
                    ...target,
                }),
            formatAmount: (value) => this.env.utils.formatCurrency(value),
            events: this.pos.mpesaEvents,
        });
        if (!choice) {
            return false;
        }
        if (choice.action === "skip") {
            return this.acceptUnmatched(line);
        }
        this._takeClaimedPayments(line, choice.payments);
        const receipts = choice.payments.map((p) => p.receipt_number).join(", ");
        this.env.services.notification.add(_t("M-Pesa payment %s matched", receipts), {
            type: "success",
        });
        return true;
    }

    /**
     * The payments the server claimed for this order: the line takes the first; each other one
     * becomes an M-Pesa line of its own (one pos.payment per receipt, each linked on sync).
     */
    _takeClaimedPayments(line, payments) {
        const [first, ...others] = payments;
        if (others.length) {
            line.setAmount(first.amount);
        }
        this._markClaimed(line, first);
        for (const payment of others) {
            const extra = this.pos.models["pos.payment"].create({
                pos_order_id: line.pos_order_id,
                payment_method_id: line.payment_method_id,
            });
            extra.setAmount(payment.amount);
            this._markClaimed(extra, payment);
            extra.setPaymentStatus("done");
        }
    }

    /** A payment already claimed on the server for this order: the line only records which. */
    _markClaimed(line, payment) {
        line.mpesa_receipt_number = payment.receipt_number || "";
        line.transaction_id = payment.receipt_number || line.transaction_id;
        line.mpesa_phone_number = payment.phone_number || line.mpesa_phone_number || "";
        line.setMpesaState({mpesaPaid: true, mpesaMessage: ""});
    }

    /** "Validate Anyway" / "Validate Without Matching Payment": the cashier vouches for it. */
    acceptUnmatched(line) {
        line.setMpesaState({mpesaMessage: _t("Validated without a matching M-Pesa payment")});
        return true;
    }

    // ------------------------------------------------------------------ helpers

    _checkAmount(line) {
        let message = "";
        if (line.amount <= 0) {
            message = _t("M-Pesa payments are received only: refund with another payment method.");
        } else {
            const check = checkMpesaAmount(line.amount);
            if (check === "cents") {
                message = _t(
                    "M-Pesa takes whole shillings only: %(amount)s has cents. Change the M-Pesa amount to a whole number and pay the rest with another method.",
                    {amount: this.env.utils.formatCurrency(line.amount)}
                );
            } else if (check === "too_large") {
                message = _t("M-Pesa takes at most %(max)s per payment: split the payment.", {
                    max: this.env.utils.formatCurrency(MPESA_MAX_AMOUNT),
                });
            } else if (check !== "ok") {
                message = _t("The M-Pesa amount must be at least 1 shilling.");
            }
        }
        if (message) {
            line.setMpesaState({mpesaMessage: message});
            this._showError(message, _t("Amount not accepted by M-Pesa"));
            return false;
        }
        return true;
    }

    _findLine(uuid) {
        return this.pos.models["pos.payment"].find((line) => line.uuid === uuid);
    }

    _findLineByReversal(reversalId) {
        return (
            reversalId &&
            this.pos.models["pos.payment"].find(
                (line) => line.isMpesa() && line.getMpesaState().mpesaReversalId === reversalId
            )
        );
    }

    _findLineByCheckout(checkoutId) {
        return (
            checkoutId &&
            this.pos.models["pos.payment"].find(
                (line) => line.isMpesa() && line.mpesa_checkout_request_id === checkoutId
            )
        );
    }

    _fail(line, message) {
        line.setMpesaState({mpesaMessage: message});
        this._showError(message);
    }

    /** JSON-RPC to our routes; a lost connection becomes an ordinary {success: false}. */
    async _rpc(route, params) {
        try {
            return (await rpc(route, params, {silent: true})) || {success: false};
        } catch {
            return {
                success: false,
                network: true,
                message: _t(
                    "Could not reach the Odoo server. Check the connection; if a payment request was being sent, check the customer's phone before sending again."
                ),
            };
        }
    }

    _showError(body, title = _t("M-Pesa")) {
        this.env.services.dialog.add(AlertDialog, {title, body});
    }
}

register_payment_method("mpesa", PaymentMpesa);
