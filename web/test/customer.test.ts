import { describe, expect, it } from "vitest";
import { customerName, customerSubtitle, historyStart, joinKnown } from "../src/lib/customer";

describe("customer names", () => {
  it("uses the name when there is one, the external id otherwise", () => {
    expect(customerName({ externalId: "crm-1", firstName: "Ada", lastName: "Lovelace" })).toBe("Ada Lovelace");
    expect(customerName({ externalId: "crm-1", firstName: "", lastName: "" })).toBe("crm-1");
    expect(customerName({ externalId: "crm-1", firstName: " ", lastName: undefined })).toBe("crm-1");
  });

  it("leaves empty parts out of the subtitle instead of showing stray separators", () => {
    expect(customerSubtitle({ externalId: "crm-1", firstName: "Ada", lastName: "L", email: "ada@example.com" })).toBe("crm-1 · ada@example.com");
    expect(customerSubtitle({ externalId: "crm-1", firstName: "Ada", lastName: "L", email: "" })).toBe("crm-1");
    expect(customerSubtitle({ externalId: "crm-1", email: "" })).toBe("");
    expect(customerSubtitle({ externalId: "crm-1", email: "x@example.com" })).toBe("x@example.com");
  });

  it("joins only the known parts of a line", () => {
    expect(joinKnown(["", "standard", null, "customer since 1 May 2026", false])).toBe("standard · customer since 1 May 2026");
  });
});

describe("historyStart", () => {
  const now = Date.parse("2026-03-29T12:00:00Z");
  it("starts the day before the customer was first seen", () => {
    expect(historyStart(Date.parse("2026-03-01T00:30:00Z"), now)).toBe("2026-02-28");
  });
  it("never asks for more than the API's longest range", () => {
    expect(historyStart(Date.parse("2001-01-01T00:00:00Z"), now)).toBe("2016-03-31");
    expect(historyStart(undefined, now)).toBe("2016-03-31");
  });
});
