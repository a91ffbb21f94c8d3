import {Component, useState, onMounted, onWillUnmount} from "@odoo/owl";
import {displayMpesaPhone} from "@pos_mpesa/utils/phone";

/**
 * What an M-Pesa payment line shows under its amount: the STK/C2B toggle and the
 * send button before sending, the countdown and Cancel while the customer is asked,
 * the receipt number once paid. A refund line (a reversal) has no toggle: Reverse on M-Pesa, then
 * M-Pesa's answer.
 */
export class MpesaLineStatus extends Component {
    static template = "pos_mpesa.MpesaLineStatus";
    static props = {
        line: Object,
        sendPaymentRequest: Function,
        sendPaymentCancel: Function,
        sendForceDone: Function,
    };

    setup() {
        this.state = useState({now: Date.now()});
        onMounted(() => {
            this.ticker = setInterval(() => (this.state.now = Date.now()), 1000);
        });
        onWillUnmount(() => clearInterval(this.ticker));
    }

    get status() {
        return this.props.line.getPaymentStatus();
    }

    get mpesa() {
        return this.props.line.getMpesaState();
    }

    get secondsLeft() {
        return Math.max(0, Math.ceil((this.mpesa.mpesaDeadline - this.state.now) / 1000));
    }

    get phone() {
        return displayMpesaPhone(this.props.line.mpesa_phone_number);
    }

    get toggleId() {
        return `mpesa_stk_${this.props.line.uuid}`;
    }

    onToggle(ev) {
        this.props.line.setMpesaState({mpesaStk: ev.target.checked, mpesaMessage: ""});
    }

    /** Pay to Account (the paybill with a code as account number) or Show QR (a Dynamic QR). */
    payWithCode(mode) {
        this.props.line.setMpesaState({mpesaCodeMode: mode, mpesaMessage: ""});
        this.props.sendPaymentRequest(this.props.line);
    }

    validateUnmatched() {
        const line = this.props.line;
        line.payment_method_id.payment_terminal.acceptUnmatched(line);
        this.props.sendForceDone(line);
    }
}
