import {PosPayment} from "@point_of_sale/app/models/pos_payment";
import {patch} from "@web/core/utils/patch";

const MPESA_DEFAULT_STATE = {
    mpesaStk: false,
    mpesaDeadline: 0,
    mpesaMessage: "",
    mpesaPaid: false,
    mpesaReversalId: 0, // the reversal this refund line sent (mpesa.daraja.request id)
    mpesaCodeMode: "", // "account" or "qr": what the line's next send asks for
    mpesaCodeId: 0, // the pay-to-account code / Dynamic QR the line waits on (mpesa.account.code id)
    mpesaCode: "",
    mpesaShortcode: "",
    mpesaQrImage: "", // base64 PNG, while waiting
};

// The line's M-Pesa state that is not sent to the server but must survive a reload
// (uiState is stored with the order in IndexedDB). Methods, not getters: the POS
// caches model getters.
patch(PosPayment.prototype, {
    initState() {
        super.initState(...arguments);
        this.uiState = {...(this.uiState || {}), ...MPESA_DEFAULT_STATE};
    },
    isMpesa() {
        return this.payment_method_id?.use_payment_terminal === "mpesa";
    },
    /** A negative M-Pesa line of a refund order: the money goes back by an M-Pesa Reversal. */
    isMpesaReversal() {
        return this.isMpesa() && Boolean(this.pos_order_id?.isRefund) && this.amount < 0;
    },
    /** STK push (toggle ON) or C2B matching (toggle OFF, the default). */
    isMpesaStk() {
        return Boolean(this.uiState?.mpesaStk);
    },
    getMpesaState() {
        return {...MPESA_DEFAULT_STATE, ...(this.uiState || {})};
    },
    setMpesaState(values) {
        this.uiState = {...(this.uiState || {}), ...values};
    },
});
