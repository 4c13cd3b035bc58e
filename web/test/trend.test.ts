import { describe, expect, it } from "vitest";
import { hasPrevious, previousAverage } from "../src/lib/trend";

describe("comparisons with the previous period", () => {
  it("has no previous average for a bucket that was empty", () => {
    expect(previousAverage({ totalChange: { previous: 0 }, averageSentimentChange: { previous: 0 } })).toBeNull();
    expect(previousAverage({})).toBeNull();
    expect(previousAverage({ totalChange: { previous: 12 }, averageSentimentChange: { previous: -0.25 } })).toBe(-0.25);
  });

  it("knows when the previous period had nothing to compare with", () => {
    expect(hasPrevious({ change: { previous: 0 } })).toBe(false);
    expect(hasPrevious(undefined)).toBe(false);
    expect(hasPrevious({ change: { previous: 3 } })).toBe(true);
  });
});
