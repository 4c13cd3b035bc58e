import { describe, expect, it } from "vitest";
import { formatBucket, formatChange, formatCompact, formatDateTime, formatFeedTime, formatInteger, formatRelative, formatSentiment, formatShare, hourLabel, weekdayNames } from "../src/lib/format";

const en = { locale: "en-US" };
const de = { locale: "de-DE" };

describe("number formatting", () => {
  it("follows the locale", () => {
    expect(formatInteger(1234567, en)).toBe("1,234,567");
    expect(formatInteger(1234567, de)).toBe("1.234.567");
    expect(formatInteger(12n, en)).toBe("12");
    expect(formatCompact(12345, en)).toBe("12.3K");
    expect(formatShare(0.1234, en)).toBe("12.3%");
    // German puts a no-break space before the percent sign.
    expect(formatShare(0.1234, de)).toBe("12,3\u00a0%");
  });

  it("shows a sentiment score with its sign and two decimals", () => {
    expect(formatSentiment(0.4234, en)).toBe("+0.42");
    expect(formatSentiment(-0.1, en)).toBe("-0.10");
    expect(formatSentiment(0.001, en)).toBe("0.00");
    expect(formatSentiment(-0.001, en)).toBe("0.00");
    expect(formatSentiment(undefined, en)).toBe("–");
    expect(formatSentiment(0.5, de)).toBe("+0,50");
  });

  it("describes a change against the previous period", () => {
    expect(formatChange({ previous: 200, absolute: 25, percent: 12.5 }, "count", en)).toEqual({
      text: "+12.5%", trend: "up", description: "up +12.5% from 200",
    });
    // No percentage when the previous value was 0: the absolute change.
    expect(formatChange({ previous: 0, absolute: 7 }, "count", en)?.text).toBe("+7");
    expect(formatChange({ previous: 0.2, absolute: -0.15 }, "score", en)).toMatchObject({ text: "-0.15", trend: "down" });
    expect(formatChange({ previous: 5, absolute: 0, percent: 0 }, "count", en)).toMatchObject({ trend: "flat", description: "unchanged from 5" });
    expect(formatChange(undefined, "count")).toBeUndefined();
  });
});

describe("dates", () => {
  const t = new Date("2026-03-29T14:05:00Z");
  it("formats in the requested time zone and locale", () => {
    expect(formatDateTime(t, { ...en, timeZone: "UTC" })).toBe("Mar 29, 2026, 2:05 PM");
    expect(formatDateTime(t, { ...de, timeZone: "Europe/Berlin" })).toBe("29.03.2026, 16:05");
  });

  it("labels trend buckets by their size", () => {
    expect(formatBucket(t, "day", { ...en, timeZone: "UTC" })).toBe("Mar 29");
    expect(formatBucket(t, "month", { ...en, timeZone: "UTC" })).toBe("March 2026");
    expect(formatBucket(t, "week", { ...en, timeZone: "UTC" })).toBe("Week of Mar 29");
  });

  it("relative times", () => {
    expect(formatRelative(new Date(t.getTime() - 3 * 60_000), t, en)).toBe("3 minutes ago");
    expect(formatRelative(new Date(t.getTime() - 26 * 3600_000), t, en)).toBe("yesterday");
  });

  it("weekdays start on Monday (ISO 1..7), hours in the locale's clock", () => {
    expect(weekdayNames("short", en)).toEqual(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]);
    expect(hourLabel(14, en)).toBe("2 PM");
    expect(hourLabel(14, de)).toBe("14 Uhr");
  });
});

describe("the live feed's time", () => {
  const utc = { locale: "en-GB", timeZone: "UTC" };
  const now = new Date("2026-03-29T15:00:00Z");
  it("is the time of day for today, and carries the date for an earlier day", () => {
    expect(formatFeedTime(new Date("2026-03-29T14:05:09Z"), now, utc)).toBe("14:05:09");
    expect(formatFeedTime(new Date("2026-03-27T22:05:09Z"), now, utc)).toBe("27 Mar, 22:05");
  });
});
