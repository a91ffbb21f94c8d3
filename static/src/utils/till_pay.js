/**
 * Pure logic of the till's C2B popup (several payments for one order, the search box) and of the
 * pay-to-account / Dynamic QR wait. Amounts are compared in cents: 60 + 40.1 - 0.1 is 100 here.
 */

// M-Pesa receipt codes: letters and digits, 8 to 12 (the server's RECEIPT_RE).
const RECEIPT_RE = /^(?=.*[A-Za-z])(?=.*[0-9])[A-Za-z0-9]{8,12}$/;
// Payments the server recovered from M-Pesa's own records (the pull API, a status lookup).
const RECOVERED_SOURCES = ["pull", "status"];
// The server takes at most this many payments for one order.
export const MAX_PAYMENTS_PER_ORDER = 10;

export function toCents(amount) {
    return Math.round(Number(amount || 0) * 100);
}

/** The sum of the ticked payments, in currency units. */
export function selectionTotal(callbacks, selectedIds) {
    const ids = new Set(selectedIds);
    const cents = callbacks
        .filter((cb) => ids.has(cb.id))
        .reduce((sum, cb) => sum + toCents(cb.amount), 0);
    return cents / 100;
}

/** The ticked payments pay the line exactly (never more, never less). */
export function selectionMatches(callbacks, selectedIds, target) {
    return (
        selectedIds.length > 0 &&
        selectedIds.length <= MAX_PAYMENTS_PER_ORDER &&
        toCents(selectionTotal(callbacks, selectedIds)) === toCents(target)
    );
}

/**
 * Ticks or unticks a payment. A payment of the line's whole amount is the customer's payment on its
 * own: ticking it replaces the others (nothing could be added to it).
 */
export function toggleSelection(selectedIds, callback, target) {
    if (selectedIds.includes(callback.id)) {
        return selectedIds.filter((id) => id !== callback.id);
    }
    if (toCents(callback.amount) === toCents(target)) {
        return [callback.id];
    }
    return [...selectedIds, callback.id];
}

export function isRecovered(callback) {
    return RECOVERED_SOURCES.includes(callback?.source);
}

/**
 * What the search box sends: a receipt code or phone digits (spaces ignored), or a name of at least
 * two characters; "" when there is nothing to search by yet.
 */
export function searchQuery(text) {
    const words = (text || "").split(/\s+/).filter(Boolean).join(" ");
    const compact = words.replace(/ /g, "");
    if (/^[0-9]+$/.test(compact) || RECEIPT_RE.test(compact)) {
        return compact;
    }
    return words.length >= 2 ? words : "";
}

export function isReceiptCode(query) {
    return RECEIPT_RE.test(query || "");
}

/**
 * The list shown: the search's results, with the ticked payments kept on top even when the search
 * no longer finds them (the cashier searches for the second payment of the order).
 */
export function mergeTicked(results, previous, selectedIds) {
    const found = new Set(results.map((cb) => cb.id));
    const ticked = previous.filter((cb) => selectedIds.includes(cb.id) && !found.has(cb.id));
    return [...ticked, ...results];
}

/**
 * Payments of other amounts could pay the line together: those smaller than the line add up to at
 * least its amount (the popup then opens on All amounts instead of saying none was found).
 */
export function couldMakeUp(callbacks, target) {
    const goal = toCents(target);
    const smaller = callbacks.map((cb) => toCents(cb.amount)).filter((c) => c > 0 && c < goal);
    return smaller.length > 1 && smaller.reduce((sum, c) => sum + c, 0) >= goal;
}
