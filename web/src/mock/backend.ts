// An in-memory implementation of the API (Connect's router transport) over the fixtures: the
// dashboard runs and is tested without a server. It follows the contract's rules where the UI
// depends on them: permissions from the protos' access option, keyset page tokens, drill-down
// filters with their query string, resume by last event id with a "resync" past the replay window.
// Development (`--mode mock`) and tests only: production builds never import it.

import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  Code, ConnectError, createRouterTransport, type HandlerContext, type Interceptor, type Transport,
} from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import { AnalysisService } from "../gen/insights/v1/analysis_pb";
import { AuthService, type ApiKey, type Session as SessionMsg, type User } from "../gen/insights/v1/auth_pb";
import {
  type BehaviorPattern, type Customer, type Interaction, type InteractionFilter, InteractionFilterSchema, type SentimentDistribution,
} from "../gen/insights/v1/common_pb";
import { PrivacyService } from "../gen/insights/v1/privacy_pb";
import {
  QueryService, type BreakdownEntry, type Change, type CountMetric, type HeatmapCell, type TrendPoint, type TrendSeries,
} from "../gen/insights/v1/query_pb";
import { StreamService, type Event as StreamEventMsg } from "../gen/insights/v1/stream_pb";
import { SystemService } from "../gen/insights/v1/system_pb";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb";
import { methodAccess } from "../api/access";
import { filterToQuery, type Filter } from "../api/filters";
import {
  buildDataset, CHANNELS, DAY, DEMO_PASSWORD, HOUR, makeInteraction, rng, sentimentFor, uuid,
  type Dataset, type MockCustomer, type MockInteraction, type MockPattern,
} from "./fixtures";

// Loose message literals for the fixtures (MessageInitShape without the nesting rules): the router
// transport builds the real messages from them.
type Init<T> = T extends { $typeName: string } ? { [K in Exclude<keyof T, "$typeName" | "$unknown">]?: Loose<T[K]> } : never;
type Loose<V> = V extends { $typeName: string } ? Init<V> : V extends (infer E)[] ? (E extends { $typeName: string } ? Init<E>[] : V) : V;

export interface MockOptions {
  interceptors?: Interceptor[];
  now?: () => number;
  /** Access-token lifetime in seconds (short values exercise the silent refresh). */
  tokenTtlS?: number;
  /** Live events per second from Subscribe (0: none). */
  eventRate?: number;
  /** Answer AnalyzeSentiment with the rule-based fallback, as when the model tier is down. */
  modelDown?: boolean;
  /** How many events a resume may replay before answering "resync". */
  replayMax?: number;
  dataset?: Dataset;
}

const ROLE_PERMISSIONS: Record<string, string[]> = {
  viewer: ["insights:read", "stream:read"],
  analyst: ["insights:read", "stream:read", "analysis:run", "data:ingest", "data:write"],
  admin: ["insights:read", "stream:read", "analysis:run", "data:ingest", "data:write", "customers:manage", "users:manage", "apikeys:manage"],
};

interface MockUser {
  id: string;
  email: string;
  firstName: string;
  lastName: string;
  role: string;
  extra: string[];
  active: boolean;
  createdAt: number;
  lastLoginAt?: number;
  password: string;
}

const ts = (ms: number | undefined): Timestamp | undefined => (ms === undefined ? undefined : timestampFromMs(ms));

function fail(code: Code, message: string): never {
  throw new ConnectError(message, code);
}

// ---- time zones (approximate at DST edges; fine for a mock) --------------------------------------

interface LocalParts { y: number; m: number; d: number; h: number; wd: number }
const partFormatters = new Map<string, Intl.DateTimeFormat>();

function localParts(ms: number, tz: string): LocalParts {
  let f = partFormatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", weekday: "short" });
    partFormatters.set(tz, f);
  }
  const p: Record<string, string> = {};
  for (const part of f.formatToParts(ms)) p[part.type] = part.value;
  const wd = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].indexOf(p["weekday"] ?? "Mon") + 1;
  return { y: Number(p["year"]), m: Number(p["month"]), d: Number(p["day"]), h: Number(p["hour"]) % 24, wd };
}

function zoned(y: number, m: number, d: number, h: number, tz: string): number {
  const guess = Date.UTC(y, m - 1, d, h);
  const p = localParts(guess, tz);
  const offset = Date.UTC(p.y, p.m - 1, p.d, p.h) - guess;
  return guess - offset;
}

type Unit = "hour" | "day" | "week" | "month";

function bucketStart(ms: number, unit: Unit, tz: string): number {
  const p = localParts(ms, tz);
  switch (unit) {
    case "hour": return zoned(p.y, p.m, p.d, p.h, tz);
    case "day": return zoned(p.y, p.m, p.d, 0, tz);
    case "week": return zoned(p.y, p.m, p.d - (p.wd - 1), 0, tz);
    case "month": return zoned(p.y, p.m, 1, 0, tz);
  }
}

function nextBucket(start: number, unit: Unit, tz: string): number {
  const step = unit === "hour" ? HOUR * 1.5 : unit === "day" ? DAY * 1.2 : unit === "week" ? DAY * 7.5 : DAY * 32;
  return bucketStart(start + step, unit, tz);
}

function bucketLabel(ms: number, unit: Unit, tz: string): string {
  const p = localParts(ms, tz);
  const pad = (n: number): string => String(n).padStart(2, "0");
  switch (unit) {
    case "hour": return `${p.y}-${pad(p.m)}-${pad(p.d)}T${pad(p.h)}:00`;
    case "day": return `${p.y}-${pad(p.m)}-${pad(p.d)}`;
    case "month": return `${p.y}-${pad(p.m)}`;
    case "week": {
      const thursday = Date.UTC(p.y, p.m - 1, p.d + (4 - p.wd));
      const year = new Date(thursday).getUTCFullYear();
      const week = Math.ceil(((thursday - Date.UTC(year, 0, 1)) / DAY + 1) / 7);
      return `${year}-W${pad(week)}`;
    }
  }
}

// ---- filters --------------------------------------------------------------------------------------

interface Range { start: number; end: number }

function parseInstant(v: string, tz: string, field: string, isEnd: boolean): number {
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
  if (date) {
    const ms = zoned(Number(date[1]), Number(date[2]), Number(date[3]), 0, tz);
    return isEnd ? ms + DAY : ms;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) fail(Code.InvalidArgument, `${field}: not an RFC 3339 instant or a YYYY-MM-DD date: "${v}"`);
  return t;
}

function rangeOf(f: Filter, now: number): Range {
  const tz = f.timeZone || "UTC";
  const end = f.endDate ? parseInstant(f.endDate, tz, "endDate", true) : now;
  const start = f.startDate ? parseInstant(f.startDate, tz, "startDate", false) : end - 30 * DAY;
  if (start >= end) fail(Code.InvalidArgument, "startDate: must be before endDate");
  return { start, end };
}

