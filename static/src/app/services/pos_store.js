import {EventBus, markRaw} from "@odoo/owl";
import {patch} from "@web/core/utils/patch";
import {PosStore} from "@point_of_sale/app/services/pos_store";

patch(PosStore.prototype, {
    async setup() {
        await super.setup(...arguments);
        // C2B arrivals, for the payment selection popup while it is open
        this.mpesaEvents = markRaw(new EventBus());
        this.data.connectWebSocket("MPESA_PAYMENT_STATUS", (payload) => {
            const line = this.models["pos.payment"].find(
                (l) => l.isMpesa() && l.mpesa_checkout_request_id === payload?.checkout_request_id
            );
            line?.payment_method_id.payment_terminal?.handleStatusPush(payload);
        });
        this.data.connectWebSocket("MPESA_REVERSAL_RESULT", (payload) => {
            const line = this.models["pos.payment"].find(
                (l) => l.isMpesa() && l.getMpesaState().mpesaReversalId === payload?.reversal_id
            );
            line?.payment_method_id.payment_terminal?.handleReversalPush(payload);
        });
        // a pay-to-account code or Dynamic QR was paid (or paid with another amount)
        for (const type of ["MPESA_CODE_PAID", "MPESA_CODE_MISMATCH"]) {
            this.data.connectWebSocket(type, (payload) => {
                const line = this.models["pos.payment"].find(
                    (l) => l.isMpesa() && l.getMpesaState().mpesaCodeId === payload?.code_id
                );
                line?.payment_method_id.payment_terminal?.handleCodePush(payload);
            });
        }
        // the server sends this only to the tills whose payment methods use that account
        this.data.connectWebSocket("MPESA_C2B_RECEIVED", (payload) => {
            this.mpesaEvents.trigger("c2b-received", payload);
        });
    },
});
