import { describe, expect, it } from "vitest";
import { matchPath } from "../src/app/router";
import { ROUTES, visibleNav } from "../src/app/routes";

describe("routes", () => {
  it("a viewer sees no admin or analyst item", () => {
    const viewer = visibleNav(["insights:read", "stream:read"]).map((n) => n.href);
    expect(viewer).toEqual(["/", "/live", "/explorer", "/customers"]);
    const admin = visibleNav(["insights:read", "stream:read", "analysis:run", "users:manage", "apikeys:manage"]).map((n) => n.href);
    expect(admin).toContain("/admin/users");
    expect(admin).toContain("/admin/api-keys");
  });

  it("every admin page requires its permission", () => {
    for (const r of ROUTES.filter((r) => r.path.startsWith("/admin"))) expect(r.permission).toMatch(/:manage$/);
  });

  it("matches path parameters", () => {
    expect(matchPath("/customers/:id", "/customers/CUS-1%2F2")).toEqual({ id: "CUS-1/2" });
    expect(matchPath("/customers/:id", "/customers")).toBeNull();
    expect(matchPath("/", "/")).toEqual({});
  });
});
