import {describe, expect, test} from "@odoo/hoot";
import {
    checkMpesaAmount,
    displayMpesaPhone,
    formatMpesaTimestamp,
    normalizeMpesaPhone,
} from "@pos_mpesa/utils/phone";

describe.current.tags("desktop");

test("accepted phone forms become 2547/2541 numbers", () => {
    expect(normalizeMpesaPhone("0712345678")).toBe("254712345678");
    expect(normalizeMpesaPhone("0112345678")).toBe("254112345678");
    expect(normalizeMpesaPhone("+254712345678")).toBe("254712345678");
    expect(normalizeMpesaPhone("254112345678")).toBe("254112345678");
    expect(normalizeMpesaPhone(" 0712 345-678 ")).toBe("254712345678");
    expect(normalizeMpesaPhone("(0712) 345 678")).toBe("254712345678");
});

test("bad phone numbers are refused", () => {
    for (const bad of [
        "",
        null,
        undefined,
        "0812345678", // not a Safaricom mobile prefix
        "071234567", // too short
        "07123456789", // too long
        "712345678", // no prefix: the server refuses it too
        "+255712345678", // Tanzania
        "07l2345678",
        "0712.345.678",
    ]) {
        expect(normalizeMpesaPhone(bad)).toBe(null, {message: String(bad)});
    }
});

test("display form of a phone number", () => {
    expect(displayMpesaPhone("254712345600")).toBe("0712 345 600");
    expect(displayMpesaPhone("2547 ***** 126")).toBe("2547 ***** 126"); // masked: verbatim
    expect(displayMpesaPhone("")).toBe("");
    expect(displayMpesaPhone(undefined)).toBe("");
});

test("only whole shillings within M-Pesa's limits", () => {
    expect(checkMpesaAmount(100)).toBe("ok");
    expect(checkMpesaAmount(1)).toBe("ok");
    expect(checkMpesaAmount(250000)).toBe("ok");
    expect(checkMpesaAmount(99.5)).toBe("cents");
    expect(checkMpesaAmount(100.01)).toBe("cents");
    expect(checkMpesaAmount(0)).toBe("too_small");
    expect(checkMpesaAmount(-5)).toBe("too_small");
    expect(checkMpesaAmount(250001)).toBe("too_large");
    expect(checkMpesaAmount(NaN)).toBe("invalid");
    expect(checkMpesaAmount("100")).toBe("invalid");
});

test("Daraja timestamps are shown as dates", () => {
    expect(formatMpesaTimestamp("20261126121325")).toBe("26/11/2026 12:13:25");
    expect(formatMpesaTimestamp(20191219102115)).toBe("19/12/2019 10:21:15");
    expect(formatMpesaTimestamp("2026-11-26 09:13:25")).toBe("2026-11-26 09:13:25");
    expect(formatMpesaTimestamp(null)).toBe("");
});
