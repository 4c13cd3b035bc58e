// The in-memory backend the dashboard is developed against, through the same generated clients
// and Connect transport API the app uses: auth, permissions from the protos, drill-downs, paging,
// and the live stream's resume / resync rules.

import { describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { AuthService } from "../src/gen/insights/v1/auth_pb";
import { QueryService } from "../src/gen/insights/v1/query_pb";
import { StreamService } from "../src/gen/insights/v1/stream_pb";
import { parseFilter } from "../src/api/filters";
import { authInterceptor } from "../src/api/client";
import { Session } from "../src/api/session";
import { createMockTransport } from "../src/mock/backend";
import { DEMO_PASSWORD } from "../src/mock/fixtures";

const NOW = Date.parse("2026-03-29T12:00:00Z");

function storage(): Pick<Storage, "getItem" | "setItem" | "removeItem"> {
  const m = new Map<string, string>();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) };
}

async function signedIn(email: string, opts: { eventRate?: number; replayMax?: number } = {}) {
  let transport: Transport | null = null;
  const session = new Session({
    refresh: (rt) => createClient(AuthService, transport!).refresh({ refreshToken: rt }),
    getMe: async () => { throw new Error("unused"); },
    storage: storage(),
    now: Date.now,
    onExpired: () => undefined,
  });
  transport = createMockTransport({ interceptors: [authInterceptor(session)], now: () => NOW, eventRate: opts.eventRate ?? 0, replayMax: opts.replayMax });
  const auth = createClient(AuthService, transport);
  session.signIn(await auth.login({ email, password: DEMO_PASSWORD }));
  return { session, auth, query: createClient(QueryService, transport), stream: createClient(StreamService, transport) };
}

describe("mock backend", () => {
  it("signs in and answers GetMe for the token's user; a wrong password is UNAUTHENTICATED", async () => {
    const { auth, session } = await signedIn("demo@example.com");
    expect(session.user?.role).toBe("admin");
    expect((await auth.getMe({})).user?.email).toBe("demo@example.com");
    await expect(auth.login({ email: "demo@example.com", password: "nope" })).rejects.toMatchObject({ code: Code.Unauthenticated });
  });

  it("checks permissions from the protos' access option: a viewer may not list users", async () => {
    const { auth } = await signedIn("sam.rivera@example.com");
    const err = await auth.listUsers({}).catch((e: unknown) => ConnectError.from(e));
    expect(err).toMatchObject({ code: Code.PermissionDenied });
  });

  it("a trend point's drill-down lists exactly the interactions it counts", async () => {
    const { query } = await signedIn("demo@example.com");
    const trends = await query.getSentimentTrends({ startDate: "2026-03-20", endDate: "2026-03-26", timeZone: "Europe/Berlin", groupBy: "day", comparePrevious: true });
    expect(trends.points).toHaveLength(7);
    const point = trends.points.find((p) => p.total > 0n)!;
    // What the Explorer does with the drill-down's query string.
    const filter = parseFilter(point.drillDown!.query);
    const seen = new Set<string>();
    let pageToken = "";
    do {
      const page = await query.listInteractions({ ...filter, pageSize: 100, pageToken });
      for (const i of page.data) seen.add(i.id);
      expect(page.total).toBe(point.total);
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(BigInt(seen.size)).toBe(point.total);
  });

  it("heatmap cells carry weekday/hour drill-downs", async () => {
    const { query } = await signedIn("demo@example.com");
    const heat = await query.getActivityHeatmap({ timeZone: "UTC" });
    expect(heat.cells).toHaveLength(168);
    const busiest = [...heat.cells].sort((a, b) => Number(b.total - a.total))[0]!;
    const page = await query.listInteractions({ ...parseFilter(busiest.drillDown!.query), pageSize: 1 });
    expect(page.total).toBe(busiest.total);
  });

  it("streams interaction.created, then sentiment.analyzed for the same interaction; resumes by last event id", async () => {
    const { stream } = await signedIn("demo@example.com", { eventRate: 100 });
    const controller = new AbortController();
    const seen: { id: string; type: string; interactionId: string }[] = [];
    const it = stream.subscribe({}, { signal: controller.signal })[Symbol.asyncIterator]();
    for (;;) {
      const { value } = await it.next();
      const e = value!.event!;
      seen.push({ id: e.id, type: e.type, interactionId: e.interactionId });
      const analyzed = seen.find((s) => s.type === "sentiment.analyzed");
      if (analyzed && seen.some((s) => s.type === "interaction.created" && s.interactionId === analyzed.interactionId)) break;
    }
    controller.abort();
    expect(seen[0]!.type).toBe("heartbeat");
    // Resuming after the first created event replays what came after it, in order.
    const first = seen.find((s) => s.type === "interaction.created")!;
    const again = new AbortController();
    const replay = stream.subscribe({ lastEventId: first.id }, { signal: again.signal })[Symbol.asyncIterator]();
    const hello = (await replay.next()).value!.event!;
    expect(hello).toMatchObject({ type: "heartbeat", id: first.id });
    const next = (await replay.next()).value!.event!;
    again.abort();
    expect(next.id).toBe(seen[seen.indexOf(first) + 1]!.id);
  });

  it("answers resync when the last event id is too far behind", async () => {
    const { stream } = await signedIn("demo@example.com");
    const controller = new AbortController();
    const first = (await stream.subscribe({ lastEventId: "1-0" }, { signal: controller.signal })[Symbol.asyncIterator]().next()).value!.event!;
    controller.abort();
    expect(first.type).toBe("resync");
  });
});
