import {describe, expect, test} from "@odoo/hoot";
import {onRpc} from "@web/../tests/web_test_helpers";
import {definePosModels} from "@point_of_sale/../tests/unit/data/generate_model_definitions";
import {setupPosEnv} from "@point_of_sale/../tests/unit/utils";
import {PaymentMpesa} from "@pos_mpesa/app/utils/payment/payment_mpesa";
import {fakeMpesaLine} from "@pos_mpesa/../tests/unit/utils/mpesa_line";

describe.current.tags("desktop");
definePosModels();

/** A waiting STK line. */
function waitingLine() {
    const order = {uuid: "0f5c2d1e-1111-4a2b-9c3d-123456789abc", payment_ids: []};
    const line = fakeMpesaLine(order, {
        uuid: "line-1",
        mpesa_checkout_request_id: "ws_CO_RACE",
        status: "waitingCancel",
    });
    return {order, line};
}

async function terminalWithLine() {
    const store = await setupPosEnv();
    const terminal = new PaymentMpesa(store, store.models["pos.payment.method"].getFirst());
    const {order, line} = waitingLine();
    terminal._findLineByCheckout = () => line;
    const paid = terminal.waitForResult(line);
    return {terminal, order, line, paid};
}

test("Cancel while the success arrives: the paid line stays paid", async () => {
    let releaseCancel;
    const cancelAnswered = new Promise((resolve) => (releaseCancel = resolve));
    const asked = [];
    onRpc("/mpesa/cancel_stk", async (request) => {
        asked.push((await request.json()).params);
        await cancelAnswered; // the server is slow to answer the cancel...
        return {success: true, status: "pending", message: "abandoned"};
    });
    onRpc("/mpesa/check_status", () => ({
        success: true,
        status: "completed",
        message: "Payment successful!",
        receipt_number: "QKX1RACE01",
    }));
    const {terminal, order, line, paid} = await terminalWithLine();
    const cancelling = terminal.sendPaymentCancel(order, line.uuid);
    // ...and meanwhile the result is pushed over the bus
    await terminal.handleStatusPush({checkout_request_id: "ws_CO_RACE", status: "completed"});
    expect(await paid).toBe(true);
    releaseCancel();
    expect(await cancelling).toBe(false); // nothing was cancelled: the POS must not reset the line
    expect(line.getMpesaState().mpesaPaid).toBe(true);
    expect(line.mpesa_receipt_number).toBe("QKX1RACE01");
    expect(asked[0]).toEqual({
        checkout_request_id: "ws_CO_RACE",
        pos_config_id: terminal.pos.config.id,
        order_uuid: order.uuid,
    });
});

test("Cancel after the customer paid: the server keeps the payment for this order", async () => {
    onRpc("/mpesa/cancel_stk", () => ({
        success: true,
        status: "completed",
        message: "The customer had already paid: the payment is kept for this order.",
        receipt_number: "QKX1RACE02",
    }));
    const {terminal, order, line, paid} = await terminalWithLine();
    expect(await terminal.sendPaymentCancel(order, line.uuid)).toBe(false);
    expect(await paid).toBe(true);
    expect(line.mpesa_receipt_number).toBe("QKX1RACE02");
});

test("Cancel while still pending: the wait ends and the line can be retried", async () => {
    onRpc("/mpesa/cancel_stk", () => ({success: true, status: "pending", message: "abandoned"}));
    const {terminal, order, line, paid} = await terminalWithLine();
    expect(await terminal.sendPaymentCancel(order, line.uuid)).toBe(true);
    expect(await paid).toBe(false);
    expect(line.getMpesaState().mpesaPaid).toBe(false);
    expect(line.mpesa_checkout_request_id).toBe("");
});
