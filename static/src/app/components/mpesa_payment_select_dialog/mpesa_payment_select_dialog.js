import {Component, useState} from "@odoo/owl";
import {Dialog} from "@web/core/dialog/dialog";
import {useBus} from "@web/core/utils/hooks";
import {_t} from "@web/core/l10n/translation";
import {formatMpesaTimestamp, displayMpesaPhone} from "@pos_mpesa/utils/phone";

/**
 * Lists the unmatched M-Pesa payments of the order's amount; the cashier picks the customer's.
 * The claim happens here so that a payment another till took first is reported in place
 * and the list refreshed. Answers {action: "claimed", callback, receipt_number} or
 * {action: "skip"} (Validate Without Matching Payment); closing answers nothing.
 */
export class MpesaPaymentSelectDialog extends Component {
    static template = "pos_mpesa.MpesaPaymentSelectDialog";
    static components = {Dialog};
    static props = {
        amount: String,
        amountValue: Number,
        windowMinutes: Number,
        callbacks: Array,
        search: Function,
        claim: Function,
        events: {type: Object, optional: true},
        getPayload: Function,
        close: Function,
    };

    setup() {
        this.state = useState({
            callbacks: this.props.callbacks,
            selectedId: null,
            error: "",
            busy: false,
        });
        if (this.props.events) {
            useBus(this.props.events, "c2b-received", (ev) => this.onPaymentReceived(ev.detail));
        }
    }

    get selected() {
        return this.state.callbacks.find((cb) => cb.id === this.state.selectedId);
    }

    formatTime(callback) {
        return formatMpesaTimestamp(callback.transaction_date) || callback.create_date || "";
    }

    formatPhone(callback) {
        return displayMpesaPhone(callback.phone_number);
    }

    select(callback) {
        if (!this.state.busy) {
            this.state.selectedId = callback.id;
            this.state.error = "";
        }
    }

    async onPaymentReceived(payload) {
        if (payload?.amount !== undefined && Number(payload.amount) !== this.props.amountValue) {
            return;
        }
        await this.refresh();
    }

    async refresh() {
        const result = await this.props.search();
        if (!result?.success) {
            this.state.error = result?.message || _t("Could not refresh the list of payments.");
            return;
        }
        this.state.callbacks = result.callbacks;
        if (!this.selected) {
            this.state.selectedId = null;
        }
    }

    async confirm() {
        const callback = this.selected;
        if (!callback || this.state.busy) {
            return;
        }
        this.state.busy = true;
        try {
            const result = await this.props.claim(callback);
            if (result?.success) {
                this.props.getPayload({
                    action: "claimed",
                    callback,
                    receipt_number: result.receipt_number || callback.mpesa_receipt_number,
                });
                this.props.close();
                return;
            }
            this.state.error = _t("%(message)s. Choose another payment.", {
                message: result?.message || _t("This payment could not be taken"),
            });
            this.state.selectedId = null;
            await this.refresh();
        } finally {
            this.state.busy = false;
        }
    }

    skip() {
        this.props.getPayload({action: "skip"});
        this.props.close();
    }
}
