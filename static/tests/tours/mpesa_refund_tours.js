import * as Chrome from "@point_of_sale/../tests/pos/tours/utils/chrome_util";
import * as PaymentScreen from "@point_of_sale/../tests/pos/tours/utils/payment_screen_util";
import * as ReceiptScreen from "@point_of_sale/../tests/pos/tours/utils/receipt_screen_util";
import * as TicketScreen from "@point_of_sale/../tests/pos/tours/utils/ticket_screen_util";
import * as Mpesa from "@pos_mpesa/../tests/tours/utils/mpesa_util";
import {registry} from "@web/core/registry";

// The sale was paid in Python with a C2B payment the simulator knows (the session is open already);
// the simulator posts the reversal's result to the test server.

function refundThePaidSale() {
    return [
        Chrome.startPoS(),
        Chrome.clickOrders(),
        TicketScreen.selectFilter("Paid"),
        TicketScreen.selectOrderByPrice("100.00"),
        TicketScreen.confirmRefund(),
        PaymentScreen.isShown(),
        PaymentScreen.totalIs("-100.00"),
        PaymentScreen.clickPaymentMethod("M-Pesa"),
        Mpesa.reverseOnMpesa(),
    ].flat();
}

registry.category("web_tour.tours").add("PosMpesaReversalTour", {
    steps: () =>
        [
            refundThePaidSale(),
            Mpesa.reversedIs("sent back to the customer on M-Pesa"),
            Mpesa.validateRefund(),
            ReceiptScreen.isShown(),
            Mpesa.receiptShowsReversal(),
        ].flat(),
});

registry.category("web_tour.tours").add("PosMpesaReversalRefusedTour", {
    steps: () => [refundThePaidSale(), Mpesa.reversalRefusedWith("M-Pesa Refunds")].flat(),
});
