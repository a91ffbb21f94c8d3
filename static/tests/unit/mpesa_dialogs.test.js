import {describe, expect, test} from "@odoo/hoot";
import {advanceTime, animationFrame} from "@odoo/hoot-dom";
import {EventBus} from "@odoo/owl";
import {contains, mountWithCleanup} from "@web/../tests/web_test_helpers";
import {MpesaPhoneDialog} from "@pos_mpesa/app/components/mpesa_phone_dialog/mpesa_phone_dialog";
import {
    LOOKUP_POLL_MS,
    MpesaPaymentSelectDialog,
    SEARCH_DEBOUNCE_MS,
} from "@pos_mpesa/app/components/mpesa_payment_select_dialog/mpesa_payment_select_dialog";
import {definePosModels} from "@point_of_sale/../tests/unit/data/generate_model_definitions";
import {setupPosEnv} from "@point_of_sale/../tests/unit/utils";

describe.current.tags("desktop");
// the dialogs run in the POS environment (dialog env + POS services and their models)
definePosModels();

async function mountPhoneDialog(defaultPhone = "") {
    const payloads = [];
    await setupPosEnv();
    await mountWithCleanup(MpesaPhoneDialog, {
        props: {
            amount: "KSh 100.00",
            defaultPhone,
            getPayload: (phone) => payloads.push(phone),
            close: () => payloads.push("closed"),
        },
    });
    return payloads;
}

test("phone dialog: prefilled, a bad number is explained and not sent", async () => {
    const payloads = await mountPhoneDialog("0712 345 600");
    expect(".mpesa-phone-input").toHaveValue("0712 345 600");
    expect(".mpesa-amount").toHaveText("KSh 100.00");
    await contains(".mpesa-phone-input").edit("0812345600");
    await contains(".mpesa-send-stk").click();
    expect(".mpesa-phone-error").toHaveText(/Invalid phone number/);
    expect(payloads).toEqual([]);
    await contains(".mpesa-phone-input").edit("+254 112 345 600");
    expect(".mpesa-phone-error").toHaveCount(0);
    await contains(".mpesa-send-stk").click();
    expect(payloads).toEqual(["254112345600", "closed"]);
});

test("phone dialog: a double click sends once", async () => {
    const payloads = await mountPhoneDialog("0712345600");
    await contains(".mpesa-send-stk").click();
    await contains(".mpesa-send-stk").click({force: true});
    expect(payloads).toEqual(["254712345600", "closed"]);
});

const CALLBACKS = [
    {
        id: 1,
        mpesa_receipt_number: "RTAKEN0001",
        phone_number: "254708374149",
        customer_name: "JOHN DOE",
        amount: 100,
        transaction_date: "20261126121325",
    },
    {
        id: 2,
        mpesa_receipt_number: "RFREE00002",
        phone_number: "2547 ***** 126",
        customer_name: "JANE DOE",
        amount: 100,
        transaction_date: "20261126121400",
    },
];

async function mountSelectDialog({claim, search, events, lookup, callbacks = CALLBACKS}) {
    const payloads = [];
    await setupPosEnv();
    await mountWithCleanup(MpesaPaymentSelectDialog, {
        props: {
            amount: "KSh 100.00",
            amountValue: 100,
            windowMinutes: 10,
            callbacks,
            search,
            lookup,
            claim,
            events,
            getPayload: (payload) => payloads.push(payload),
            close: () => payloads.push("closed"),
        },
    });
    return payloads;
}

const claimAll = async (cbs) => ({
    success: true,
    payments: cbs.map((cb) => ({
        callback_id: cb.id,
        receipt_number: cb.mpesa_receipt_number,
        amount: cb.amount,
    })),
});

test("select dialog: lists the payments, confirm needs a selection", async () => {
    const payloads = await mountSelectDialog({
        claim: claimAll,
        search: async () => ({success: true, callbacks: CALLBACKS}),
    });
    expect(".mpesa-payment-row").toHaveCount(2);
    expect(".mpesa-payment-row:first .mpesa-phone").toHaveText("0708 374 149");
    expect(".mpesa-payment-row:first .mpesa-time").toHaveText("26/11/2026 12:13:25");
    expect(".mpesa-payment-row:last .mpesa-customer").toHaveText("JANE DOE");
    expect(".mpesa-confirm-payment").not.toBeEnabled();
    await contains(".mpesa-payment-row[data-receipt='RFREE00002']").click();
    await contains(".mpesa-confirm-payment").click();
    expect(payloads.length).toBe(2);
    expect(payloads[0].action).toBe("claimed");
    expect(payloads[0].payments).toEqual([
        {callback_id: 2, receipt_number: "RFREE00002", amount: 100},
    ]);
});

