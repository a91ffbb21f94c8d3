/**
 * Pure helpers shared by the M-Pesa dialogs and the payment interface.
 * They mirror the server's rules (daraja.normalize_phone / validate_amount) so the
 * cashier is told about a bad number or amount before anything is sent; the server
 * still checks everything again.
 */

// Daraja accepts whole shillings only, at most 250,000 per transaction.
export const MPESA_MIN_AMOUNT = 1;
export const MPESA_MAX_AMOUNT = 250000;

// Same rule as daraja/phone.py: 07XXXXXXXX / 01XXXXXXXX, or with +254 / 254 instead of the 0
const PHONE_RE = /^(?:\+?254|0)([17][0-9]{8})$/;
const SEPARATORS = /[\s\-()]+/g;

/**
 * @param {string|number|null|undefined} value what the cashier typed
 * @returns {string|null} the number as 2547XXXXXXXX / 2541XXXXXXXX, or null when invalid
 */
export function normalizeMpesaPhone(value) {
    if (value === null || value === undefined) {
        return null;
    }
    // spaces, dashes and brackets are common in typed or stored numbers
    const compact = String(value).replace(SEPARATORS, "");
    const match = PHONE_RE.exec(compact);
    return match ? `254${match[1]}` : null;
}

/**
 * Local display form of a normalised number: 254712345678 -> 0712 345 678.
 */
export function displayMpesaPhone(value) {
    const phone = normalizeMpesaPhone(value);
    if (!phone) {
        return value ? String(value) : "";
    }
    const local = `0${phone.slice(3)}`;
    return `${local.slice(0, 4)} ${local.slice(4, 7)} ${local.slice(7)}`;
}

/**
 * @param {number} amount
 * @returns {"ok"|"cents"|"too_small"|"too_large"|"invalid"}
 */
export function checkMpesaAmount(amount) {
    if (typeof amount !== "number" || !Number.isFinite(amount)) {
        return "invalid";
    }
    // the amount is already rounded to the currency's cents: any remainder is real cents
    if (Math.abs(amount - Math.round(amount)) > 1e-9) {
        return "cents";
    }
    if (amount < MPESA_MIN_AMOUNT) {
        return "too_small";
    }
    if (amount > MPESA_MAX_AMOUNT) {
        return "too_large";
    }
    return "ok";
}

/**
 * Daraja timestamps (YYYYMMDDHHmmss, Nairobi time) as "DD/MM/YYYY HH:mm:ss"; anything else verbatim.
 */
export function formatMpesaTimestamp(value) {
    const text = value ? String(value) : "";
    const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(text);
    if (!match) {
        return text;
    }
    const [, year, month, day, hour, minute, second] = match;
    return `${day}/${month}/${year} ${hour}:${minute}:${second}`;
}