function asFilter(req: Partial<Filter>): Filter {
  return {
    startDate: req.startDate ?? "", endDate: req.endDate ?? "", channels: req.channels ?? [],
    customerSegments: req.customerSegments ?? [], eventTypes: req.eventTypes ?? [], sentiments: req.sentiments ?? [],
    sentimentMin: req.sentimentMin, sentimentMax: req.sentimentMax, customerId: req.customerId ?? "", q: req.q ?? "",
    timeZone: req.timeZone ?? "", weekdays: req.weekdays ?? [], hours: req.hours ?? [],
  };
}

function terms(q: string): { include: string[]; exclude: string[] } {
  const include: string[] = [];
  const exclude: string[] = [];
  for (const m of q.matchAll(/(-?)"([^"]+)"|(-?)(\S+)/g)) {
    const neg = (m[1] ?? m[3]) === "-";
    const t = (m[2] ?? m[4] ?? "").toLowerCase();
    if (!t || t === "or") continue;
    (neg ? exclude : include).push(t);
  }
  return { include, exclude };
}

class Matcher {
  readonly range: Range;
  private readonly q: { include: string[]; exclude: string[] };
  constructor(readonly f: Filter, private readonly data: Dataset, now: number, private readonly customerRef?: string) {
    this.range = rangeOf(f, now);
    this.q = terms(f.q);
    if (f.sentimentMin !== undefined && (f.sentimentMin < -1 || f.sentimentMin > 1)) fail(Code.InvalidArgument, "sentimentMin: must be between -1 and 1");
    if (f.sentimentMax !== undefined && (f.sentimentMax < -1 || f.sentimentMax > 1)) fail(Code.InvalidArgument, "sentimentMax: must be between -1 and 1");
  }

  private customerId(): string | undefined {
    const ref = this.customerRef ?? this.f.customerId;
    if (!ref) return undefined;
    return this.data.customers.find((c) => c.id === ref || c.externalId === ref)?.id ?? "(none)";
  }

  matches(i: MockInteraction, range: Range = this.range): boolean {
    const f = this.f;
    if (i.at < range.start || i.at >= range.end) return false;
    if (f.channels.length && !f.channels.includes(i.channel)) return false;
    if (f.customerSegments.length && !f.customerSegments.includes(i.segment)) return false;
    if (f.eventTypes.length && !f.eventTypes.includes(i.eventType)) return false;
    if (f.sentiments.length && !f.sentiments.includes(i.sentiment?.label ?? "pending")) return false;
    if (f.sentimentMin !== undefined && (!i.sentiment || i.sentiment.score < f.sentimentMin)) return false;
    if (f.sentimentMax !== undefined && (!i.sentiment || i.sentiment.score > f.sentimentMax)) return false;
    const cid = this.customerId();
    if (cid && i.customerId !== cid) return false;
    if (f.weekdays.length || f.hours.length) {
      const p = localParts(i.at, f.timeZone || "UTC");
      if (f.weekdays.length && !f.weekdays.includes(p.wd)) return false;
      if (f.hours.length && !f.hours.includes(p.h)) return false;
    }
    if (this.q.include.length || this.q.exclude.length) {
      const text = i.content.toLowerCase();
      if (!this.q.include.every((t) => text.includes(t))) return false;
      if (this.q.exclude.some((t) => text.includes(t))) return false;
    }
    return true;
  }

  snippet(i: MockInteraction): string | undefined {
    if (!this.q.include.length || !i.content) return undefined;
    const lower = i.content.toLowerCase();
    const marks: [number, number][] = [];
    for (const t of this.q.include) {
      let from = 0;
      for (;;) {
        const at = lower.indexOf(t, from);
        if (at < 0) break;
        marks.push([at, at + t.length]);
        from = at + t.length;
      }
    }
    marks.sort((a, b) => a[0] - b[0]);
    let out = "";
    let pos = 0;
    for (const [a, b] of marks) {
      if (a < pos) continue;
      out += i.content.slice(pos, a) + "<mark>" + i.content.slice(a, b) + "</mark>";
      pos = b;
    }
    return out + i.content.slice(pos);
  }
}

function drillDown(f: Filter, patch: Partial<Filter>): InteractionFilter {
  const merged: Filter = { ...f, ...patch };
  return create(InteractionFilterSchema, { ...merged, query: filterToQuery(merged) });
}

function distribution(xs: Iterable<MockInteraction>): Init<SentimentDistribution> & { total: number; sum: number; scored: number } {
  const d = { positive: 0n, neutral: 0n, negative: 0n, pending: 0n, total: 0, sum: 0, scored: 0 };
  for (const i of xs) {
    d.total++;
    if (!i.sentiment) d.pending++;
    else {
      d[i.sentiment.label]++;
      d.sum += i.sentiment.score;
      d.scored++;
    }
  }
  return d;
}

function change(current: number, previous: number): Init<Change> {
  return { previous, absolute: current - previous, percent: previous ? ((current - previous) / previous) * 100 : undefined };
}

// ---- conversions ----------------------------------------------------------------------------------

function interactionMsg(i: MockInteraction): Init<Interaction> {
  return {
    id: i.id, customerId: i.customerId, externalCustomerId: i.externalCustomerId, timestamp: ts(i.at), channel: i.channel,
    eventType: i.eventType, content: i.content, metadata: i.metadata as JsonObject, segment: i.segment, version: BigInt(i.version),
    sentiment: i.sentiment ? { label: i.sentiment.label, scores: i.sentiment.scores, confidence: i.sentiment.confidence, model: "sentiment", modelVersion: "3", score: i.sentiment.score } : undefined,
    processedAt: ts(i.processedAt), createdAt: ts(i.at + 120),
  } as Init<Interaction>;
}

function customerMsg(c: MockCustomer, data: Dataset, now: number): Init<Customer> {
  const xs = data.interactions.filter((i) => i.customerId === c.id);
  const d = distribution(xs);
  return {
    id: c.id, externalId: c.externalId, email: c.email, firstName: c.firstName, lastName: c.lastName, segment: c.segment,
    metadata: c.metadata as JsonObject, firstSeenAt: ts(xs.at(-1)?.at ?? c.createdAt), lastSeenAt: ts(xs[0]?.at ?? c.createdAt),
    interactionCount: BigInt(xs.length), averageSentiment: d.scored ? d.sum / d.scored : undefined, createdAt: ts(c.createdAt), updatedAt: ts(xs[0]?.at ?? now),
    patternTypes: data.patterns.filter((p) => p.customerId === c.id && p.validUntil > now).map((p) => p.patternType),
  } as Init<Customer>;
}

