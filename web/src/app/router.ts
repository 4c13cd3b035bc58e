// A small client-side router: history API, one lazily loaded module per page (code splitting),
// links intercepted so that navigation never reloads the page.

import { useEffect, useState } from "preact/hooks";

type Listener = () => void;
const listeners = new Set<Listener>();

export interface Location {
  path: string;
  search: string;
}

function read(): Location {
  return { path: window.location.pathname, search: window.location.search };
}

let current: Location = typeof window === "undefined" ? { path: "/", search: "" } : read();

function notify(): void {
  current = read();
  for (const fn of listeners) fn();
}

export function navigate(href: string, { replace = false, scroll = true } = {}): void {
  const url = new URL(href, window.location.href);
  if (url.origin !== window.location.origin) {
    window.location.assign(url.href);
    return;
  }
  const next = url.pathname + url.search + url.hash;
  if (next === window.location.pathname + window.location.search + window.location.hash && !replace) return;
  if (replace) window.history.replaceState(null, "", next);
  else window.history.pushState(null, "", next);
  notify();
  if (scroll && !url.hash) window.scrollTo(0, 0);
}

/** Replaces the query string (filters) without a new history entry per keystroke. */
export function setSearch(params: URLSearchParams | string, { push = false } = {}): void {
  const s = params.toString();
  const href = window.location.pathname + (s ? `?${s}` : "");
  navigate(href, { replace: !push, scroll: false });
}

export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const fn = (): void => setLoc(current);
    listeners.add(fn);
    fn();
    return () => {
      listeners.delete(fn);
    };
  }, []);
  return loc;
}

export function installRouter(): void {
  window.addEventListener("popstate", notify);
  // Same-origin <a href> clicks navigate in place (ctrl/cmd/middle click keep their meaning).
  document.addEventListener("click", (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest?.("a");
    if (!a || a.target || a.hasAttribute("download") || a.getAttribute("rel") === "external") return;
    const href = a.getAttribute("href");
    if (!href || href.startsWith("#") || href.startsWith("mailto:")) return;
    const url = new URL(href, window.location.href);
    if (url.origin !== window.location.origin || url.pathname.startsWith("/api/")) return;
    e.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
}

export interface RouteMatch<P extends string = string> {
  params: Record<P, string>;
}

/** "/customers/:id" against "/customers/abc" -> { id: "abc" } */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const a = pattern.split("/").filter(Boolean);
  const b = path.split("/").filter(Boolean);
  if (a.length !== b.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < a.length; i++) {
    const seg = a[i] as string;
    const val = b[i] as string;
    if (seg.startsWith(":")) params[seg.slice(1)] = decodeURIComponent(val);
    else if (seg !== val) return null;
  }
  return params;
}
