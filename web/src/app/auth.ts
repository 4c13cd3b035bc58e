// The app's one session, wired to AuthService; and what "signed out in the middle of work" keeps.

import { useEffect, useState } from "preact/hooks";
import { AuthService, type User } from "../gen/insights/v1/auth_pb";
import { client } from "../api/client";
import { Session, STORAGE_KEY, type TokenGrant } from "../api/session";
import { navigate } from "./router";

const RETURN_KEY = "insights.return";

export interface ReturnState {
  href: string;
  scrollY: number;
}

/** The page (URL with its filters) and scroll position to come back to after signing in again. */
export function saveReturnState(): void {
  const href = window.location.pathname + window.location.search;
  if (window.location.pathname.startsWith("/login")) return;
  const state: ReturnState = { href, scrollY: Math.round(window.scrollY) };
  sessionStorage.setItem(RETURN_KEY, JSON.stringify(state));
}

export function takeReturnState(): ReturnState | null {
  const raw = sessionStorage.getItem(RETURN_KEY);
  sessionStorage.removeItem(RETURN_KEY);
  if (!raw) return null;
  try {
    const v = JSON.parse(raw) as Partial<ReturnState>;
    // Only paths of this app: never an open redirect.
    if (typeof v.href === "string" && v.href.startsWith("/") && !v.href.startsWith("//")) {
      return { href: v.href, scrollY: typeof v.scrollY === "number" ? v.scrollY : 0 };
    }
  } catch {
    // ignore
  }
  return null;
}

/** Scrolls to y once the page has grown tall enough (its data loads after navigation). */
export function restoreScroll(y: number, frames = 120): void {
  if (y <= 0) return;
  let n = 0;
  const step = (): void => {
    if (document.documentElement.scrollHeight - window.innerHeight >= y || n++ > frames) {
      window.scrollTo(0, y);
      return;
    }
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}

function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
  return locks ? locks.request("insights.refresh", fn) : fn();
}

export const session = new Session({
  refresh: async (refreshToken): Promise<TokenGrant> => client(AuthService).refresh({ refreshToken }),
  getMe: async (accessToken): Promise<User> => {
    const res = await client(AuthService).getMe({}, { headers: { authorization: `Bearer ${accessToken}` } });
    if (!res.user) throw new Error("no user");
    return res.user;
  },
  storage: localStorage,
  now: () => Date.now(),
  withLock,
  onExpired: () => {
    saveReturnState();
    navigate("/login?expired=1", { replace: true });
  },
});

export function installSessionSync(): void {
  window.addEventListener("storage", (e) => {
    if (e.key === STORAGE_KEY) session.syncFromStorage();
  });
  // Timers are late after a laptop sleeps: check the token when the page becomes visible again.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && session.refreshToken && session.expiresSoon(120_000)) {
      void session.refresh();
    }
  });
}

export function useUser(): User | null {
  const [user, setUser] = useState(session.user);
  useEffect(() => session.subscribe(() => setUser(session.user)), []);
  return user;
}

export function can(user: User | null, permission: string): boolean {
  return !!user && user.permissions.includes(permission);
}

export async function signOut(): Promise<void> {
  const refreshToken = session.refreshToken ?? "";
  try {
    await client(AuthService).logout({ refreshToken });
  } catch {
    // Signing out locally matters most; the server forgets the session when its tokens expire.
  }
  session.clear();
  sessionStorage.removeItem(RETURN_KEY);
  navigate("/login", { replace: true });
}
