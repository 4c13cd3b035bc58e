// The shell: resolves the route, guards it (signed in, permission), loads its page module and
// frames it in the sign-in layout or the app layout.

import type { ComponentType, JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { can, useUser } from "./auth";
import { AppLayout, AuthLayout } from "./Layout";
import { matchPath, navigate, useLocation } from "./router";
import { ROUTES, type PageProps, type RouteDef } from "./routes";
import { EmptyState, ErrorNotice, Spinner } from "../components/ui";

function resolve(path: string): { route: RouteDef; params: Record<string, string> } | null {
  for (const route of ROUTES) {
    const params = matchPath(route.path, path);
    if (params) return { route, params };
  }
  return null;
}

const loaded = new Map<RouteDef, ComponentType<PageProps>>();

function usePage(route: RouteDef | undefined): { Page: ComponentType<PageProps> | null; error: string | null; retry: () => void } {
  const [, setTick] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    if (!route || loaded.has(route)) return;
    let alive = true;
    setError(null);
    route
      .load()
      .then((m) => {
        loaded.set(route, m.default);
        if (alive) setTick((t) => t + 1);
      })
      .catch(() => {
        // A deploy replaced the hashed chunks this page was built against: offer a reload.
        if (alive) setError("This page could not be loaded. Reload to get the latest version of the dashboard.");
      });
    return () => {
      alive = false;
    };
  }, [route, attempt]);
  return { Page: route ? (loaded.get(route) ?? null) : null, error, retry: () => setAttempt((a) => a + 1) };
}

export function App(): JSX.Element {
  const loc = useLocation();
  const user = useUser();
  const match = resolve(loc.path);
  const route = match?.route;

  // Guards: redirect in an effect so that history stays consistent.
  const needsLogin = route?.access === "user" && !user;
  const leaveGuest = route?.access === "guest" && !!user;
  useEffect(() => {
    if (needsLogin) {
      const next = loc.path + loc.search;
      navigate(next === "/" ? "/login" : `/login?next=${encodeURIComponent(next)}`, { replace: true });
    } else if (leaveGuest) {
      navigate("/", { replace: true });
    }
  }, [needsLogin, leaveGuest, loc.path, loc.search]);

  const { Page, error, retry } = usePage(needsLogin || leaveGuest ? undefined : route);

  useEffect(() => {
    document.title = route ? `${route.title} · Customer Insights` : "Not found · Customer Insights";
  }, [route]);

  let body: JSX.Element;
  if (!match) {
    body = (
      <EmptyState title="Page not found">
        <p>There is no page at this address. <a href="/">Go to the overview</a>.</p>
      </EmptyState>
    );
  } else if (needsLogin || leaveGuest) {
    body = <Spinner />;
  } else if (route?.permission && !can(user, route.permission)) {
    body = (
      <EmptyState title="You don't have access to this page">
        <p>Your role ({user?.role}) does not include “{route.permission}”. Ask an administrator if you need it.</p>
      </EmptyState>
    );
  } else if (error) {
    body = <ErrorNotice message={error} onRetry={() => window.location.reload()} />;
  } else if (!Page) {
    body = <Spinner />;
    void retry;
  } else {
    body = <Page params={match.params} search={loc.search} />;
  }

  const guestLayout = !user || route?.access === "guest";
  return guestLayout ? <AuthLayout>{body}</AuthLayout> : <AppLayout path={loc.path}>{body}</AppLayout>;
}
