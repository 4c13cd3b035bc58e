import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { InteractionFilterSchema } from "../src/gen/insights/v1/common_pb";
import { activeFilterCount, drillDownHref, exportUrl, filterFromDrillDown, filterToQuery, parseFilter } from "../src/api/filters";

describe("filters", () => {
  it("reads comma lists and repeated parameters alike", () => {
    const f = parseFilter("?channels=web,chat&channels=email&sentiments=negative&weekdays=1&hours=9,10&sentimentMin=-0.5&q=refund");
    expect(f.channels).toEqual(["web", "chat", "email"]);
    expect(f.sentiments).toEqual(["negative"]);
    expect(f.weekdays).toEqual([1]);
    expect(f.hours).toEqual([9, 10]);
    expect(f.sentimentMin).toBe(-0.5);
    expect(f.sentimentMax).toBeUndefined();
    expect(f.q).toBe("refund");
  });

  it("drops values that are not numbers instead of sending NaN", () => {
    const f = parseFilter("sentimentMin=abc&hours=x,3");
    expect(f.sentimentMin).toBeUndefined();
    expect(f.hours).toEqual([3]);
  });

  it("writes a canonical query string that reads back the same", () => {
    const f = parseFilter("startDate=2026-03-01&endDate=2026-03-31&channels=web,chat&customerSegments=enterprise&q=%22late+delivery%22");
    const q = filterToQuery(f);
    expect(q).toBe("startDate=2026-03-01&endDate=2026-03-31&q=%22late+delivery%22&channels=web%2Cchat&customerSegments=enterprise");
    expect(parseFilter(q)).toEqual(f);
  });

  it("sends a drill-down to the Explorer with exactly its ready query", () => {
    const d = create(InteractionFilterSchema, {
      startDate: "2026-03-29T00:00:00Z", endDate: "2026-03-30T00:00:00Z", channels: ["chat"], timeZone: "Europe/Berlin",
      query: "startDate=2026-03-29T00%3A00%3A00Z&endDate=2026-03-30T00%3A00%3A00Z&channels=chat&timeZone=Europe%2FBerlin",
    });
    const href = drillDownHref(d);
    expect(href).toBe(`/explorer?${d.query}`);
    // The Explorer reads it back into the same filter the server described.
    const f = parseFilter(href.split("?")[1]!);
    expect(f).toEqual(filterFromDrillDown(d));
  });

  it("builds the query from the fields when the server sent none", () => {
    const d = create(InteractionFilterSchema, { weekdays: [1], hours: [14], timeZone: "UTC" });
    expect(drillDownHref(d)).toBe("/explorer?timeZone=UTC&weekdays=1&hours=14");
  });

  it("exports the current filter with the same query string", () => {
    const f = parseFilter("channels=web&q=refund");
    expect(exportUrl(f, "csv")).toBe("/api/data/interactions:export?q=refund&channels=web&format=csv");
    expect(exportUrl(parseFilter(""), "ndjson")).toBe("/api/data/interactions:export?format=ndjson");
  });

  it("counts the filters set, the time zone aside", () => {
    expect(activeFilterCount(parseFilter("timeZone=UTC"))).toBe(0);
    expect(activeFilterCount(parseFilter("channels=web&sentimentMin=0&sentimentMax=1&q=x"))).toBe(3);
  });
});
