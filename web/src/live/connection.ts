// The live feed's connection: subscribe, resume from the last event id after a drop, back off
// 1 s, 2 s, 4 s ... 30 s between attempts, reload from the query API on "resync", and poll the
// query API while streaming is impossible. Transport-free: the subscribe function, the reloads and
// the clock are injected, so the state machine runs under fake timers in tests.

import { Code, ConnectError } from "@connectrpc/connect";

export interface StreamEvent {
  id: string;
  type: string;
}

export interface SubscribeArgs {
  lastEventId: string;
}

export type ConnectionState =
  | { kind: "idle" }
  | { kind: "connecting"; attempt: number }
  | { kind: "live"; since: number }
  | { kind: "reconnecting"; attempt: number; retryAt: number; error: string }
  | { kind: "polling"; retryAt: number; error: string }
  | { kind: "failed"; error: string };

export interface ConnectionDeps<E extends StreamEvent> {
  subscribe(args: SubscribeArgs, signal: AbortSignal): AsyncIterable<E>;
  /** A live event (not heartbeat / resync). */
  onEvent(event: E): void;
  /** After "resync" (too many missed events): load the latest state through the query API. */
  reload(): Promise<void>;
  /** One polling round through the query API while the stream is down. */
  poll(): Promise<void>;
  onState(state: ConnectionState): void;
  /** UNAUTHENTICATED: refresh the session; false ends the feed. */
  refreshAuth?(): Promise<boolean>;
  now?(): number;
}

export interface ConnectionOptions {
  baseDelayMs: number;
  maxDelayMs: number;
  /** Consecutive failed attempts after which the query API is polled until the stream is back. */
  failuresBeforePolling: number;
  pollIntervalMs: number;
  /** No message (heartbeats included) for this long: the connection is dead. */
  silenceTimeoutMs: number;
}

export const DEFAULT_OPTIONS: ConnectionOptions = {
  baseDelayMs: 1_000,
  maxDelayMs: 30_000,
  failuresBeforePolling: 3,
  pollIntervalMs: 5_000,
  // The server sends a heartbeat after 15-30 s without events.
  silenceTimeoutMs: 45_000,
};

/** 1 s, 2 s, 4 s, 8 s, 16 s, 30 s, 30 s ... for attempt 0, 1, 2 ... */
export function backoffDelay(attempt: number, base = DEFAULT_OPTIONS.baseDelayMs, max = DEFAULT_OPTIONS.maxDelayMs): number {
  return Math.min(max, base * 2 ** Math.min(Math.max(0, attempt), 30));
}

class SilenceError extends Error {}

export class LiveConnection<E extends StreamEvent> {
  private readonly opts: ConnectionOptions;
  private readonly now: () => number;
  private state: ConnectionState = { kind: "idle" };
  private lastId = "";
  private attempt = 0;
  private abort: AbortController | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private silenceTimer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private generation = 0;

  constructor(
    private readonly deps: ConnectionDeps<E>,
    options: Partial<ConnectionOptions> = {},
  ) {
    this.opts = { ...DEFAULT_OPTIONS, ...options };
    this.now = deps.now ?? Date.now;
  }

  get lastEventId(): string {
    return this.lastId;
  }

  get current(): ConnectionState {
    return this.state;
  }

  /** Starts (or restarts with new filters, resuming from `lastEventId`). */
  start(lastEventId = this.lastId): void {
    this.stopTimers();
    this.abort?.abort();
    this.running = true;
    this.lastId = lastEventId;
    this.attempt = 0;
    void this.connect();
  }

  stop(): void {
    this.running = false;
    this.generation++;
    this.stopTimers();
    this.abort?.abort();
    this.abort = null;
    this.setState({ kind: "idle" });
  }

  /** "Retry now" and the browser's `online` event: skip the rest of the wait. */
  retryNow(): void {
    if (!this.running || this.state.kind === "live" || this.state.kind === "connecting") return;
    clearTimeout(this.retryTimer);
    void this.connect();
  }

  private setState(s: ConnectionState): void {
    this.state = s;
    this.deps.onState(s);
  }

  private stopTimers(): void {
    clearTimeout(this.retryTimer);
    clearTimeout(this.pollTimer);
    clearTimeout(this.silenceTimer);
    this.pollTimer = undefined;
  }

  private armSilence(controller: AbortController): void {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => controller.abort(new SilenceError("no heartbeat")), this.opts.silenceTimeoutMs);
  }

  private async connect(): Promise<void> {
    const gen = ++this.generation;
    const controller = new AbortController();
    this.abort = controller;
    // While polling, the indicator stays on "polling" until the stream is back.
    if (this.state.kind !== "polling") this.setState({ kind: "connecting", attempt: this.attempt });
    this.armSilence(controller);
    let error: unknown = null;
    try {
      for await (const event of this.deps.subscribe({ lastEventId: this.lastId }, controller.signal)) {
        if (gen !== this.generation) return;
        this.armSilence(controller);
        if (this.state.kind !== "live") this.becomeLive();
        if (event.id) this.lastId = event.id;
        if (event.type === "heartbeat") continue;
        if (event.type === "resync") {
          await this.deps.reload();
          continue;
        }
        this.deps.onEvent(event);
      }
    } catch (e) {
      error = e;
    } finally {
      clearTimeout(this.silenceTimer);
    }
    if (gen !== this.generation || !this.running) return;
    await this.onDrop(error);
  }

  private becomeLive(): void {
    // A connection that delivered a message resets the backoff.
    this.attempt = 0;
    clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    this.setState({ kind: "live", since: this.now() });
  }

  private async onDrop(error: unknown): Promise<void> {
    const err = error instanceof SilenceError || error === null ? null : ConnectError.from(error);
    const message = error instanceof SilenceError ? "No heartbeat from the server" : err ? err.rawMessage : "Stream ended";
    if (err?.code === Code.Unauthenticated && this.deps.refreshAuth) {
      if (await this.deps.refreshAuth()) {
        if (this.running) void this.connect();
        return;
      }
      this.fail("Signed out");
      return;
    }
    if (err?.code === Code.PermissionDenied) {
      this.fail(message);
      return;
    }
    const wasLive = this.state.kind === "live";
    // A stream that was live reconnects after the first delay; one that never came up counts up.
    const delay = backoffDelay(wasLive ? 0 : this.attempt, this.opts.baseDelayMs, this.opts.maxDelayMs);
    this.attempt = wasLive ? 1 : this.attempt + 1;
    const retryAt = this.now() + delay;
    // UNIMPLEMENTED (no streaming through this path) or repeated failures: poll meanwhile.
    const degrade = err?.code === Code.Unimplemented || this.attempt >= this.opts.failuresBeforePolling;
    if (degrade) {
      this.setState({ kind: "polling", retryAt, error: message });
      if (this.pollTimer === undefined) this.schedulePoll(0);
    } else {
      this.setState({ kind: "reconnecting", attempt: this.attempt, retryAt, error: message });
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
  }

  private schedulePoll(delay: number): void {
    this.pollTimer = setTimeout(async () => {
      if (!this.running || this.state.kind !== "polling") {
        this.pollTimer = undefined;
        return;
      }
      try {
        await this.deps.poll();
      } catch {
        // The next round tries again; the indicator already says we are degraded.
      }
      if (this.running && this.state.kind === "polling") this.schedulePoll(this.opts.pollIntervalMs);
      else this.pollTimer = undefined;
    }, delay);
  }

  private fail(error: string): void {
    this.running = false;
    this.stopTimers();
    this.setState({ kind: "failed", error });
  }
}
