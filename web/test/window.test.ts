import { describe, expect, it } from "vitest";
import { rowWindow } from "../src/live/window";

describe("rowWindow", () => {
  it("renders the viewport's rows plus an overscan, with spacers for the rest", () => {
    expect(rowWindow(0, 400, 500, 40, -1, 0, 5)).toEqual({ start: 0, end: 16, before: 0, after: (500 - 16) * 40 });
    const w = rowWindow(4000, 400, 500, 40, -1, 0, 5);
    expect(w).toEqual({ start: 95, end: 116, before: 95 * 40, after: (500 - 116) * 40 });
    expect(w.before + (w.end - w.start) * 40 + w.after).toBe(500 * 40);
  });

  it("accounts for the expanded row's extra height", () => {
    const w = rowWindow(4000, 400, 500, 40, 10, 200, 0);
    // 4000 px down is row (4000 - 200) / 40 = 95 once past the expanded row.
    expect(w.start).toBe(95);
    expect(w.before).toBe(95 * 40 + 200);
    expect(w.before + (w.end - w.start) * 40 + w.after).toBe(500 * 40 + 200);
  });

  it("copes with few rows and scroll positions past the end", () => {
    expect(rowWindow(0, 400, 3, 40)).toEqual({ start: 0, end: 3, before: 0, after: 0 });
    expect(rowWindow(99999, 400, 3, 40)).toMatchObject({ start: 3, end: 3, after: 0 });
  });
});
