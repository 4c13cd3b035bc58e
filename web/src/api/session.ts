// The signed-in session: tokens, the user, silent refresh before expiry.
//
// Refresh tokens rotate on every use and presenting a spent one revokes the whole session, so
// every tab shares one token pair through localStorage and refreshes under a Web Lock: a tab that
// gets the lock after another tab rotated the pair adopts the new pair instead of spending the old
// refresh token a second time.

import { Code, ConnectError } from "@connectrpc/connect";
import type { User } from "../gen/insights/v1/auth_pb";

export interface TokenGrant {
  accessToken: string;
  refreshToken: string;
  expiresIn: bigint | number;
  user?: User | undefined;
}

export interface StoredTokens {
  accessToken: string;
  refreshToken: string;
  /** ms since the epoch */
  expiresAt: number;
  /** The access token's whole lifetime (ms), when known: short-lived tokens get proportionally short margins. */
  lifetimeMs?: number | undefined;
}

export interface SessionDeps {
  refresh(refreshToken: string): Promise<TokenGrant>;
  getMe(accessToken: string): Promise<User>;
  storage: Pick<Storage, "getItem" | "setItem" | "removeItem">;
  now(): number;
  /** Runs fn while holding the cross-tab refresh lock (Web Locks); defaults to running it directly. */
  withLock?<T>(fn: () => Promise<T>): Promise<T>;
  /** The refresh failed: the session is over; the app returns to sign-in keeping the page's state. */
  onExpired(): void;
}

export const STORAGE_KEY = "insights.session";
/** After a refresh that failed for a reason other than the session (network, server down). */
export const RETRY_REFRESH_MS = 10_000;

/** The server refused the refresh token itself: the session is over. Anything else may pass. */
function sessionRejected(error: unknown): boolean {
  if (!(error instanceof ConnectError)) return false;
  return [Code.Unauthenticated, Code.PermissionDenied, Code.InvalidArgument, Code.NotFound, Code.FailedPrecondition].includes(error.code);
}

/**
 * Refresh early: at 80 % of the lifetime, and at least a minute before expiry when the lifetime is
 * long enough for that (two minutes or more); never sooner than 1 s. A 30 s token is refreshed after
 * 24 s, not every few seconds.
 */
export function refreshDelayMs(expiresInS: number): number {
  const life = Math.max(0, expiresInS) * 1000;
  const delay = life >= 120_000 ? Math.min(life * 0.8, life - 60_000) : life * 0.8;
  return Math.max(1_000, delay);
}

/** How close to its expiry a token counts as "about to expire" before a call: 30 s, or a fifth of a shorter lifetime. */
export function expiryMarginMs(lifetimeMs: number | undefined): number {
  return lifetimeMs !== undefined && lifetimeMs > 0 ? Math.min(30_000, lifetimeMs * 0.2) : 30_000;
}

type Listener = () => void;

export class Session {
  user: User | null = null;
  private tokens: StoredTokens | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inflight: Promise<boolean> | null = null;
  private listeners = new Set<Listener>();

  constructor(private readonly deps: SessionDeps) {}

  get signedIn(): boolean {
    return this.user !== null && this.tokens !== null;
  }

  get accessToken(): string | null {
    return this.tokens?.accessToken ?? null;
  }

  get refreshToken(): string | null {
    return this.tokens?.refreshToken ?? null;
  }

  /** When the current access token expires (ms since the epoch), for tests and diagnostics. */
  get expiresAt(): number | null {
    return this.tokens?.expiresAt ?? null;
  }

  can(permission: string): boolean {
    return this.user?.permissions.includes(permission) ?? false;
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }

  /** After Login, VerifyEmail or Refresh. */
  signIn(grant: TokenGrant): void {
    const tokens: StoredTokens = {
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken,
      expiresAt: this.deps.now() + Number(grant.expiresIn) * 1000,
      lifetimeMs: Number(grant.expiresIn) * 1000,
    };
    this.adopt(tokens);
    if (grant.user) this.user = grant.user;
    this.deps.storage.setItem(STORAGE_KEY, JSON.stringify(tokens));
    this.emit();
  }

