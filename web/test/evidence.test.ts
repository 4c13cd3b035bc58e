import { describe, expect, it } from "vitest";
import { evidenceValue, humanKey } from "../src/lib/evidence";

const en = { locale: "en-US", timeZone: "UTC" };

describe("pattern evidence and attributes", () => {
  it("names keys in words", () => {
    expect(humanKey("gapStdHours")).toBe("Gap std hours");
    expect(humanKey("avg_interval_hours")).toBe("Avg interval hours");
  });

  it("shows instants and days as dates, flags as yes or no, numbers in the locale", () => {
    expect(evidenceValue("2026-11-19T01:00:00Z", en)).toBe("Nov 19, 2026, 1:00 AM");
    expect(evidenceValue("2026-11-19", en)).toBe("Nov 19, 2026");
    expect(evidenceValue(false, en)).toBe("No");
    expect(evidenceValue(true, en)).toBe("Yes");
    expect(evidenceValue(1234, en)).toBe("1,234");
    expect(evidenceValue(0.12345, en)).toBe("0.12");
    expect(evidenceValue("chat", en)).toBe("chat");
  });

  it("shows nested values as pairs, never as JSON", () => {
    expect(evidenceValue({ country: "GB", city: "Leeds" }, en)).toBe("Country GB, City Leeds");
    expect(evidenceValue(["web", "chat"], en)).toBe("web, chat");
    expect(evidenceValue(null, en)).toBe("–");
  });
});
