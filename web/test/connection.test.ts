import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { backoffDelay, LiveConnection, type ConnectionState, type StreamEvent } from "../src/live/connection";

/** One subscription the test drives: push events, then end or fail it. */
class FakeStream {
  private queue: StreamEvent[] = [];
  private wake: (() => void) | null = null;
  private done: { error?: unknown } | null = null;
  constructor(readonly lastEventId: string, readonly signal: AbortSignal) {
    signal.addEventListener("abort", () => this.fail(signal.reason ?? new ConnectError("aborted", Code.Canceled)));
  }
  push(...events: StreamEvent[]): void {
    this.queue.push(...events);
    this.wake?.();
  }
  fail(error: unknown): void {
    this.done = { error };
    this.wake?.();
  }
  end(): void {
    this.done = {};
    this.wake?.();
  }
  async *events(): AsyncGenerator<StreamEvent> {
    for (;;) {
      while (this.queue.length) yield this.queue.shift()!;
      if (this.done) {
        if (this.done.error) throw this.done.error;
        return;
      }
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
  }
}

function setup(opts: { refreshAuth?: () => Promise<boolean> } = {}) {
  const streams: FakeStream[] = [];
  const events: StreamEvent[] = [];
  const states: ConnectionState[] = [];
  const reload = vi.fn(async () => undefined);
  const poll = vi.fn(async () => undefined);
  const conn = new LiveConnection<StreamEvent>({
    subscribe: ({ lastEventId }, signal) => {
      const s = new FakeStream(lastEventId, signal);
      streams.push(s);
      return s.events();
    },
    onEvent: (e) => events.push(e),
    reload,
    poll,
    onState: (s) => states.push(s),
    ...(opts.refreshAuth ? { refreshAuth: opts.refreshAuth } : {}),
  });
  return { conn, streams, events, states, reload, poll, last: () => streams[streams.length - 1]! };
}

const unavailable = (): ConnectError => new ConnectError("server is shutting down", Code.Unavailable);
const hb = (id: string): StreamEvent => ({ id, type: "heartbeat" });
const created = (id: string): StreamEvent => ({ id, type: "interaction.created" });

describe("backoffDelay", () => {
  it("doubles from 1 s up to 30 s", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 12].map((a) => backoffDelay(a))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });
});

