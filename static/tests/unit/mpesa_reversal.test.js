import {advanceTime, describe, expect, test} from "@odoo/hoot";
import {onRpc} from "@web/../tests/web_test_helpers";
import {definePosModels} from "@point_of_sale/../tests/unit/data/generate_model_definitions";
import {setupPosEnv} from "@point_of_sale/../tests/unit/utils";
import {PaymentMpesa} from "@pos_mpesa/app/utils/payment/payment_mpesa";
import {refundedOrder} from "@pos_mpesa/utils/refund";
import {fakeMpesaLine} from "@pos_mpesa/../tests/unit/utils/mpesa_line";

describe.current.tags("desktop");
definePosModels();

const SALE = {id: 42, uuid: "5a1e0000-0000-4000-8000-000000000042"};

function refundLine(original) {
    return {refunded_orderline_id: original && {order_id: original}};
}

test("the refunded order is the one its refund lines come from", () => {
    const other = {id: 43, uuid: "5a1e0000-0000-4000-8000-000000000043"};
    const local = {
        id: "5a1e0000-0000-4000-8000-00000000aaaa",
        uuid: "5a1e0000-0000-4000-8000-00000000aaaa",
    };
    expect(refundedOrder({lines: [refundLine(SALE), refundLine(SALE)]})).toEqual({orderId: 42});
    // an exchange: a new product sold on the refund order does not count
    expect(refundedOrder({lines: [refundLine(SALE), refundLine(null)]})).toEqual({orderId: 42});
    expect(refundedOrder({lines: [refundLine(SALE), refundLine(other)]})).toEqual({
        problem: "several",
    });
    expect(refundedOrder({lines: [refundLine(null)]})).toEqual({problem: "none"});
    expect(refundedOrder({lines: []})).toEqual({problem: "none"});
    expect(refundedOrder({lines: [refundLine(local)]})).toEqual({problem: "not_synced"});
});

/** A refund line of -100 of a refund of SALE. */
function reversalLine() {
    const order = {
        uuid: "0f5c2d1e-2222-4a2b-9c3d-123456789abc",
        isRefund: true,
        lines: [refundLine(SALE)],
        payment_ids: [],
    };
    const line = fakeMpesaLine(order, {
        uuid: "refund-line-1",
        amount: -100,
        status: "pending",
        isMpesaReversal: () => true,
    });
    return {order, line};
}

async function terminalWithReversalLine() {
    const store = await setupPosEnv();
    const terminal = new PaymentMpesa(store, store.models["pos.payment.method"].getFirst());
    const {order, line} = reversalLine();
    terminal._findLine = () => line;
    terminal._findLineByReversal = (id) => id === line.getMpesaState().mpesaReversalId && line;
    const shown = []; // the cashier's AlertDialogs
    terminal._showError = (body) => shown.push(body);
    return {terminal, order, line, shown};
}

test("Reverse on M-Pesa: the refunded sale's payment goes back, the result comes by bus", async () => {
    const asked = [];
    onRpc("/mpesa/reverse", async (request) => {
        asked.push((await request.json()).params);
        return {success: true, status: "pending", message: "Reversal sent.", reversal_id: 7};
    });
    const {terminal, order, line} = await terminalWithReversalLine();
    const done = terminal.sendPaymentRequest(line.uuid);
    await advanceTime(10); // the server answered: the line waits for M-Pesa
    expect(asked).toEqual([
        {
            order_id: 42,
            amount: 100,
            pos_config_id: terminal.pos.config.id,
            refund_order_uuid: order.uuid,
        },
    ]);
    expect(line.status).toBe("waitingCard");
    expect(line.getMpesaState().mpesaReversalId).toBe(7);
    terminal.handleReversalPush({
        success: true,
        status: "reversed",
        message: "KSh 100.00 sent back to the customer on M-Pesa (reversal RVS0000001).",
        reversal_id: 7,
        receipt_number: "RKL51ZDR4F",
        reversal_receipt: "RVS0000001",
    });
    expect(await done).toBe(true);
    expect(line.transaction_id).toBe("RVS0000001");
    expect(line.getMpesaState().mpesaMessage).toMatch(/RVS0000001/);
});

test("A refused reversal fails the line with the server's message; a new one may be sent", async () => {
    onRpc("/mpesa/reverse", () => ({
        success: true,
        status: "pending",
        message: "Reversal sent.",
        reversal_id: 8,
    }));
    onRpc("/mpesa/reversal_status", () => ({
        success: true,
        status: "refused",
        message: "M-Pesa refused the reversal: The transaction is not reversible.",
        reversal_id: 8,
    }));
    const {terminal, line, shown} = await terminalWithReversalLine();
    const done = terminal.sendPaymentRequest(line.uuid);
    await advanceTime(3100); // no push: the first poll asks the server
    expect(await done).toBe(false);
    expect(line.getMpesaState().mpesaMessage).toBe(
        "M-Pesa refused the reversal: The transaction is not reversible."
    );
    expect(line.getMpesaState().mpesaReversalId).toBe(0);
    expect(shown).toEqual(["M-Pesa refused the reversal: The transaction is not reversible."]);
});

test("Refused before anything is sent (no M-Pesa Refunds right): nothing to wait for", async () => {
    onRpc("/mpesa/reverse", () => ({
        success: false,
        status: "refused",
        message: "Only members of M-Pesa Refunds may reverse payments.",
    }));
    const {terminal, line, shown} = await terminalWithReversalLine();
    expect(await terminal.sendPaymentRequest(line.uuid)).toBe(false);
    expect(terminal.waiters).toEqual({});
    expect(shown).toEqual(["Only members of M-Pesa Refunds may reverse payments."]);
    expect(line.getMpesaState().mpesaMessage).toMatch(/M-Pesa Refunds/);
});

test("No result in time: the line keeps its reversal and asks about it again, never sends another", async () => {
    let statusAsked = 0;
    let reverseAsked = 0;
    onRpc("/mpesa/reverse", () => {
        reverseAsked++;
        return {success: true, status: "pending", message: "Reversal sent.", reversal_id: 9};
    });
    onRpc("/mpesa/reversal_status", () => {
        statusAsked++;
        const status = statusAsked < 100 ? "pending" : "reversed";
        return {success: true, status, message: `M-Pesa: ${status}.`, reversal_id: 9};
    });
    const {terminal, line} = await terminalWithReversalLine();
    const done = terminal.sendPaymentRequest(line.uuid);
    for (let step = 0; step < 30; step++) {
        await advanceTime(5000); // 150 s: past the wait and its grace
    }
    expect(await done).toBe(false);
    expect(line.getMpesaState().mpesaReversalId).toBe(9);
    expect(line.getMpesaState().mpesaMessage).toMatch(/Check Reversal/);
    statusAsked = 100;
    const checked = terminal.sendPaymentRequest(line.uuid); // Check Reversal
    await advanceTime(10);
    expect(await checked).toBe(true);
    expect(reverseAsked).toBe(1);
});
