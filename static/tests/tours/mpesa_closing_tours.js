import * as Chrome from "@point_of_sale/../tests/pos/tours/utils/chrome_util";
import {registry} from "@web/core/registry";

// The session holds an M-Pesa line validated without a matching payment and a payment received on
// no order (made in Python): the closing popup shows both, and closing writes them on the session.
registry.category("web_tour.tours").add("PosMpesaClosingTour", {
    steps: () =>
        [
            Chrome.startPoS(),
            Chrome.clickMenuOption("Close Register"),
            {
                content: "the till's M-Pesa lines next to what M-Pesa received",
                trigger:
                    ".close-pos-popup .mpesa-closing:contains('Validated without a matching payment')",
            },
            {
                content: "the differences, in words",
                trigger: ".close-pos-popup .mpesa-differences:contains('RKCLOSE002')",
            },
            {
                content: "close the register: not blocked by the difference",
                trigger: ".modal-footer button:contains(close register)",
                run: "click",
                expectUnloadPage: true,
            },
            {content: "the POS left for the back office", trigger: "body"},
        ].flat(),
});