test("select dialog: a payment another till took is reported and the list refreshed", async () => {
    const claimed = [];
    const payloads = await mountSelectDialog({
        claim: async (cbs) => {
            claimed.push(...cbs.map((cb) => cb.id));
            return {success: false, message: "This payment is already reconciled"};
        },
        search: async () => ({success: true, callbacks: CALLBACKS.slice(1)}),
    });
    await contains(".mpesa-payment-row[data-receipt='RTAKEN0001']").click();
    await contains(".mpesa-confirm-payment").click();
    expect(claimed).toEqual([1]);
    expect(".mpesa-select-error").toHaveText(/already reconciled/);
    expect(".mpesa-payment-row").toHaveCount(1);
    expect(".mpesa-payment-row[data-receipt='RTAKEN0001']").toHaveCount(0);
    expect(".mpesa-confirm-payment").not.toBeEnabled();
    expect(payloads).toEqual([]);
});

test("select dialog: several payments make up the amount exactly", async () => {
    const parts = [
        {...CALLBACKS[0], id: 5, mpesa_receipt_number: "RPART00060", amount: 60},
        {...CALLBACKS[1], id: 6, mpesa_receipt_number: "RPART00040", amount: 40, source: "pull"},
        {...CALLBACKS[1], id: 7, mpesa_receipt_number: "RPART00050", amount: 50},
    ];
    const payloads = await mountSelectDialog({
        callbacks: parts,
        claim: claimAll,
        search: async () => ({success: true, callbacks: parts}),
    });
    expect(".mpesa-recovered").toHaveCount(1);
    expect(".mpesa-payment-row[data-receipt='RPART00040'] .mpesa-recovered").toHaveCount(1);
    await contains(".mpesa-payment-row[data-receipt='RPART00060']").click();
    await contains(".mpesa-payment-row[data-receipt='RPART00050']").click();
    expect(".mpesa-selected-total").toHaveText(/110\.00/);
    expect(".mpesa-confirm-payment").not.toBeEnabled();
    await contains(".mpesa-payment-row[data-receipt='RPART00050']").click();
    await contains(".mpesa-payment-row[data-receipt='RPART00040']").click();
    expect(".mpesa-selected-total").toHaveClass("text-success");
    await contains(".mpesa-confirm-payment").click();
    expect(payloads[0].payments.map((p) => p.receipt_number)).toEqual(["RPART00060", "RPART00040"]);
});

test("select dialog: a receipt code never received is asked of M-Pesa, then offered", async () => {
    const lost = {...CALLBACKS[0], id: 9, mpesa_receipt_number: "SLOST7K001", source: "status"};
    const queries = [];
    let polls = 0;
    await mountSelectDialog({
        claim: claimAll,
        search: async ({query}) => {
            queries.push(query);
            return query
                ? {success: true, callbacks: [], lookup_id: 4, message: "Asking M-Pesa about it"}
                : {success: true, callbacks: CALLBACKS};
        },
        lookup: async (id) => {
            polls++;
            return polls < 2
                ? {success: true, status: "pending"}
                : {success: true, status: "found", callbacks: [lost]};
        },
    });
    await contains(".mpesa-search-input").edit("slost 7k001");
    await advanceTime(SEARCH_DEBOUNCE_MS);
    await animationFrame();
    expect(queries).toEqual(["slost7k001"]);
    expect(".mpesa-lookup").toHaveText(/Asking M-Pesa/);
    await advanceTime(LOOKUP_POLL_MS);
    await advanceTime(LOOKUP_POLL_MS);
    await animationFrame();
    expect(polls).toBe(2);
    expect(".mpesa-lookup").toHaveCount(0);
    expect(".mpesa-payment-row[data-receipt='SLOST7K001'] .mpesa-recovered").toHaveCount(1);
});

test("select dialog: a payment received while open appears", async () => {
    const events = new EventBus();
    const arrived = {
        ...CALLBACKS[0],
        id: 3,
        mpesa_receipt_number: "RLIVE00003",
        customer_name: "CAROL",
    };
    await mountSelectDialog({
        claim: async () => ({success: true}),
        search: async () => ({success: true, callbacks: [arrived, ...CALLBACKS]}),
        events,
    });
    expect(".mpesa-payment-row").toHaveCount(2);
    events.trigger("c2b-received", {callback_id: 3, amount: 250}); // another amount: ignored
    await animationFrame();
    expect(".mpesa-payment-row").toHaveCount(2);
    events.trigger("c2b-received", {callback_id: 3, amount: 100});
    await animationFrame();
    await animationFrame();
    expect(".mpesa-payment-row").toHaveCount(3);
    expect(".mpesa-payment-row:first .mpesa-receipt").toHaveText("RLIVE00003");
});

test("select dialog: Validate Without Matching Payment", async () => {
    const payloads = await mountSelectDialog({
        claim: async () => ({success: true}),
        search: async () => ({success: true, callbacks: CALLBACKS}),
    });
    await contains(".mpesa-skip-matching").click();
    expect(payloads).toEqual([{action: "skip"}, "closed"]);
});
