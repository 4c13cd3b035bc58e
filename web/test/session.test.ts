import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { expiryMarginMs, refreshDelayMs, Session, STORAGE_KEY, type SessionDeps, type TokenGrant } from "../src/api/session";

class MemoryStorage {
  data = new Map<string, string>();
  getItem(k: string): string | null {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    this.data.set(k, v);
  }
  removeItem(k: string): void {
    this.data.delete(k);
  }
}

function grant(n: number, expiresIn = 3600): TokenGrant {
  return { accessToken: `at-${n}`, refreshToken: `rt-${n}`, expiresIn: BigInt(expiresIn) };
}

function setup(overrides: Partial<SessionDeps> = {}) {
  const storage = new MemoryStorage();
  let n = 1;
  const refresh = vi.fn(async (_token: string) => grant(++n));
  const onExpired = vi.fn();
  const session = new Session({
    refresh,
    getMe: async () => {
      throw new Error("not used");
    },
    storage,
    now: () => Date.now(),
    onExpired,
    ...overrides,
  });
  return { session, storage, refresh, onExpired };
}

describe("refreshDelayMs", () => {
  it("refreshes at 80 % of the lifetime, at least a minute early when the lifetime allows, never sooner than 1 s", () => {
    expect(refreshDelayMs(3600)).toBe(2880_000);
    expect(refreshDelayMs(120)).toBe(60_000);
    expect(refreshDelayMs(30)).toBe(24_000);
    expect(refreshDelayMs(0)).toBe(1_000);
  });

  it("gives short-lived tokens a proportional margin before calls", () => {
    expect(expiryMarginMs(3600_000)).toBe(30_000);
    expect(expiryMarginMs(30_000)).toBe(6_000);
    expect(expiryMarginMs(undefined)).toBe(30_000);
  });
});

describe("Session", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-03-29T12:00:00Z"));
  });
  afterEach(() => vi.useRealTimers());

  it("refreshes silently before the access token expires, and again after each refresh", async () => {
    const { session, refresh } = setup();
    session.signIn(grant(1));
    await vi.advanceTimersByTimeAsync(2879_000);
    expect(refresh).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(refresh).toHaveBeenLastCalledWith("rt-1");
    expect(session.accessToken).toBe("at-2");
    await vi.advanceTimersByTimeAsync(2880_000);
    expect(refresh).toHaveBeenCalledTimes(2);
    expect(refresh).toHaveBeenLastCalledWith("rt-2");
  });

  it("shares one refresh between concurrent callers (a refresh token is single-use)", async () => {
    const { session, refresh } = setup();
    session.signIn(grant(1));
    const results = await Promise.all([session.refresh(), session.refresh(), session.refresh()]);
    expect(results).toEqual([true, true, true]);
    expect(refresh).toHaveBeenCalledTimes(1);
  });

  it("on a failed refresh ends the session once and hands over to sign-in", async () => {
    const rejected = new ConnectError("refresh token reuse", Code.Unauthenticated);
    const { session, storage, onExpired } = setup({ refresh: vi.fn(async () => Promise.reject(rejected)) });
    session.signIn(grant(1));
    expect(storage.getItem(STORAGE_KEY)).not.toBeNull();
    await vi.advanceTimersByTimeAsync(2880_000);
    expect(onExpired).toHaveBeenCalledTimes(1);
    expect(session.accessToken).toBeNull();
    expect(storage.getItem(STORAGE_KEY)).toBeNull();
    // Nothing more is scheduled after the end.
    await vi.advanceTimersByTimeAsync(10 * 3600_000);
    expect(onExpired).toHaveBeenCalledTimes(1);
  });

  it("keeps the session through a network failure and retries the refresh", async () => {
    let down = true;
    let n = 1;
    const refresh = vi.fn(async () => {
      if (down) throw new ConnectError("Failed to fetch", Code.Unavailable);
      return grant(++n);
    });
    const { session, onExpired } = setup({ refresh });
    session.signIn(grant(1));
    await vi.advanceTimersByTimeAsync(2880_000);
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(onExpired).not.toHaveBeenCalled();
    expect(session.accessToken).toBe("at-1");
    down = false;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(refresh).toHaveBeenCalledTimes(2);
    expect(session.accessToken).toBe("at-2");
  });

  it("adopts a pair another tab rotated instead of spending the old refresh token", async () => {
    const { session, storage, refresh } = setup();
    session.signIn(grant(1));
    // Another tab refreshed meanwhile and stored its new pair.
    storage.setItem(STORAGE_KEY, JSON.stringify({ accessToken: "at-9", refreshToken: "rt-9", expiresAt: Date.now() + 3600_000 }));
    expect(await session.refresh()).toBe(true);
    expect(refresh).not.toHaveBeenCalled();
    expect(session.accessToken).toBe("at-9");
  });

  it("follows a sign-out in another tab", () => {
    const { session, storage } = setup();
    session.signIn({ ...grant(1), user: undefined });
    const seen = vi.fn();
    session.subscribe(seen);
    storage.removeItem(STORAGE_KEY);
    session.syncFromStorage();
    expect(session.accessToken).toBeNull();
    expect(seen).toHaveBeenCalled();
  });

  it("restores a stored session, refreshing first when its access token is nearly spent", async () => {
    const { session, storage, refresh } = setup();
    storage.setItem(STORAGE_KEY, JSON.stringify({ accessToken: "at-1", refreshToken: "rt-1", expiresAt: Date.now() + 30_000 }));
    expect(await session.restore()).toBe(true);
    expect(refresh).toHaveBeenCalledWith("rt-1");
    expect(session.accessToken).toBe("at-2");
  });

  it("with a 30 s token, refreshes once per 24 s and does not count a fresh token as expiring", async () => {
    const { session, refresh } = setup();
    session.signIn({ ...grant(1), expiresIn: 30n });
    expect(session.expiresSoon()).toBe(false);
    await vi.advanceTimersByTimeAsync(23_000);
    expect(refresh).not.toHaveBeenCalled();
    expect(session.expiresSoon()).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(refresh).toHaveBeenCalledTimes(1);
  });

  it("a corrupt stored entry is no session", async () => {
    const { session, storage } = setup();
    storage.setItem(STORAGE_KEY, "{not json");
    expect(await session.restore()).toBe(false);
  });
});
