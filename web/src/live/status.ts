// The live connection's state, shared so that the navigation can show it while the feed is open.

import { useEffect, useState } from "preact/hooks";
import type { ConnectionState } from "./connection";

let state: ConnectionState = { kind: "idle" };
const listeners = new Set<() => void>();

export function publishLiveStatus(s: ConnectionState): void {
  state = s;
  for (const fn of listeners) fn();
}

export function useLiveStatus(): ConnectionState {
  const [s, set] = useState(state);
  useEffect(() => {
    const fn = (): void => set(state);
    listeners.add(fn);
    fn();
    return () => {
      listeners.delete(fn);
    };
  }, []);
  return s;
}

export interface StatusView {
  tone: "ok" | "warn" | "bad" | "idle";
  label: string;
}

export function liveStatus(s: ConnectionState, now = Date.now()): StatusView {
  switch (s.kind) {
    case "idle":
      return { tone: "idle", label: "Not connected" };
    case "connecting":
      return { tone: "warn", label: s.attempt ? "Reconnecting…" : "Connecting…" };
    case "live":
      return { tone: "ok", label: "Live" };
    case "reconnecting":
      return { tone: "warn", label: `Reconnecting in ${Math.max(1, Math.ceil((s.retryAt - now) / 1000))} s` };
    case "polling":
      return { tone: "warn", label: "Degraded: polling every 5 s" };
    case "failed":
      return { tone: "bad", label: `Disconnected: ${s.error}` };
  }
}
