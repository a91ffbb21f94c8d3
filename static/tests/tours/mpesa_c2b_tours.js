import * as Chrome from "@point_of_sale/../tests/pos/tours/utils/chrome_util";
import * as ProductScreen from "@point_of_sale/../tests/pos/tours/utils/product_screen_util";
import * as PaymentScreen from "@point_of_sale/../tests/pos/tours/utils/payment_screen_util";
import * as ReceiptScreen from "@point_of_sale/../tests/pos/tours/utils/receipt_screen_util";
import * as Dialog from "@point_of_sale/../tests/generic_helpers/dialog_util";
import * as Mpesa from "@pos_mpesa/../tests/tours/utils/mpesa_util";
import {registry} from "@web/core/registry";

// The payments are posted by the test exactly as Safaricom posts C2B confirmations.

function startC2b() {
    return [
        Chrome.startPoS(),
        Dialog.confirm("Open Register"),
        ProductScreen.addOrderline("M-Pesa Soap"),
        ProductScreen.clickPayButton(),
        PaymentScreen.clickPaymentMethod("M-Pesa"),
        {
            content: "toggle OFF by default: C2B",
            trigger:
                ".mpesa-line-status:has(.mpesa-stk-toggle:not(:checked)) .mpesa-send:contains('Find Payment')",
        },
        PaymentScreen.clickValidate(),
    ].flat();
}

function popupLists(receipt, name) {
    return {
        content: `popup lists ${receipt} (${name})`,
        trigger: `.modal .mpesa-payment-row[data-receipt='${receipt}']:has(.mpesa-customer:contains('${name}')):has(.mpesa-time:contains('/'))`,
    };
}

registry.category("web_tour.tours").add("PosMpesaC2bOneFoundTour", {
    steps: () =>
        [
            startC2b(),
            Dialog.is({title: "Select M-Pesa Payment"}),
            popupLists("RKL51ZDR4F", "JOHN DOE"),
            {
                content: "with the phone number",
                trigger: ".modal .mpesa-payment-row .mpesa-phone:contains('0708 374 149')",
            },
            Mpesa.selectPayment("RKL51ZDR4F"),
            ReceiptScreen.isShown(),
            Mpesa.receiptShowsMpesaNumber("RKL51ZDR4F"),
        ].flat(),
});

registry.category("web_tour.tours").add("PosMpesaC2bSeveralFoundTour", {
    steps: () =>
        [
            startC2b(),
            popupLists("RAA10AAA01", "ALICE"),
            popupLists("RBB20BBB02", "BRIAN"),
            // the customer's payment arrives while the popup is open
            {...popupLists("RCC30CCC03", "CAROL WANJIKU"), timeout: 20000},
            Mpesa.selectPayment("RCC30CCC03"),
            ReceiptScreen.isShown(),
            Mpesa.receiptShowsMpesaNumber("RCC30CCC03"),
        ].flat(),
});

registry.category("web_tour.tours").add("PosMpesaC2bNoneFoundTour", {
    steps: () =>
        [
            startC2b(),
            Dialog.is({title: "No M-Pesa Payment Found"}),
            Dialog.cancel({title: "No M-Pesa Payment Found"}),
            {
                content: "cancel keeps the order open",
                trigger:
                    ".mpesa-line-status .mpesa-line-message:contains('No M-Pesa payment found')",
            },
            PaymentScreen.clickValidate(),
            Dialog.is({title: "No M-Pesa Payment Found"}),
            Dialog.confirm("Validate Anyway"),
            ReceiptScreen.isShown(),
        ].flat(),
});

registry.category("web_tour.tours").add("PosMpesaC2bWithoutMatchingTour", {
    steps: () =>
        [
            Chrome.startPoS(),
            Dialog.confirm("Open Register"),
            ProductScreen.addOrderline("M-Pesa Soap"),
            ProductScreen.clickPayButton(),
            PaymentScreen.clickPaymentMethod("M-Pesa"),
            {
                content: "Validate Without Matching Payment",
                trigger: ".mpesa-line-status .mpesa-validate-unmatched",
                run: "click",
            },
            ReceiptScreen.isShown(),
        ].flat(),
});

registry.category("web_tour.tours").add("PosMpesaC2bAlreadyTakenTour", {
    steps: () =>
        [
            startC2b(),
            popupLists("RTAKEN0001", "JOHN DOE"),
            popupLists("RFREE00002", "JANE DOE"),
            Mpesa.otherTillTakes("RTAKEN0001"),
            Mpesa.selectPayment("RTAKEN0001"),
            {
                content: "the cashier is told another till took it",
                trigger: ".modal .mpesa-select-error:contains('already reconciled')",
            },
            {
                content: "and the list is refreshed",
                trigger: ".modal .mpesa-payment-table:not(:has([data-receipt='RTAKEN0001']))",
            },
            Mpesa.selectPayment("RFREE00002"),
            ReceiptScreen.isShown(),
            Mpesa.receiptShowsMpesaNumber("RFREE00002"),
        ].flat(),
});
