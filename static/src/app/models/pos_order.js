import {PosOrder} from "@point_of_sale/app/models/pos_order";
import {patch} from "@web/core/utils/patch";

patch(PosOrder.prototype, {
    /**
     * Odoo leaves a terminal's line of a refund order without a status (its own Refund button
     * sends it, the amount locked). An M-Pesa line of a refund starts "pending" like any M-Pesa
     * line: the cashier can still set its amount (M-Pesa reverses whole payments only) and sends
     * it with the line's own button (Reverse on M-Pesa).
     */
    addPaymentline(paymentMethod) {
        const result = super.addPaymentline(...arguments);
        if (
            result.status &&
            this.isRefund &&
            paymentMethod.use_payment_terminal === "mpesa" &&
            !result.data.getPaymentStatus()
        ) {
            result.data.setPaymentStatus("pending");
        }
        return result;
    },
});
