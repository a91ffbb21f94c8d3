import {onMounted, onWillUnmount} from "@odoo/owl";
import {_t} from "@web/core/l10n/translation";
import {patch} from "@web/core/utils/patch";
import {PaymentScreen} from "@point_of_sale/app/screens/payment_screen/payment_screen";

const OPEN = ["pending", "retry"];
const IN_FLIGHT = ["waiting", "waitingCard", "waitingCancel"];

patch(PaymentScreen.prototype, {
    setup() {
        super.setup(...arguments);
        onMounted(() => {
            this.mpesaMounted = true;
            this.mpesaResumePending();
        });
        onWillUnmount(() => (this.mpesaMounted = false));
    },

    /** The M-Pesa line that has not been sent yet (Validate starts its flow). */
    mpesaOpenLine() {
        return this.paymentLines.find(
            (line) => line.isMpesa() && OPEN.includes(line.getPaymentStatus()) && line.amount !== 0
        );
    },

    /** Validate is offered when the unsent M-Pesa line would complete the payment. */
    mpesaCanValidate() {
        const order = this.currentOrder;
        const line = this.mpesaOpenLine();
        return Boolean(
            line &&
            !order.isRefund &&
            order.currency.round(order.remainingDue - line.amount) <= 0 &&
            order._isValidEmptyOrder() &&
            !order.isCustomerRequired
        );
    },

    async validateOrder(isForceValidate) {
        const line = this.mpesaOpenLine();
        if (line && !this.currentOrder.isRefund) {
            // Validate sends the STK push or searches the C2B payments first
            if (!(await this.mpesaPay(line))) {
                return;
            }
        }
        return super.validateOrder(...arguments);
    },

    async sendPaymentRequest(line) {
        if (
            line.isMpesa() &&
            (this.pos.paymentTerminalInProgress || !OPEN.includes(line.getPaymentStatus()))
        ) {
            return; // a second click while a request is running never sends a second one
        }
        return super.sendPaymentRequest(...arguments);
    },

    /** Cancel pressed while the customer's payment arrived: core would reset a paid line. */
    async sendPaymentCancel(line) {
        await super.sendPaymentCancel(...arguments);
        if (line.isMpesa() && line.getMpesaState().mpesaPaid) {
            line.setPaymentStatus("done");
        }
    },

    /** core sendPaymentRequest without its auto-validation: validateOrder continues itself */
    async mpesaPay(line) {
        if (this.pos.paymentTerminalInProgress) {
            return false;
        }
        this.pos.paymentTerminalInProgress = true;
        this.numberBuffer.capture();
        this.paymentLines.forEach((l) => (l.can_be_reversed = false));
        try {
            return await line.pay();
        } finally {
            this.pos.paymentTerminalInProgress = false;
        }
    },

    /** After a reload: pick up the STK payments that were waiting for the customer (like pos_adyen). */
    mpesaResumePending() {
        for (const line of this.paymentLines) {
            if (!line.isMpesa() || !IN_FLIGHT.includes(line.getPaymentStatus())) {
                continue;
            }
            const terminal = line.payment_method_id.payment_terminal;
            if (terminal.waiters[line.uuid]) {
                continue; // still waiting in this page
            }
            const reversal = line.isMpesaReversal();
            const sent = reversal
                ? line.getMpesaState().mpesaReversalId
                : line.getMpesaState().mpesaCodeId || line.mpesa_checkout_request_id;
            if (!sent) {
                // reloaded before the server answered: a push may or may not have reached the
                // phone; a reversal can be sent again (the server reverses a payment once)
                const message = reversal
                    ? _t(
                          "The POS was reloaded while sending the reversal. Send it again: M-Pesa reverses a payment only once."
                      )
                    : _t(
                          "The POS was reloaded while sending. Check the customer's phone before sending again."
                      );
                line.setPaymentStatus("retry");
                line.setMpesaState({mpesaMessage: message});
                continue;
            }
            line.setPaymentStatus("waitingCard");
            terminal.waitForResult(line, {immediate: true}).then((isPaid) => {
                if (!line.pos_order_id?.payment_ids.includes(line)) {
                    return;
                }
                line.handlePaymentResponse(isPaid);
                const order = line.pos_order_id;
                if (
                    isPaid &&
                    this.mpesaMounted &&
                    order.isPaid() &&
                    this.pos.config.auto_validate_terminal_payment
                ) {
                    this.validateOrder(false);
                }
            });
        }
    },
});