  private adopt(tokens: StoredTokens): void {
    this.tokens = tokens;
    this.schedule();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (!this.tokens) return;
    const remainingS = (this.tokens.expiresAt - this.deps.now()) / 1000;
    this.timer = setTimeout(() => void this.refresh(), refreshDelayMs(remainingS));
  }

  /** Whether the access token expires within `marginMs` (default: `expiryMarginMs` of its lifetime), or is missing. */
  expiresSoon(marginMs?: number): boolean {
    if (!this.tokens) return true;
    return this.tokens.expiresAt - this.deps.now() < (marginMs ?? expiryMarginMs(this.tokens.lifetimeMs));
  }

  /**
   * Gets a fresh token pair; one refresh at a time (callers share it). False when the session is
   * over, after which onExpired has been called once.
   */
  refresh(): Promise<boolean> {
    this.inflight ??= this.doRefresh().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async doRefresh(): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      const stored = this.readStored();
      const mine = this.tokens?.refreshToken;
      // Another tab rotated the pair while we waited for the lock: use its pair.
      if (stored && stored.refreshToken !== mine && stored.expiresAt - this.deps.now() > 2 * expiryMarginMs(stored.lifetimeMs)) {
        this.adopt(stored);
        this.emit();
        return true;
      }
      const token = stored?.refreshToken ?? mine;
      if (!token) return false;
      const grant = await this.deps.refresh(token);
      this.signIn(grant);
      return true;
    };
    try {
      const ok = await (this.deps.withLock ? this.deps.withLock(run) : run());
      if (!ok) this.expire();
      return ok;
    } catch (error) {
      if (sessionRejected(error)) {
        this.expire();
        return false;
      }
      // The network or the server is down: keep the session and try again soon.
      clearTimeout(this.timer);
      if (this.tokens) this.timer = setTimeout(() => void this.refresh(), RETRY_REFRESH_MS);
      return false;
    }
  }

  private expire(): void {
    const wasSignedIn = this.tokens !== null;
    this.clear();
    if (wasSignedIn) this.deps.onExpired();
  }

  private readStored(): StoredTokens | null {
    try {
      const raw = this.deps.storage.getItem(STORAGE_KEY);
      if (!raw) return null;
      const v = JSON.parse(raw) as Partial<StoredTokens>;
      if (typeof v.accessToken === "string" && typeof v.refreshToken === "string" && typeof v.expiresAt === "number") {
        const lifetimeMs = typeof v.lifetimeMs === "number" ? v.lifetimeMs : undefined;
        return { accessToken: v.accessToken, refreshToken: v.refreshToken, expiresAt: v.expiresAt, lifetimeMs };
      }
    } catch {
      // A corrupt entry is no session.
    }
    return null;
  }

  /** At start-up: continue the stored session (refreshing it when its access token is nearly spent). */
  async restore(): Promise<boolean> {
    const stored = this.readStored();
    if (!stored) return false;
    this.tokens = stored;
    try {
      if (stored.expiresAt - this.deps.now() < 4 * expiryMarginMs(stored.lifetimeMs)) {
        return await this.refresh();
      }
      this.user = await this.deps.getMe(stored.accessToken);
      this.adopt(stored);
      this.emit();
      return true;
    } catch {
      // The stored access token was revoked or is invalid: one refresh decides.
      return this.refresh();
    }
  }

  /** Another tab changed the shared pair (the `storage` event). */
  syncFromStorage(): void {
    const stored = this.readStored();
    if (!stored) {
      if (this.tokens) {
        this.clear();
        this.emit();
      }
      return;
    }
    if (stored.refreshToken !== this.tokens?.refreshToken) {
      this.adopt(stored);
      this.emit();
    }
  }

  /** Sign-out (after Logout) or an expired session. */
  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.tokens = null;
    this.user = null;
    this.deps.storage.removeItem(STORAGE_KEY);
    this.emit();
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.listeners.clear();
  }
}