function patternMsg(p: MockPattern): Init<BehaviorPattern> {
  return {
    id: p.id, customerId: p.customerId, patternType: p.patternType, confidence: p.confidence, frequency: p.frequency,
    description: p.description, metadata: p.metadata as JsonObject, detectedAt: ts(p.detectedAt), validUntil: ts(p.validUntil), evidence: p.evidence as JsonObject,
  } as Init<BehaviorPattern>;
}

function pageOf<T>(xs: T[], pageToken: string, pageSize: number, page = 0): { items: T[]; next: string } {
  const size = pageSize > 0 ? Math.min(pageSize, 100) : 50;
  let offset = 0;
  if (pageToken) {
    const m = /^k(\d+)$/.exec(atob(pageToken));
    if (!m) fail(Code.InvalidArgument, "pageToken: not a token from nextPageToken");
    offset = Number(m[1]);
  } else if (page > 0) offset = (page - 1) * size;
  const items = xs.slice(offset, offset + size);
  const next = offset + size < xs.length ? btoa(`k${offset + size}`) : "";
  return { items, next };
}

// ---- the backend ----------------------------------------------------------------------------------

export function createMockTransport(opts: MockOptions = {}): Transport {
  const now = opts.now ?? Date.now;
  const data = opts.dataset ?? buildDataset(now());
  const rand = rng(7);
  const ttl = opts.tokenTtlS ?? 3600;
  const eventRate = opts.eventRate ?? 1.5;
  const replayMax = opts.replayMax ?? 1000;

  const org = { id: "org-northwind", name: "Northwind Analytics" };
  const users: MockUser[] = [
    { id: "u-admin", email: "demo@example.com", firstName: "Avery", lastName: "Chen", role: "admin", extra: [], active: true, createdAt: now() - 200 * DAY, lastLoginAt: now() - HOUR, password: DEMO_PASSWORD },
    { id: "u-analyst", email: "jordan.patel@example.com", firstName: "Jordan", lastName: "Patel", role: "analyst", extra: [], active: true, createdAt: now() - 120 * DAY, lastLoginAt: now() - 5 * HOUR, password: DEMO_PASSWORD },
    { id: "u-viewer", email: "sam.rivera@example.com", firstName: "Sam", lastName: "Rivera", role: "viewer", extra: [], active: true, createdAt: now() - 40 * DAY, lastLoginAt: now() - 3 * DAY, password: DEMO_PASSWORD },
    { id: "u-ops", email: "lena.fischer@example.com", firstName: "Lena", lastName: "Fischer", role: "analyst", extra: ["customers:manage"], active: true, createdAt: now() - 90 * DAY, password: DEMO_PASSWORD },
    { id: "u-left", email: "marco.rossi@example.com", firstName: "Marco", lastName: "Rossi", role: "viewer", extra: [], active: false, createdAt: now() - 300 * DAY, lastLoginAt: now() - 80 * DAY, password: DEMO_PASSWORD },
  ];
  const tokens = new Map<string, { userId: string; sessionId: string; expiresAt: number }>();
  const refreshTokens = new Map<string, { userId: string; sessionId: string; spent: boolean }>();
  const sessions: { id: string; userId: string; createdAt: number; lastUsedAt: number; ip: string; ua: string; revoked: boolean }[] = [
    { id: "s-laptop", userId: "u-admin", createdAt: now() - 6 * DAY, lastUsedAt: now() - 2 * HOUR, ip: "203.0.113.24", ua: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15", revoked: false },
    { id: "s-phone", userId: "u-admin", createdAt: now() - 2 * DAY, lastUsedAt: now() - 9 * HOUR, ip: "198.51.100.7", ua: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148", revoked: false },
  ];
  const apiKeys: (ApiKeyInit & { revoked?: number })[] = [
    { id: "k-1", name: "Website tracker", prefix: "ik_live_7Hq2", permissions: ["data:ingest"], createdAt: now() - 60 * DAY, lastUsedAt: now() - 60_000 },
    { id: "k-2", name: "Zendesk sync", prefix: "ik_live_Pa9x", permissions: ["data:ingest", "data:write"], createdAt: now() - 30 * DAY, lastUsedAt: now() - 3 * HOUR },
    { id: "k-3", name: "Old BI export", prefix: "ik_live_c01d", permissions: ["insights:read"], createdAt: now() - 200 * DAY, revoked: now() - 20 * DAY },
  ];
  const pendingRegistrations = new Map<string, { email: string; firstName: string; lastName: string; password: string; organizationName: string }>();
  const resetTokens = new Map<string, string>();

  // The event log that Subscribe replays from (bounded, like the server's stream).
  const log: StreamEventMsgInit[] = [];
  let seq = 0;
  const listeners = new Set<() => void>();
  const nextId = (): string => `${now()}-${seq++}`;
  const emit = (e: Omit<StreamEventMsgInit, "id">): void => {
    log.push({ ...e, id: nextId() });
    if (log.length > 10_000) log.splice(0, log.length - 10_000);
    for (const fn of listeners) fn();
  };

  function permissionsOf(u: MockUser): string[] {
    return [...new Set([...(ROLE_PERMISSIONS[u.role] ?? []), ...u.extra])];
  }

  function userMsg(u: MockUser): Init<User> {
    return {
      id: u.id, email: u.email, firstName: u.firstName, lastName: u.lastName, role: u.role, permissions: permissionsOf(u),
      organizationId: org.id, organizationName: org.name, createdAt: ts(u.createdAt), lastLoginAt: ts(u.lastLoginAt), active: u.active,
    } as Init<User>;
  }

  function grant(u: MockUser, sessionId: string): { accessToken: string; refreshToken: string; tokenType: string; expiresIn: bigint; user: Init<User> } {
    // Self-describing tokens, so that a session survives a page reload (which builds a new mock).
    const accessToken = `mock-at.${u.id}.${sessionId}.${now() + ttl * 1000}.${uuid(rand).slice(0, 8)}`;
    const refreshToken = `mock-rt.${u.id}.${sessionId}.${uuid(rand).slice(0, 8)}`;
    tokens.set(accessToken, { userId: u.id, sessionId, expiresAt: now() + ttl * 1000 });
    refreshTokens.set(refreshToken, { userId: u.id, sessionId, spent: false });
    u.lastLoginAt = now();
    return { accessToken, refreshToken, tokenType: "Bearer", expiresIn: BigInt(ttl), user: userMsg(u) };
  }

  function newSession(u: MockUser, ctx: HandlerContext): string {
    const id = `s-${uuid(rand).slice(0, 8)}`;
    sessions.push({ id, userId: u.id, createdAt: now(), lastUsedAt: now(), ip: "127.0.0.1", ua: ctx.requestHeader.get("user-agent") ?? navigatorAgent(), revoked: false });
    return id;
  }

  /** A token from before a reload: accept it and recreate its session. */
  function revive(token: string): { userId: string; sessionId: string; expiresAt: number } | undefined {
    const [kind, userId, sessionId, expires] = token.split(".");
    if ((kind !== "mock-at" && kind !== "mock-rt") || !userId || !sessionId || !users.some((u) => u.id === userId)) return undefined;
    if (!sessions.some((s) => s.id === sessionId)) {
      sessions.push({ id: sessionId, userId, createdAt: now() - HOUR, lastUsedAt: now(), ip: "127.0.0.1", ua: navigatorAgent(), revoked: false });
    }
    const t = { userId, sessionId, expiresAt: kind === "mock-at" ? Number(expires) : now() + ttl * 1000 };
    if (kind === "mock-at") tokens.set(token, t);
    else refreshTokens.set(token, { userId, sessionId, spent: false });
    return t;
  }

  function caller(ctx: HandlerContext): { user: MockUser; sessionId: string } {
    const h = (ctx.requestHeader.get("authorization") ?? "").replace(/^Bearer\s+/i, "");
    const t = tokens.get(h) ?? revive(h);
    if (!t) fail(Code.Unauthenticated, "missing or invalid credentials");
    if (t.expiresAt <= now()) fail(Code.Unauthenticated, "token expired");
    const s = sessions.find((x) => x.id === t.sessionId);
    if (!s || s.revoked) fail(Code.Unauthenticated, "session revoked");
    const user = users.find((u) => u.id === t.userId);
    if (!user || !user.active) fail(Code.Unauthenticated, "user disabled");
    s.lastUsedAt = now();
    return { user, sessionId: t.sessionId };
  }

  /** Every method's access rule comes from its (insights.v1.access) option, as on the server. */
  function guard<S extends DescService>(service: S, impl: Record<string, (req: never, ctx: HandlerContext) => unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, fn] of Object.entries(impl)) {
      const method = service.method[name];
      if (!method) throw new Error(`unknown method ${service.typeName}.${name}`);
      const rule = methodAccess(method);
      const check = (ctx: HandlerContext): void => {
        if (rule.public) return;
        const { user } = caller(ctx);
        if (rule.permission && !permissionsOf(user).includes(rule.permission)) fail(Code.PermissionDenied, `missing permission ${rule.permission}`);
      };
      if (method.methodKind === "server_streaming") {
        out[name] = async function* (req: never, ctx: HandlerContext) {
          check(ctx);
          yield* fn(req, ctx) as AsyncIterable<unknown>;
        };
      } else {
        out[name] = async (req: never, ctx: HandlerContext) => {
          await new Promise((r) => setTimeout(r, 40 + rand() * 120));
          check(ctx);
          return fn(req, ctx);
        };
      }
    }
    return out;
  }

  const validatePassword = (p: string, field: string): void => {
    if (p.length < 12 || !/[a-z]/.test(p) || !/[A-Z]/.test(p) || !/\d/.test(p) || !/[^A-Za-z0-9]/.test(p)) {
      throw new ConnectError("invalid password", Code.InvalidArgument, undefined, [
        { desc: BadRequestSchema, value: { fieldViolations: [{ field, description: "At least 12 characters with upper and lower case, a digit and a symbol" }] } },
      ]);
    }
  };

  const sorted = (xs: MockInteraction[], sortBy: string, order: string): MockInteraction[] => {
    const dir = order === "asc" ? 1 : -1;
    const key = sortBy === "sentiment" ? (i: MockInteraction) => i.sentiment?.score ?? -2 : (i: MockInteraction) => i.at;
    return [...xs].sort((a, b) => (key(a) - key(b)) * dir || (a.id < b.id ? -1 : 1));
  };

  function listInteractions(req: Filter & { sortBy: string; sortOrder: string; pageSize: number; pageToken: string; page: number }) {
    const f = asFilter(req);
    const m = new Matcher(f, data, now());
    const all = sorted(data.interactions.filter((i) => m.matches(i)), req.sortBy, req.sortOrder);
    const { items, next } = pageOf(all, req.pageToken, req.pageSize, req.page);
    const d = distribution(all);
    const snippets: Record<string, string> = {};
    for (const i of items) {
      const s = m.snippet(i);
      if (s) snippets[i.id] = s;
    }
    return {
      data: items.map(interactionMsg), total: BigInt(all.length), totalIsEstimate: false, nextPageToken: next,
      distribution: { positive: d.positive, neutral: d.neutral, negative: d.negative, pending: d.pending },
      averageSentiment: d.scored ? d.sum / d.scored : undefined, snippets,
    };
  }

  function countMetric(xs: MockInteraction[], prev: MockInteraction[], dd?: InteractionFilter): Init<CountMetric> {
    return { value: BigInt(xs.length), change: change(xs.length, prev.length), drillDown: dd };
  }

  function breakdown(f: Filter, cur: MockInteraction[], prev: MockInteraction[], key: (i: MockInteraction) => string, field: "channels" | "customerSegments" | "eventTypes", limit: number): Init<BreakdownEntry>[] {
    const groups = new Map<string, MockInteraction[]>();
    for (const i of cur) {
      const k = key(i);
      let xs = groups.get(k);
      if (!xs) groups.set(k, (xs = []));
      xs.push(i);
    }
    const entries = [...groups.entries()].sort((a, b) => b[1].length - a[1].length);
    const top = entries.slice(0, limit);
    const rest = entries.slice(limit);
    const out: Init<BreakdownEntry>[] = top.map(([k, xs]) => {
      const p = prev.filter((i) => key(i) === k);
      const d = distribution(xs);
      const pd = distribution(p);
      const avg = d.scored ? d.sum / d.scored : undefined;
      const pavg = pd.scored ? pd.sum / pd.scored : 0;
      return {
        key: k, other: false, count: countMetric(xs, p, drillDown(f, { [field]: [k] })),
        averageSentiment: { value: avg, change: change(avg ?? 0, pavg) },
        distribution: { positive: d.positive, neutral: d.neutral, negative: d.negative, pending: d.pending },
      } as Init<BreakdownEntry>;
    });
    if (rest.length) {
      const xs = rest.flatMap(([, v]) => v);
      const keys = new Set(rest.map(([k]) => k));
      const p = prev.filter((i) => keys.has(key(i)));
      const d = distribution(xs);
      out.push({ key: "other", other: true, count: countMetric(xs, p, drillDown(f, { [field]: [...keys] })), averageSentiment: { value: d.scored ? d.sum / d.scored : undefined }, distribution: { positive: d.positive, neutral: d.neutral, negative: d.negative, pending: d.pending } } as Init<BreakdownEntry>);
    }
    return out;
  }

  function trendPoints(f: Filter, xs: MockInteraction[], prevXs: MockInteraction[] | null, range: Range, prevRange: Range | null, unit: Unit, tz: string, extra: Partial<Filter> = {}): Init<TrendPoint>[] {
    const starts: number[] = [];
    for (let s = bucketStart(range.start, unit, tz); s < range.end && starts.length < 2000; s = nextBucket(s, unit, tz)) starts.push(s);
    const buckets = starts.map(() => [] as MockInteraction[]);
    const find = (t: number, ss: number[]): number => {
      let lo = 0;
      let hi = ss.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (ss[mid]! <= t) lo = mid;
        else hi = mid - 1;
      }
      return lo;
    };
    for (const i of xs) buckets[find(i.at, starts)]!.push(i);
    let prevBuckets: MockInteraction[][] | null = null;
    if (prevXs && prevRange) {
      const shift = range.start - prevRange.start;
      prevBuckets = starts.map(() => []);
      for (const i of prevXs) prevBuckets[find(i.at + shift, starts)]!.push(i);
    }
    return starts.map((s, k) => {
      const e = Math.min(starts[k + 1] ?? nextBucket(s, unit, tz), range.end);
      const bs = Math.max(s, range.start);
      const d = distribution(buckets[k]!);
      const avg = d.scored ? d.sum / d.scored : undefined;
      const pd = prevBuckets ? distribution(prevBuckets[k]!) : null;
      return {
        bucketStart: ts(s), bucketEnd: ts(e), label: bucketLabel(s, unit, tz), total: BigInt(d.total),
        distribution: { positive: d.positive, neutral: d.neutral, negative: d.negative, pending: d.pending }, averageSentiment: avg,
        totalChange: pd ? change(d.total, pd.total) : undefined,
        averageSentimentChange: pd && avg !== undefined && pd.scored ? change(avg, pd.sum / pd.scored) : undefined,
        drillDown: drillDown(f, { ...extra, startDate: new Date(bs).toISOString(), endDate: new Date(e).toISOString() }),
      } as Init<TrendPoint>;
    });
  }

  function startGenerator(): () => void {
    if (eventRate <= 0) return () => undefined;
    let stopped = false;
    const one = (): void => {
      const c = data.customers[Math.floor(rand() ** 1.2 * data.customers.length)]!;
      const i = makeInteraction(rand, c, now(), now());
      i.sentiment = undefined;
      i.processedAt = undefined;
      data.interactions.unshift(i);
      if (data.interactions.length > 20_000) data.interactions.pop();
      emit({ type: "interaction.created", occurredAt: ts(now()), interactionId: i.id, customerId: i.customerId, channel: i.channel, payload: { eventType: i.eventType, timestamp: new Date(i.at).toISOString(), ...(i.content ? { content: i.content.slice(0, 200) } : {}) } });
      const delay = eventRate > 50 ? 50 + rand() * 200 : 400 + rand() * 2500;
      setTimeout(() => {
        const label = (["positive", "neutral", "negative"] as const)[Math.floor(rand() * 3)]!;
        const s = sentimentFor(label, rand);
        i.sentiment = s;
        i.processedAt = now();
        emit({ type: "sentiment.analyzed", occurredAt: ts(now()), interactionId: i.id, customerId: i.customerId, channel: i.channel, payload: { label: s.label, confidence: s.confidence, scores: s.scores, model: "sentiment", modelVersion: "3" } });
      }, delay);
    };
    // Events are made by elapsed time, so the rate holds even when timers fire late.
    let last = Date.now();
    let owed = 0;
    const tick = (): void => {
      if (stopped) return;
      const t = Date.now();
      owed += ((t - last) / 1000) * eventRate * (0.6 + rand() * 0.8);
      last = t;
      for (; owed >= 1; owed--) one();
      setTimeout(tick, eventRate > 20 ? 50 : 1000 / eventRate);
    };
    setTimeout(tick, 300);
    return () => {
      stopped = true;
    };
  }
  let generatorUsers = 0;
  let stopGenerator: (() => void) | null = null;

  return createRouterTransport(
    (router) => {
      router.service(AuthService, guard(AuthService, {
        register: (req: RegisterReq) => {
          validatePassword(req.password, "password");
          if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(req.email)) fail(Code.InvalidArgument, "email: not an email address");
          const token = `verify-${uuid(rand)}`;
          pendingRegistrations.set(token, { ...req });
          // The mock "sends" the email to the console, where a developer can pick the link up.
          console.info(`[mock] verification link: /verify-email?token=${token}`);
          return { status: "verification_sent" };
        },
        verifyEmail: (req: { token: string; password: string }, ctx: HandlerContext) => {
          const p = pendingRegistrations.get(req.token);
          if (!p) fail(Code.Unauthenticated, "Invalid or expired verification link");
          // As the server: only the password chosen at sign-up completes it, and a wrong one leaves the link unspent.
          if (req.password !== p.password) fail(Code.Unauthenticated, "Invalid email or password");
          pendingRegistrations.delete(req.token);
          const u: MockUser = { id: `u-${uuid(rand).slice(0, 8)}`, email: p.email, firstName: p.firstName, lastName: p.lastName, role: "admin", extra: [], active: true, createdAt: now(), password: p.password };
          users.push(u);
          return grant(u, newSession(u, ctx));
        },
        login: (req: { email: string; password: string }, ctx: HandlerContext) => {
          const u = users.find((x) => x.email.toLowerCase() === req.email.trim().toLowerCase());
          if (!u || u.password !== req.password || !u.active) fail(Code.Unauthenticated, "Invalid email or password");
          return grant(u, newSession(u, ctx));
        },
        refresh: (req: { refreshToken: string }) => {
          if (!refreshTokens.has(req.refreshToken)) revive(req.refreshToken);
          const r = refreshTokens.get(req.refreshToken);
          if (!r) fail(Code.Unauthenticated, "invalid refresh token");
          const s = sessions.find((x) => x.id === r.sessionId);
          if (r.spent) {
            if (s) s.revoked = true;
            fail(Code.Unauthenticated, "refresh token reuse: session revoked");
          }
          if (!s || s.revoked) fail(Code.Unauthenticated, "session revoked");
          r.spent = true;
          const u = users.find((x) => x.id === r.userId)!;
          return grant(u, r.sessionId);
        },
        logout: (_req: unknown, ctx: HandlerContext) => {
          const { sessionId } = caller(ctx);
          const s = sessions.find((x) => x.id === sessionId);
          if (s) s.revoked = true;
          return {};
        },
        getMe: (_req: unknown, ctx: HandlerContext) => ({ user: userMsg(caller(ctx).user) }),
        changePassword: (req: { currentPassword: string; newPassword: string }, ctx: HandlerContext) => {
          const { user } = caller(ctx);
          if (user.password !== req.currentPassword) fail(Code.InvalidArgument, "currentPassword: does not match");
          validatePassword(req.newPassword, "new_password");
          user.password = req.newPassword;
          return {};
        },
        requestPasswordReset: (req: { email: string }) => {
          const u = users.find((x) => x.email === req.email.trim().toLowerCase());
          if (u) {
            const token = `reset-${uuid(rand)}`;
            resetTokens.set(token, u.id);
            console.info(`[mock] password reset link: /reset-password?token=${token}`);
          }
          return { status: "reset_sent_if_registered" };
        },
        resetPassword: (req: { token: string; newPassword: string }) => {
          const id = resetTokens.get(req.token);
          if (!id) fail(Code.InvalidArgument, "token: invalid or expired reset link");
          validatePassword(req.newPassword, "new_password");
          const u = users.find((x) => x.id === id)!;
          u.password = req.newPassword;
          resetTokens.delete(req.token);
          for (const s of sessions) if (s.userId === id) s.revoked = true;
          return {};
        },
        listSessions: (_req: unknown, ctx: HandlerContext) => {
          const { user, sessionId } = caller(ctx);
          const mine = sessions.filter((s) => s.userId === user.id && !s.revoked).sort((a, b) => b.lastUsedAt - a.lastUsedAt);
          return {
            sessions: mine.map((s) => ({ id: s.id, createdAt: ts(s.createdAt), lastUsedAt: ts(s.lastUsedAt), expiresAt: ts(s.createdAt + 7 * DAY), clientIp: s.ip, userAgent: s.ua, current: s.id === sessionId }) as Init<SessionMsg>),
            nextPageToken: "",
          };
        },
        revokeSession: (req: { sessionId: string }, ctx: HandlerContext) => {
          const { user } = caller(ctx);
          const s = sessions.find((x) => x.id === req.sessionId && x.userId === user.id);
          if (!s) fail(Code.NotFound, "session not found");
          s.revoked = true;
          return {};
        },
        revokeAllSessions: (req: { keepCurrent: boolean }, ctx: HandlerContext) => {
          const { user, sessionId } = caller(ctx);
          let revoked = 0;
          for (const s of sessions) {
            if (s.userId === user.id && !s.revoked && !(req.keepCurrent && s.id === sessionId)) {
              s.revoked = true;
              revoked++;
            }
          }
          return { revoked };
        },
        createUser: (req: { email: string; password: string; firstName: string; lastName: string; role: string; permissions: string[] }) => {
          if (users.some((u) => u.email === req.email.toLowerCase())) fail(Code.AlreadyExists, "email: a user with this email exists");
          if (!ROLE_PERMISSIONS[req.role]) fail(Code.InvalidArgument, "role: must be admin, analyst or viewer");
          validatePassword(req.password, "password");
          const u: MockUser = { id: `u-${uuid(rand).slice(0, 8)}`, email: req.email.toLowerCase(), firstName: req.firstName, lastName: req.lastName, role: req.role, extra: req.permissions, active: true, createdAt: now(), password: req.password };
          users.push(u);
          return { user: userMsg(u) };
        },
        listUsers: (req: { pageSize: number; pageToken: string }) => {
          const { items, next } = pageOf(users, req.pageToken, req.pageSize);
          return { users: items.map(userMsg), nextPageToken: next, total: BigInt(users.length) };
        },
        disableUser: (req: { userId: string }, ctx: HandlerContext) => {
          const { user: me } = caller(ctx);
          const u = users.find((x) => x.id === req.userId);
          if (!u) fail(Code.NotFound, "user not found");
          if (u.id === me.id) fail(Code.FailedPrecondition, "You cannot disable yourself");
          u.active = false;
          for (const s of sessions) if (s.userId === u.id) s.revoked = true;
          return { user: userMsg(u) };
        },
        enableUser: (req: { userId: string }) => {
          const u = users.find((x) => x.id === req.userId);
          if (!u) fail(Code.NotFound, "user not found");
          u.active = true;
          return { user: userMsg(u) };
        },
        createApiKey: (req: { name: string; permissions: string[] }, ctx: HandlerContext) => {
          const { user } = caller(ctx);
          if (!req.name.trim()) fail(Code.InvalidArgument, "name: required");
          const mine = permissionsOf(user);
          const bad = req.permissions.filter((p) => !mine.includes(p));
          if (bad.length) fail(Code.PermissionDenied, `permissions: not yours to grant: ${bad.join(", ")}`);
          const secret = `ik_live_${uuid(rand).replace(/-/g, "")}`;
          const key = { id: `k-${uuid(rand).slice(0, 8)}`, name: req.name.trim(), prefix: secret.slice(0, 12), permissions: req.permissions, createdAt: now() };
          apiKeys.unshift(key);
          return { apiKey: apiKeyMsg(key), secret };
        },
        listApiKeys: () => ({ apiKeys: apiKeys.map(apiKeyMsg), nextPageToken: "" }),
        revokeApiKey: (req: { keyId: string }) => {
          const k = apiKeys.find((x) => x.id === req.keyId);
          if (!k) fail(Code.NotFound, "API key not found");
          k.revoked = now();
          return {};
        },
      }));

      router.service(QueryService, guard(QueryService, {
        listInteractions: listInteractions,
        getInsights: listInteractions,
        getAggregatedMetrics: (req: Filter & { topEventTypes: number }) => {
          const f = asFilter(req);
          const m = new Matcher(f, data, now());
          const len = m.range.end - m.range.start;
          const prevRange = { start: m.range.start - len, end: m.range.start };
          const cur = data.interactions.filter((i) => m.matches(i));
          const prev = data.interactions.filter((i) => m.matches(i, prevRange));
          const d = distribution(cur);
          const pd = distribution(prev);
          const uniq = (xs: MockInteraction[]) => new Set(xs.map((i) => i.customerId)).size;
          const active = (end: number) => new Set(data.interactions.filter((i) => i.at < end && i.at >= end - 30 * DAY).map((i) => i.customerId)).size;
          const avg = d.scored ? d.sum / d.scored : undefined;
          const pavg = pd.scored ? pd.sum / pd.scored : 0;
          const label = (l: "positive" | "neutral" | "negative" | "pending") => {
            const pick = (xs: MockInteraction[]) => xs.filter((i) => (i.sentiment?.label ?? "pending") === l);
            return countMetric(pick(cur), pick(prev), drillDown(f, { sentiments: [l] }));
          };
          return {
            startTime: ts(m.range.start), endTime: ts(m.range.end), previousStartTime: ts(prevRange.start), previousEndTime: ts(prevRange.end),
            totalInteractions: countMetric(cur, prev, drillDown(f, {})),
            uniqueCustomers: { value: BigInt(uniq(cur)), change: change(uniq(cur), uniq(prev)) },
            activeCustomers: { value: BigInt(active(m.range.end)), change: change(active(m.range.end), active(prevRange.end)) },
            averageSentiment: { value: avg, change: change(avg ?? 0, pavg) },
            positive: label("positive"), neutral: label("neutral"), negative: label("negative"), pending: label("pending"),
            byChannel: breakdown(f, cur, prev, (i) => i.channel, "channels", 10),
            bySegment: breakdown(f, cur, prev, (i) => i.segment, "customerSegments", 10),
            topEventTypes: breakdown(f, cur, prev, (i) => i.eventType, "eventTypes", req.topEventTypes || 10),
          };
        },
        getSentimentTrends: (req: Filter & { groupBy: string; breakdown: string; breakdownLimit: number; comparePrevious: boolean }) => {
          const f = asFilter(req);
          const tz = f.timeZone || "UTC";
          const unit = (req.groupBy || "day") as Unit;
          if (!["hour", "day", "week", "month"].includes(unit)) fail(Code.InvalidArgument, "groupBy: must be hour, day, week or month");
          const m = new Matcher(f, data, now());
          if (unit === "hour" && m.range.end - m.range.start > 31 * DAY) fail(Code.InvalidArgument, "groupBy: hour buckets cover at most 31 days");
          const len = m.range.end - m.range.start;
          const prevRange = req.comparePrevious ? { start: m.range.start - len, end: m.range.start } : null;
          const cur = data.interactions.filter((i) => m.matches(i));
          const prev = prevRange ? data.interactions.filter((i) => m.matches(i, prevRange)) : null;
          const series: Init<TrendSeries>[] = [];
          const field = req.breakdown === "channel" ? "channels" : req.breakdown === "segment" ? "customerSegments" : req.breakdown === "event_type" ? "eventTypes" : null;
          if (field) {
            const key = (i: MockInteraction) => (field === "channels" ? i.channel : field === "customerSegments" ? i.segment : i.eventType);
            const counts = new Map<string, number>();
            for (const i of cur) counts.set(key(i), (counts.get(key(i)) ?? 0) + 1);
            const keys = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
            const top = keys.slice(0, req.breakdownLimit || 5);
            const rest = keys.slice(top.length);
            const groups: [string, string[], boolean][] = top.map((k) => [k, [k], false]);
            if (rest.length) groups.push(["other", rest, true]);
            for (const [k, values, other] of groups) {
              const xs = cur.filter((i) => values.includes(key(i)));
              const ps = prev?.filter((i) => values.includes(key(i))) ?? null;
              series.push({ key: k, other, total: BigInt(xs.length), totalChange: ps ? change(xs.length, ps.length) : undefined, points: trendPoints(f, xs, ps, m.range, prevRange, unit, tz, { [field]: values }) } as Init<TrendSeries>);
            }
          }
          return {
            groupBy: unit, timeZone: tz, startTime: ts(m.range.start), endTime: ts(m.range.end),
            previousStartTime: ts(prevRange?.start), previousEndTime: ts(prevRange?.end),
            points: trendPoints(f, cur, prev, m.range, prevRange, unit, tz), breakdown: req.breakdown, series,
          };
        },
        getActivityHeatmap: (req: Filter) => {
          const f = asFilter(req);
          const tz = f.timeZone || "UTC";
          const m = new Matcher(f, data, now());
          const cells = Array.from({ length: 168 }, () => ({ n: 0, sum: 0, scored: 0 }));
          for (const i of data.interactions) {
            if (!m.matches(i)) continue;
            const p = localParts(i.at, tz);
            const c = cells[(p.wd - 1) * 24 + p.h]!;
            c.n++;
            if (i.sentiment) {
              c.sum += i.sentiment.score;
              c.scored++;
            }
          }
          return {
            timeZone: tz,
            cells: cells.map((c, k) => {
              const weekday = Math.floor(k / 24) + 1;
              const hour = k % 24;
              return { weekday, hour, total: BigInt(c.n), averageSentiment: c.scored ? c.sum / c.scored : undefined, drillDown: drillDown(f, { timeZone: tz, weekdays: [weekday], hours: [hour], startDate: new Date(m.range.start).toISOString(), endDate: new Date(m.range.end).toISOString() }) } as Init<HeatmapCell>;
            }),
          };
        },
        getBehaviorPatterns: (req: { customerId: string; patternTypes: string[]; includeExpired: boolean }) => {
          const c = data.customers.find((x) => x.id === req.customerId || x.externalId === req.customerId);
          const ps = data.patterns.filter((p) => (!req.customerId || p.customerId === c?.id) && (!req.patternTypes.length || req.patternTypes.includes(p.patternType)) && (req.includeExpired || p.validUntil > now()));
          return { patterns: ps.map(patternMsg) };
        },
        listCustomers: (req: { q: string; segments: string[]; sortBy: string; sortOrder: string; pageSize: number; pageToken: string; page: number; patternTypes: string[] }) => {
          const q = req.q.trim().toLowerCase();
          let xs = data.customers.filter((c) => (!q || `${c.externalId} ${c.email} ${c.firstName} ${c.lastName}`.toLowerCase().includes(q)) && (!req.segments.length || req.segments.includes(c.segment)));
          if (req.patternTypes.length) xs = xs.filter((c) => data.patterns.some((p) => p.customerId === c.id && req.patternTypes.includes(p.patternType)));
          const msgs = xs.map((c) => customerMsg(c, data, now()));
          const dir = req.sortOrder === "asc" ? 1 : -1;
          const key = (c: Init<Customer>): number => req.sortBy === "interactions" ? Number(c.interactionCount) : req.sortBy === "sentiment" ? (c.averageSentiment ?? -2) : Number(c.lastSeenAt?.seconds ?? 0n);
          msgs.sort((a, b) => (key(a) - key(b)) * dir);
          const { items, next } = pageOf(msgs, req.pageToken, req.pageSize, req.page);
          return { customers: items, total: BigInt(msgs.length), totalIsEstimate: false, nextPageToken: next };
        },
        getCustomer: (req: { id: string }) => {
          const c = data.customers.find((x) => x.id === req.id || x.externalId === req.id);
          if (!c) fail(Code.NotFound, `customer ${req.id} not found`);
          const xs = data.interactions.filter((i) => i.customerId === c.id);
          const d = distribution(xs);
          const byChannel: Record<string, bigint> = {};
          for (const i of xs) byChannel[i.channel] = (byChannel[i.channel] ?? 0n) + 1n;
          return {
            customer: customerMsg(c, data, now()), patterns: data.patterns.filter((p) => p.customerId === c.id && p.validUntil > now()).map(patternMsg),
            distribution: { positive: d.positive, neutral: d.neutral, negative: d.negative, pending: d.pending }, byChannel,
          };
        },
      }));

      router.service(AnalysisService, guard(AnalysisService, {
        analyzeSentiment: (req: { text: string }) => {
          const text = req.text.trim();
          if (!text) fail(Code.InvalidArgument, "text: required");
          const started = performance.now();
          const lower = text.toLowerCase();
          const pos = (lower.match(/\b(thank|thanks|great|love|happy|fantastic|perfect|excellent|helpful|impressive|good|amazing|fast|easy)\w*/g) ?? []).length;
          const neg = (lower.match(/\b(not|never|bad|broken|crash|fail|slow|angry|terrible|useless|disappoint|cancel|refund|charged|damaged|worst|frustrat|unacceptable)\w*/g) ?? []).length;
          const label = pos > neg ? "positive" : neg > pos ? "negative" : "neutral";
          const s = sentimentFor(label, rng(text.length * 31 + pos * 7 + neg));
          return {
            sentiment: s.label, confidence: s.confidence, scores: s.scores, processingTimeMs: performance.now() - started + 6 + rand() * 8,
            model: opts.modelDown ? "rule-based" : "sentiment", modelVersion: opts.modelDown ? "vader-3.3.2" : "3", truncated: text.length > 2000,
            source: opts.modelDown ? "fallback" : "model", fallbackReason: opts.modelDown ? "unavailable" : "",
          };
        },
        getModelInfo: () => ({ name: "sentiment", version: "3", labels: ["negative", "neutral", "positive"], metrics: { test_macro_f1: 0.797 }, backend: "embedded", maxTextLength: 2000, versions: [{ version: "3", role: "production", trafficShare: 1 }] }),
      }));

      router.service(PrivacyService, guard(PrivacyService, {
        exportCustomer: (req: { id: string }) => {
          const c = data.customers.find((x) => x.id === req.id || x.externalId === req.id);
          if (!c) fail(Code.NotFound, `customer ${req.id} not found`);
          return { customer: customerMsg(c, data, now()), interactions: data.interactions.filter((i) => i.customerId === c.id).map(interactionMsg), patterns: data.patterns.filter((p) => p.customerId === c.id).map(patternMsg) };
        },
        eraseCustomer: (req: { id: string }) => {
          const c = data.customers.find((x) => x.id === req.id || x.externalId === req.id);
          if (!c) fail(Code.NotFound, `customer ${req.id} not found`);
          const before = data.interactions.length;
          data.interactions = data.interactions.filter((i) => i.customerId !== c.id);
          const pBefore = data.patterns.length;
          data.patterns = data.patterns.filter((p) => p.customerId !== c.id);
          data.customers = data.customers.filter((x) => x.id !== c.id);
          return { interactionsDeleted: BigInt(before - data.interactions.length), patternsDeleted: BigInt(pBefore - data.patterns.length), eventsDeleted: 0n, cachesPurged: true };
        },
      }));

      router.service(StreamService, guard(StreamService, {
        subscribe: async function* (req: { channels: string[]; customerId: string; eventTypes: string[]; lastEventId: string }, ctx: HandlerContext) {
          const wanted = (e: StreamEventMsgInit): boolean =>
            (!req.channels.length || req.channels.includes(e.channel ?? "")) &&
            (!req.customerId || e.customerId === req.customerId || data.customers.find((c) => c.externalId === req.customerId)?.id === e.customerId) &&
            (!req.eventTypes.length || req.eventTypes.includes(e.type ?? ""));
          let cursor = log.length;
          if (req.lastEventId) {
            const at = log.findIndex((e) => e.id === req.lastEventId);
            if (at < 0 || log.length - (at + 1) > replayMax) {
              yield { event: { id: log.at(-1)?.id ?? nextId(), type: "resync", occurredAt: ts(now()) } };
            } else cursor = at + 1;
          }
          // The first heartbeat's id is the position the stream continues from (as the server's).
          const position = (): string => (cursor > 0 ? log[cursor - 1]!.id : req.lastEventId || "0-0");
          yield { event: { id: position(), type: "heartbeat", occurredAt: ts(now()), payload: { subscribed: true } } };
          if (generatorUsers++ === 0) stopGenerator = startGenerator();
          try {
            for (;;) {
              while (cursor < log.length) {
                const e = log[cursor++]!;
                if (wanted(e)) yield { event: e };
              }
              await new Promise<void>((resolve, reject) => {
                const onAbort = (): void => {
                  listeners.delete(wake);
                  clearTimeout(timer);
                  reject(ctx.signal.reason instanceof Error ? ctx.signal.reason : new ConnectError("cancelled", Code.Canceled));
                };
                const wake = (): void => {
                  listeners.delete(wake);
                  clearTimeout(timer);
                  ctx.signal.removeEventListener("abort", onAbort);
                  resolve();
                };
                const timer = setTimeout(wake, 20_000);
                listeners.add(wake);
                ctx.signal.addEventListener("abort", onAbort, { once: true });
              });
              if (cursor >= log.length) yield { event: { id: position(), type: "heartbeat", occurredAt: ts(now()), payload: {} } };
            }
          } finally {
            if (--generatorUsers === 0) {
              stopGenerator?.();
              stopGenerator = null;
            }
          }
        },
      }));

      router.service(SystemService, guard(SystemService, {
        getHealth: () => ({ status: "ok", dependencies: { postgres: { status: "up", detail: "", latencyMs: 1.2 }, redis: { status: "up", detail: "", latencyMs: 0.4 } }, version: "mock" }),
      }));
    },
    { transport: { interceptors: opts.interceptors ?? [] } },
  );
}

type ApiKeyInit = { id: string; name: string; prefix: string; permissions: string[]; createdAt: number; lastUsedAt?: number; revoked?: number };
type StreamEventMsgInit = Init<StreamEventMsg> & { id: string; type: string };
type RegisterReq = { email: string; password: string; firstName: string; lastName: string; organizationName: string };

function apiKeyMsg(k: ApiKeyInit): Init<ApiKey> {
  return { id: k.id, name: k.name, prefix: k.prefix, permissions: k.permissions, createdAt: ts(k.createdAt), lastUsedAt: ts(k.lastUsedAt), revokedAt: ts(k.revoked) } as Init<ApiKey>;
}

function navigatorAgent(): string {
  return typeof navigator === "undefined" ? "node" : navigator.userAgent;
}

export { CHANNELS };
