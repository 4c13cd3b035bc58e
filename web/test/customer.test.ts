import { describe, expect, it } from "vitest";
import { customerName, customerSubtitle, joinKnown } from "../src/lib/customer";

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
