/* global posmodel */
import * as Chrome from "@point_of_sale/../tests/pos/tours/utils/chrome_util";
import * as ProductScreen from "@point_of_sale/../tests/pos/tours/utils/product_screen_util";
import * as PaymentScreen from "@point_of_sale/../tests/pos/tours/utils/payment_screen_util";
import * as ReceiptScreen from "@point_of_sale/../tests/pos/tours/utils/receipt_screen_util";
import * as Mpesa from "@pos_mpesa/../tests/tours/utils/mpesa_util";
import {registry} from "@web/core/registry";

// The C2B popup's search and several payments for one order; pay to account; Dynamic QR.
// The payments are posted by the test (tests/test_pos_mpesa_till_tours.py).

function toPayment() {
    return [
        Chrome.startPoS(),
        {trigger: ".modal .btn:contains('Open Register')", run: "click"},
        ProductScreen.addOrderline("M-Pesa Soap"),
        ProductScreen.clickPayButton(),
        PaymentScreen.clickPaymentMethod("M-Pesa"),
        {
            content: "C2B mode (toggle OFF)",
            trigger:
                ".mpesa-line-status:has(.mpesa-stk-toggle:not(:checked)) .mpesa-send:contains('Find Payment')",
        },
    ].flat();
}

function findPayment() {
    return [toPayment(), PaymentScreen.clickValidate()].flat();
}

function r(receipt, extra = "") {
    return `.mpesa-payment-row[data-receipt='${receipt}']${extra}`;
}

function row(receipt, extra = "") {
    return `.modal ${r(receipt, extra)}`;
}

function tick(receipt) {
    return [
        {content: `tick ${receipt}`, trigger: row(receipt), run: "click"},
        {content: `${receipt} ticked`, trigger: row(receipt, ".selected")},
    ];
}

function search(text) {
    return {
        content: `search "${text}"`,
        trigger: ".modal .mpesa-search-input",
        run: `edit ${text}`,
    };
}

function confirm() {
    return {content: "confirm", trigger: ".modal .mpesa-confirm-payment:enabled", run: "click"};
}

registry.category("web_tour.tours").add("PosMpesaTillTwoPaymentsTour", {
    steps: () =>
        [
            findPayment(),
            {
                content: "none of 100: the popup lists all amounts (60 + 40 could pay it)",
                trigger: ".modal .mpesa-all-amounts:checked",
            },
            {
                content: "the 60",
                trigger: row("RPART00060", ":has(.mpesa-amount:contains('60.00'))"),
            },
            {
                content: "the 40",
                trigger: row("RPART00040", ":has(.mpesa-amount:contains('40.00'))"),
            },
            {content: "another payment", trigger: row("ROTHER0250")},
            tick("RPART00060"),
            {
                content: "60 of 100: not yet",
                trigger: ".modal .mpesa-selected-total:contains('60.00'):contains('100.00')",
            },
            {trigger: ".modal .mpesa-confirm-payment:disabled"},
            tick("ROTHER0250"),
            {content: "310 is too much", trigger: ".modal .mpesa-selected-total.text-danger"},
            {trigger: ".modal .mpesa-confirm-payment:disabled"},
            {content: "untick", trigger: row("ROTHER0250"), run: "click"},
            {trigger: row("ROTHER0250", ":not(.selected)")},
            tick("RPART00040"),
            {
                content: "60 + 40 = 100",
                trigger: ".modal .mpesa-selected-total.text-success:contains('100.00')",
            },
            confirm(),
            ReceiptScreen.isShown(),
        ].flat(),
});

registry.category("web_tour.tours").add("PosMpesaTillSearchTour", {
    steps: () =>
        [
            findPayment(),
            {trigger: row("RSRCH00001")},
            {trigger: row("RSRCH00002")},
            {trigger: row("RSRCH00003")},
            search("5 55"), // phone digits, spaces ignored
            {
                content: "only the payment from ...555",
                trigger: `.modal .mpesa-payment-table:has(${r("RSRCH00002")}):not(:has(${r("RSRCH00001")})):not(:has(${r("RSRCH00003")}))`,
            },
            search("mary"), // a name
            {
                content: "only Mary's",
                trigger: `.modal .mpesa-payment-table:has(${r("RSRCH00003")}):not(:has(${r("RSRCH00002")}))`,
            },
            search("rsrch00001"), // a receipt code
            {
                content: "only that receipt",
                trigger: `.modal .mpesa-payment-table:has(${r("RSRCH00001")}):not(:has(${r("RSRCH00003")}))`,
            },
            {trigger: ".modal .mpesa-search-hint:contains('RSRCH00001')"},
            tick("RSRCH00001"),
            confirm(),
            ReceiptScreen.isShown(),
            Mpesa.receiptShowsMpesaNumber("RSRCH00001"),
        ].flat(),
});

