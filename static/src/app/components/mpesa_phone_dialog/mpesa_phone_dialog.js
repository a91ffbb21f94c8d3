import {Component, useState, useRef, onMounted} from "@odoo/owl";
import {Dialog} from "@web/core/dialog/dialog";
import {_t} from "@web/core/l10n/translation";
import {normalizeMpesaPhone} from "@pos_mpesa/utils/phone";

/** Asks for the customer's M-Pesa number before an STK push; answers with 2547XXXXXXXX. */
export class MpesaPhoneDialog extends Component {
    static template = "pos_mpesa.MpesaPhoneDialog";
    static components = {Dialog};
    static props = {
        amount: String,
        defaultPhone: {type: String, optional: true},
        getPayload: Function,
        close: Function,
    };

    setup() {
        this.state = useState({phone: this.props.defaultPhone || "", error: "", sent: false});
        this.inputRef = useRef("phone");
        onMounted(() => this.inputRef.el?.focus());
    }

    onInput(ev) {
        this.state.phone = ev.target.value;
        this.state.error = "";
    }

    onKeydown(ev) {
        if (ev.key === "Enter") {
            this.confirm();
        }
    }

    confirm() {
        if (this.state.sent) {
            return; // a second click must not send a second push
        }
        const phone = normalizeMpesaPhone(this.state.phone);
        if (!phone) {
            this.state.error = _t(
                "Invalid phone number. Enter a Safaricom number as 07XXXXXXXX or 01XXXXXXXX (or +2547XXXXXXXX / +2541XXXXXXXX)."
            );
            return;
        }
        this.state.sent = true;
        this.props.getPayload(phone);
        this.props.close();
    }
}
