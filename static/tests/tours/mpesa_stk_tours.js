import * as Chrome from "@point_of_sale/../tests/pos/tours/utils/chrome_util";
import * as ProductScreen from "@point_of_sale/../tests/pos/tours/utils/product_screen_util";
import * as PaymentScreen from "@point_of_sale/../tests/pos/tours/utils/payment_screen_util";
import * as ReceiptScreen from "@point_of_sale/../tests/pos/tours/utils/receipt_screen_util";
import * as Dialog from "@point_of_sale/../tests/generic_helpers/dialog_util";
import {refresh} from "@point_of_sale/../tests/generic_helpers/utils";
import * as Mpesa from "@pos_mpesa/../tests/tours/utils/mpesa_util";
import {registry} from "@web/core/registry";

// Simulator phones (last two digits): 00 paid, 01 cancelled, 02 insufficient balance,
// 03 timeout, 08 paid but the callback never comes (only the STK query knows).

function startStk(product = "M-Pesa Soap", customer = "") {
    return [
        Chrome.startPoS(),
        Dialog.confirm("Open Register"),
        ProductScreen.addOrderline(product),
        customer ? [ProductScreen.clickPartnerButton(), ProductScreen.clickCustomer(customer)] : [],
        ProductScreen.clickPayButton(),
        PaymentScreen.clickPaymentMethod("M-Pesa"),
        Mpesa.toggleStk(),
    ].flat(2);
}

registry.category("web_tour.tours").add("PosMpesaStkPaidTour", {
    steps: () =>
        [
            startStk("M-Pesa Soap", "Wanjiru Kamau"),
            PaymentScreen.clickValidate(),
            Mpesa.phonePrefilled("0712345600"), // the customer's phone
            Mpesa.enterPhone("0712 345 600"),
            Mpesa.isWaitingForCustomer(),
            {
                content: "success notified",
                trigger: ".o_notification:contains('Payment successful!')",
            },
            ReceiptScreen.isShown(),
            Mpesa.receiptShowsMpesaNumber(),
        ].flat(),
});

registry.category("web_tour.tours").add("PosMpesaStkCancelledTour", {
    steps: () =>
        [
            startStk(),
            PaymentScreen.clickValidate(),
            Mpesa.enterPhone("0712345601"),
            Mpesa.failureIs("Payment cancelled"),
            // resend to another number: the customer pays this time
            {trigger: ".mpesa-line-status .mpesa-send", run: "click"},
            Mpesa.enterPhone("+254 712 345 600"),
            ReceiptScreen.isShown(),
            Mpesa.receiptShowsMpesaNumber(),
        ].flat(),
});

registry.category("web_tour.tours").add("PosMpesaStkInsufficientTour", {
    steps: () =>
        [
            startStk(),
            // the line's own send button works like Validate
            {trigger: ".mpesa-line-status .mpesa-send", run: "click"},
            Mpesa.enterPhone("0712345602"),
            Mpesa.failureIs("Insufficient balance"),
            // another payment method
            PaymentScreen.clickPaymentlineDelButton("M-Pesa", "100.00"),
            PaymentScreen.clickPaymentMethod("Bank"),
            PaymentScreen.clickValidate(),
            ReceiptScreen.isShown(),
        ].flat(),
});

registry.category("web_tour.tours").add("PosMpesaStkTimeoutTour", {
    steps: () =>
        [
            startStk(),
            PaymentScreen.clickValidate(),
            Mpesa.enterPhone("0712345603"),
            Mpesa.failureIs("Payment timeout"),
            PaymentScreen.isShown(),
        ].flat(),
});

registry.category("web_tour.tours").add("PosMpesaBadPhoneTour", {
    steps: () =>
        [
            startStk(),
            PaymentScreen.clickValidate(),
            Mpesa.enterPhone("0812345600"),
            {
                content: "the bad number is explained, nothing is sent",
                trigger: ".modal .mpesa-phone-error:contains('Invalid phone number')",
            },
            Mpesa.enterPhone("0112345600"),
            ReceiptScreen.isShown(),
        ].flat(),
});

registry.category("web_tour.tours").add("PosMpesaCentsRefusedTour", {
    steps: () =>
        [
            startStk("M-Pesa Sugar"),
            PaymentScreen.clickValidate(),
            Dialog.is({title: "Amount not accepted by M-Pesa"}),
            Dialog.bodyIs("has cents"),
            Dialog.confirm(),
            Dialog.isNot(),
            {
                content: "the line explains it and nothing was sent",
                trigger: ".mpesa-line-status .mpesa-line-message:contains('whole shillings only')",
            },
            // C2B is refused the same way
            {trigger: ".mpesa-line-status .mpesa-stk-toggle:checked", run: "click"},
            {trigger: ".mpesa-line-status .mpesa-send:contains('Find Payment')", run: "click"},
            Dialog.is({title: "Amount not accepted by M-Pesa"}),
            Dialog.confirm(),
            PaymentScreen.clickPaymentlineDelButton("M-Pesa", "99.50"),
            PaymentScreen.clickPaymentMethod("Bank"),
            PaymentScreen.clickValidate(),
            ReceiptScreen.isShown(),
        ].flat(),
});

registry.category("web_tour.tours").add("PosMpesaStkReloadTour", {
    steps: () =>
        [
            startStk(),
            PaymentScreen.clickValidate(),
            Mpesa.enterPhone("0712345608"),
            Mpesa.isWaitingForCustomer(),
            refresh(),
            {
                content: "after the reload the line still waits for the customer",
                trigger: ".mpesa-line-status .mpesa-waiting .mpesa-countdown",
                timeout: 20000,
            },
            // no callback comes for this number: the STK query (polling) finds the payment
            // (a query answer carries no receipt number: the receipt shows none)
            {...ReceiptScreen.isShown()[0], timeout: 40000},
        ].flat(),
});

registry.category("web_tour.tours").add("PosMpesaStkCancelAtTillTour", {
    steps: () =>
        [
            startStk(),
            PaymentScreen.clickValidate(),
            Mpesa.enterPhone("0712345650"), // the customer does nothing on the phone
            Mpesa.isWaitingForCustomer(),
            {trigger: ".mpesa-line-status .send_payment_cancel", run: "click"},
            {
                content: "the till stops waiting and says what happens if the customer pays anyway",
                trigger:
                    ".mpesa-line-status .mpesa-line-message:contains('Payment request cancelled')",
            },
            PaymentScreen.clickPaymentlineDelButton("M-Pesa", "100.00"),
            PaymentScreen.clickPaymentMethod("Bank"),
            PaymentScreen.clickValidate(),
            ReceiptScreen.isShown(),
        ].flat(),
});