registry.category("web_tour.tours").add("PosMpesaTillLookupTour", {
    steps: () =>
        [
            findPayment(),
            {trigger: row("RKNOWN0001")},
            search("SLOST7K001"), // paid, but Odoo never received it
            {
                content: "M-Pesa is asked",
                trigger: ".modal .mpesa-lookup:contains('Asking M-Pesa')",
            },
            {
                content: "the payment M-Pesa found is offered, marked as recovered",
                trigger: row("SLOST7K001", ":has(.mpesa-recovered)"),
                timeout: 30000,
            },
            {trigger: ".modal:not(:has(.mpesa-lookup))"},
            tick("SLOST7K001"),
            confirm(),
            ReceiptScreen.isShown(),
            Mpesa.receiptShowsMpesaNumber("SLOST7K001"),
        ].flat(),
});

registry.category("web_tour.tours").add("PosMpesaTillTakenWhileTickedTour", {
    steps: () =>
        [
            findPayment(),
            {trigger: ".modal .mpesa-all-amounts:checked"},
            tick("RTAKEN0060"),
            // searching for the second payment: another till takes the first meanwhile
            search("jane"),
            {
                content: "the ticked payment stays listed while searching",
                trigger: `.modal .mpesa-payment-table:has(${r("RTAKEN0060", ".selected")}):has(${r("RJANE00040")}):not(:has(${r("RMORE00060")}))`,
            },
            tick("RJANE00040"),
            {trigger: ".modal .mpesa-selected-total.text-success"},
            confirm(),
            {
                content: "the cashier is told another till took one",
                trigger: ".modal .mpesa-select-error:contains('already reconciled')",
            },
            {
                content: "the list is refreshed: it is gone, the other stays ticked",
                trigger: `.modal .mpesa-payment-table:not(:has(${r("RTAKEN0060")})):has(${r("RJANE00040", ".selected")})`,
            },
            {trigger: ".modal .mpesa-confirm-payment:disabled"},
            tick("RMORE00060"),
            confirm(),
            ReceiptScreen.isShown(),
        ].flat(),
});

function payWithCode(button) {
    return [
        toPayment(),
        {content: button, trigger: `.mpesa-line-status .${button}`, run: "click"},
    ].flat();
}

registry.category("web_tour.tours").add("PosMpesaTillPayToAccountTour", {
    steps: () =>
        [
            payWithCode("mpesa-pay-account"),
            {
                content: "the paybill and the account code, big",
                trigger:
                    ".mpesa-line-status .mpesa-pay-to:contains('Pay to paybill'):has(.mpesa-shortcode:contains('600984')):has(.mpesa-account-code)",
            },
            {content: "waiting, with Cancel", trigger: ".mpesa-line-status .send_payment_cancel"},
            // the customer pays with the code as account number: the order completes by itself
            {...ReceiptScreen.isShown()[0], timeout: 30000},
            Mpesa.receiptShowsMpesaNumber("RCODE00100"),
        ].flat(),
});

registry.category("web_tour.tours").add("PosMpesaTillAccountMismatchTour", {
    steps: () =>
        [
            payWithCode("mpesa-pay-account"),
            {trigger: ".mpesa-line-status .mpesa-account-code"},
            {
                content: "right code, other amount: the cashier is told, the line keeps waiting",
                trigger:
                    ".mpesa-line-status:has(.mpesa-code-wait) .mpesa-line-message:contains('RCODE00090')",
                timeout: 30000,
            },
            {trigger: ".mpesa-line-status .send_payment_cancel", run: "click"},
            {
                content: "the line is open again",
                trigger: ".mpesa-line-status .mpesa-send:contains('Find Payment')",
            },
            PaymentScreen.clickPaymentlineDelButton("M-Pesa", "100.00"),
            PaymentScreen.clickPaymentMethod("Bank"),
            PaymentScreen.clickValidate(),
            ReceiptScreen.isShown(),
        ].flat(),
});

registry.category("web_tour.tours").add("PosMpesaTillQrTour", {
    steps: () =>
        [
            payWithCode("mpesa-show-qr"),
            {
                content: "the QR is shown on the line",
                trigger: ".mpesa-line-status img.mpesa-qr-image[src^='data:image/png;base64,']",
            },
            {trigger: ".mpesa-line-status .mpesa-account-code"},
            {
                content:
                    "the customer display is given the QR (Odoo's own customer-facing QR dialog)",
                trigger: ".mpesa-line-status img.mpesa-qr-image",
                run: () => {
                    const line = posmodel.getOrder().getSelectedPaymentline();
                    if (!line.qrPaymentData?.qrCode?.startsWith("data:image/png;base64,")) {
                        throw new Error("no QR for the customer display");
                    }
                },
            },
            // the customer scans it and pays: the order completes by itself
            {...ReceiptScreen.isShown()[0], timeout: 30000},
            Mpesa.receiptShowsMpesaNumber(),
        ].flat(),
});