describe("LiveConnection", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("delivers events, and after a drop resumes from the last event id after 1 s", async () => {
    const t = setup();
    t.conn.start();
    t.last().push(hb("1-0"), created("2-0"), created("3-0"));
    await vi.advanceTimersByTimeAsync(0);
    expect(t.conn.current.kind).toBe("live");
    expect(t.events.map((e) => e.id)).toEqual(["2-0", "3-0"]);
    t.last().fail(unavailable());
    await vi.advanceTimersByTimeAsync(0);
    expect(t.conn.current).toMatchObject({ kind: "reconnecting", attempt: 1 });
    await vi.advanceTimersByTimeAsync(999);
    expect(t.streams).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.streams).toHaveLength(2);
    expect(t.last().lastEventId).toBe("3-0");
  });

  it("backs off 1, 2, 4, 8, 16, 30, 30 s while the server stays away", async () => {
    const t = setup();
    t.conn.start();
    const delays: number[] = [];
    let at = Date.now();
    for (let i = 0; i < 7; i++) {
      t.last().fail(unavailable());
      const before = t.streams.length;
      // Step in 100 ms until the next attempt starts.
      while (t.streams.length === before) await vi.advanceTimersByTimeAsync(100);
      delays.push(Date.now() - at);
      at = Date.now();
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });

  it("resets the backoff once a connection delivers again", async () => {
    const t = setup();
    t.conn.start();
    for (const wait of [1000, 2000, 4000]) {
      t.last().fail(unavailable());
      await vi.advanceTimersByTimeAsync(wait);
    }
    t.last().push(hb("9-0"));
    await vi.advanceTimersByTimeAsync(0);
    expect(t.conn.current.kind).toBe("live");
    t.last().fail(unavailable());
    await vi.advanceTimersByTimeAsync(0);
    expect(t.conn.current).toMatchObject({ kind: "reconnecting", attempt: 1 });
    const n = t.streams.length;
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.streams.length).toBe(n + 1);
  });

  it("reloads from the query API on resync, and goes on with the live events", async () => {
    const t = setup();
    t.conn.start("5-0");
    t.last().push({ id: "90-0", type: "resync" }, hb("90-0"), created("91-0"));
    await vi.advanceTimersByTimeAsync(0);
    expect(t.reload).toHaveBeenCalledTimes(1);
    expect(t.events.map((e) => e.id)).toEqual(["91-0"]);
    expect(t.conn.lastEventId).toBe("91-0");
  });

  it("polls the query API after repeated failures, until the stream is back", async () => {
    const t = setup();
    t.conn.start();
    t.last().fail(unavailable());
    await vi.advanceTimersByTimeAsync(1000);
    t.last().fail(unavailable());
    await vi.advanceTimersByTimeAsync(2000);
    expect(t.poll).not.toHaveBeenCalled();
    t.last().fail(unavailable());
    await vi.advanceTimersByTimeAsync(0);
    expect(t.conn.current.kind).toBe("polling");
    expect(t.poll).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(4000); // the stream's next try is at +4 s; it fails again
    t.last().fail(unavailable());
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.poll).toHaveBeenCalledTimes(2); // every 5 s
    await vi.advanceTimersByTimeAsync(7000); // next stream attempt (8 s) succeeds
    t.last().push(hb("7-0"));
    await vi.advanceTimersByTimeAsync(0);
    expect(t.conn.current.kind).toBe("live");
    const polls = t.poll.mock.calls.length;
    await vi.advanceTimersByTimeAsync(20_000);
    expect(t.poll.mock.calls.length).toBe(polls);
  });

  it("degrades to polling at once when streaming is not available (UNIMPLEMENTED)", async () => {
    const t = setup();
    t.conn.start();
    t.last().fail(new ConnectError("no streaming", Code.Unimplemented));
    await vi.advanceTimersByTimeAsync(0);
    expect(t.conn.current.kind).toBe("polling");
    expect(t.poll).toHaveBeenCalledTimes(1);
  });

  it("treats a silent connection (no heartbeat) as dead and reconnects", async () => {
    const t = setup();
    t.conn.start();
    t.last().push(hb("1-0"));
    await vi.advanceTimersByTimeAsync(44_999);
    expect(t.streams).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.conn.current.kind).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.streams).toHaveLength(2);
    expect(t.last().lastEventId).toBe("1-0");
  });

  it("refreshes the session on UNAUTHENTICATED and reconnects; stops when that fails", async () => {
    let ok = true;
    const refreshAuth = vi.fn(async () => ok);
    const t = setup({ refreshAuth });
    t.conn.start();
    t.last().fail(new ConnectError("token expired", Code.Unauthenticated));
    await vi.advanceTimersByTimeAsync(0);
    expect(refreshAuth).toHaveBeenCalledTimes(1);
    expect(t.streams).toHaveLength(2);
    ok = false;
    t.last().fail(new ConnectError("token expired", Code.Unauthenticated));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(t.conn.current.kind).toBe("failed");
    expect(t.streams).toHaveLength(2);
  });

  it("retryNow skips the wait; stop ends everything", async () => {
    const t = setup();
    t.conn.start();
    t.last().fail(unavailable());
    await vi.advanceTimersByTimeAsync(0);
    t.conn.retryNow();
    expect(t.streams).toHaveLength(2);
    t.conn.stop();
    expect(t.last().signal.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(t.streams).toHaveLength(2);
    expect(t.conn.current.kind).toBe("idle");
  });
});
