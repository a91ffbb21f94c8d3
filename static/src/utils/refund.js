/**
 * The paid order that a refund order gives money back for: Odoo links each refund line to the
 * line it refunds (refunded_orderline_id), whose order is the original sale. A reversal needs that
 * order's server id (the server finds its M-Pesa payment of the refunded amount).
 *
 * @param {object} order a POS order (its lines)
 * @returns {{orderId: number}|{problem: "none"|"several"|"not_synced"}}
 *   none: no line refunds a paid order; several: lines of more than one order are refunded;
 *   not_synced: the original order is not on the server yet.
 */
export function refundedOrder(order) {
    const originals = new Map();
    for (const line of order?.lines || []) {
        const original = line.refunded_orderline_id?.order_id;
        if (original) {
            originals.set(original.uuid || original.id, original);
        }
    }
    if (originals.size === 0) {
        return {problem: "none"};
    }
    if (originals.size > 1) {
        return {problem: "several"};
    }
    const [original] = originals.values();
    return typeof original.id === "number" ? {orderId: original.id} : {problem: "not_synced"};
}
