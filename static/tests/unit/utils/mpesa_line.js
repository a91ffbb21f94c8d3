/**
 * A payment line of `order` with just what PaymentMpesa reads and writes: its M-Pesa state is kept
 * in `state`, its payment status in `status`; `fields` adds or overrides anything.
 */
export function fakeMpesaLine(order, fields) {
    const line = {
        pos_order_id: order,
        state: {},
        isMpesa: () => true,
        isMpesaReversal: () => false,
        getMpesaState() {
            return {mpesaPaid: false, mpesaReversalId: 0, mpesaMessage: "", ...this.state};
        },
        setMpesaState(values) {
            Object.assign(this.state, values);
        },
        setPaymentStatus(status) {
            this.status = status;
        },
        ...fields,
    };
    order.payment_ids.push(line);
    return line;
}
