import {describe, expect, test} from "@odoo/hoot";
import {
    couldMakeUp,
    isReceiptCode,
    isRecovered,
    mergeTicked,
    searchQuery,
    selectionMatches,
    selectionTotal,
    toggleSelection,
} from "@pos_mpesa/utils/till_pay";

describe.current.tags("desktop");

const CBS = [
    {id: 1, amount: 60},
    {id: 2, amount: 40.1},
    {id: 3, amount: 100},
    {id: 4, amount: 39.9},
];

test("the ticked sum is exact in cents", () => {
    expect(selectionTotal(CBS, [1, 2])).toBe(100.1);
    expect(selectionTotal(CBS, [2, 4])).toBe(80);
    expect(selectionMatches(CBS, [1, 2], 100)).toBe(false);
    expect(selectionMatches(CBS, [1, 4], 99.9)).toBe(true);
    expect(selectionMatches(CBS, [3], 100)).toBe(true);
    expect(selectionMatches(CBS, [], 0)).toBe(false);
    const many = Array.from({length: 11}, (_, i) => ({id: i, amount: 1}));
    expect(
        selectionMatches(
            many,
            many.map((cb) => cb.id),
            11
        )
    ).toBe(false); // at most 10
});

test("ticking: a payment of the whole amount replaces the others", () => {
    expect(toggleSelection([], CBS[0], 100)).toEqual([1]);
    expect(toggleSelection([1], CBS[1], 100)).toEqual([1, 2]);
    expect(toggleSelection([1, 2], CBS[0], 100)).toEqual([2]);
    expect(toggleSelection([1, 2], CBS[2], 100)).toEqual([3]);
    expect(toggleSelection([3], CBS[2], 100)).toEqual([]);
});

test("several smaller payments could make up the amount", () => {
    expect(couldMakeUp([{amount: 60}, {amount: 40}], 100)).toBe(true);
    expect(couldMakeUp([{amount: 250}], 100)).toBe(false);
    expect(couldMakeUp([{amount: 60}, {amount: 30}], 100)).toBe(false);
    expect(couldMakeUp([{amount: 60}, {amount: 250}], 100)).toBe(false);
});

test("the search box: receipt codes, phone digits, names", () => {
    expect(searchQuery(" 5 55 ")).toBe("555");
    expect(searchQuery("slost 7k001")).toBe("slost7k001");
    expect(searchQuery("j")).toBe("");
    expect(searchQuery("  mary   wanjiru ")).toBe("mary wanjiru");
    expect(isReceiptCode("SLOST7K001")).toBe(true);
    expect(isReceiptCode("MARY")).toBe(false);
    expect(isRecovered({source: "pull"})).toBe(true);
    expect(isRecovered({source: "status"})).toBe(true);
    expect(isRecovered({source: "public_url"})).toBe(false);
});

test("ticked payments stay listed while searching", () => {
    const shown = mergeTicked([CBS[2]], CBS, [1, 3]);
    expect(shown.map((cb) => cb.id)).toEqual([1, 3]);
});
