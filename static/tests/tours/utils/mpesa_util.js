/* global posmodel */
import {rpc} from "@web/core/network/rpc";

export function toggleStk() {
    return [
        {
            content: "turn the STK Push toggle ON",
            trigger: ".mpesa-line-status .mpesa-stk-toggle:not(:checked)",
            run: "click",
        },
        {
            content: "STK mode shown",
            trigger: ".mpesa-line-status .mpesa-send:contains('Send STK Push')",
        },
    ];
}

export function enterPhone(phone) {
    return [
        {content: "phone dialog open", trigger: ".modal .modal-title:contains('M-Pesa STK Push')"},
        {content: `type ${phone}`, trigger: ".modal .mpesa-phone-input", run: `edit ${phone}`},
        {content: "send the STK push", trigger: ".modal .mpesa-send-stk", run: "click"},
    ];
}

export function phonePrefilled(phone) {
    return [
        {
            content: `phone prefilled with ${phone}`,
            trigger: ".modal .mpesa-phone-input",
            run: () => {
                const value = document.querySelector(".modal .mpesa-phone-input").value;
                if (value.replace(/\s/g, "") !== phone) {
                    throw new Error(`phone prefilled with "${value}", expected ${phone}`);
                }
            },
        },
    ];
}

export function isWaitingForCustomer() {
    return [
        {
            content: "the line says the customer is being asked, with a countdown",
            trigger: ".mpesa-line-status .mpesa-waiting:has(.mpesa-countdown:contains(' s'))",
        },
        {
            content: "and offers Cancel",
            trigger: ".mpesa-line-status .send_payment_cancel",
        },
    ];
}

export function failureIs(message) {
    return [
        {
            content: `"${message}" shown to the cashier`,
            trigger: `.modal .modal-title:contains('M-Pesa payment not received')`,
        },
        {content: "with the reason", trigger: `.modal .modal-body:contains('${message}')`},
        {content: "close", trigger: ".modal .modal-footer .btn-primary", run: "click"},
        {
            content: "the line keeps the reason and offers to resend",
            trigger: `.mpesa-line-status:has(.mpesa-line-message:contains('${message}')) .mpesa-send:contains('Resend STK Push')`,
        },
    ];
}

export function selectPayment(receipt) {
    return [
        {
            content: `select payment ${receipt}`,
            trigger: `.modal .mpesa-payment-row[data-receipt='${receipt}']`,
            run: "click",
        },
        {
            content: "selected",
            trigger: `.modal .mpesa-payment-row.selected[data-receipt='${receipt}']`,
        },
        {content: "confirm", trigger: ".modal .mpesa-confirm-payment:enabled", run: "click"},
    ];
}

export function receiptShowsMpesaNumber(receipt = "") {
    return [
        {
            content: "the customer receipt shows the M-Pesa receipt number",
            trigger: `.receipt-screen .pos-receipt .mpesa-receipt-number:contains('M-Pesa receipt: ${receipt}')`,
        },
    ];
}

/** Another till claims this payment through the same route, for another order. */
export function otherTillTakes(receipt) {
    return [
        {
            content: `another till takes ${receipt}`,
            trigger: `.modal .mpesa-payment-row[data-receipt='${receipt}']`,
            run: async () => {
                const method = posmodel.config.payment_method_ids.find(
                    (pm) => pm.use_payment_terminal === "mpesa"
                );
                const found = await rpc("/mpesa/search_unreconciled_callbacks", {
                    amount: 100,
                    payment_method_id: method.id,
                });
                const callback = found.callbacks.find((cb) => cb.mpesa_receipt_number === receipt);
                const claimed = await rpc("/mpesa/reconcile_callback", {
                    callback_id: callback.id,
                    order_id: "0b0e6c1e-0000-4000-8000-00000000a11a",
                    payment_method_id: method.id,
                });
                if (!claimed.success) {
                    throw new Error(`other till could not claim ${receipt}: ${claimed.message}`);
                }
            },
        },
    ];
}

/** A refund order's M-Pesa line: a reversal, with no STK/C2B toggle. */
export function reverseOnMpesa() {
    return [
        {
            content: "the refund line offers a reversal, without the STK/C2B toggle",
            trigger:
                ".mpesa-line-status:not(:has(.mpesa-stk-toggle)) .mpesa-reverse:contains('Reverse on M-Pesa')",
        },
        {
            content: "nothing to validate before the money went back",
            trigger: ".payment-screen .validation-button.disabled",
        },
        {
            content: "Reverse on M-Pesa",
            trigger: ".mpesa-line-status .mpesa-reverse",
            run: "click",
        },
    ];
}

export function reversedIs(message) {
    return [
        {
            content: `the line is done: "${message}"`,
            trigger: `.mpesa-line-status[data-status='done'] .mpesa-reversal-done:contains('${message}')`,
        },
    ];
}

export function validateRefund() {
    return [
        {
            content: "the refund can be validated",
            trigger: ".payment-screen .validation-button.highlight",
            run: "click",
        },
    ];
}

export function reversalRefusedWith(message) {
    return [
        {
            content: "the server's refusal is shown",
            trigger: `.modal .modal-body:contains('${message}')`,
        },
        {content: "close", trigger: ".modal .modal-footer .btn-primary", run: "click"},
        {
            content: "the line keeps the reason and offers to send again",
            trigger: `.mpesa-line-status:has(.mpesa-line-message:contains('${message}')) .mpesa-reverse:contains('Reverse on M-Pesa')`,
        },
    ];
}

export function receiptShowsReversal() {
    return [
        {
            content: "the customer receipt shows the reversal",
            trigger:
                ".receipt-screen .pos-receipt .mpesa-reversal-receipt:contains('M-Pesa reversal:')",
        },
    ];
}
