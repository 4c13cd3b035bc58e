// Page frames: the centred sign-in layout and the app layout (sidebar navigation, top bar with
// the user menu; the sidebar becomes an off-canvas menu on phones).

import type { ComponentChildren, JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { signOut, useUser } from "./auth";
import { visibleNav, type NavItem } from "./routes";
import {
  IconCustomer, IconDevices, IconKey, IconLive, IconLogout, IconMenu, IconOverview, IconSearch, IconSpark, IconUsers, IconClose,
} from "../components/icons";
import { liveStatus, useLiveStatus } from "../live/status";

function Brand(): JSX.Element {
  return (
    <a href="/" class="brand" aria-label="Customer Insights, overview">
      <svg class="brand-mark" width="28" height="28" viewBox="0 0 32 32" aria-hidden="true">
        <rect width="32" height="32" rx="8" class="brand-bg" />
        <path d="M8 21l5-6 4 3 7-9" class="brand-line" fill="none" stroke-width="3" stroke-linecap="round" stroke-linejoin="round" />
      </svg>
      <span class="brand-name">Customer Insights</span>
    </a>
  );
}

export function AuthLayout({ children }: { children: ComponentChildren }): JSX.Element {
  return (
    <div class="auth-layout">
      <a class="skip-link" href="#main">Skip to content</a>
      <header class="auth-brand"><Brand /></header>
      <main id="main" class="auth-main" tabIndex={-1}>{children}</main>
      <footer class="auth-footer">Customer Insights · sentiment and behaviour analytics</footer>
    </div>
  );
}

const ICONS: Record<NavItem["icon"], () => JSX.Element> = {
  overview: () => <IconOverview />,
  live: () => <IconLive />,
  explorer: () => <IconSearch />,
  customers: () => <IconCustomer />,
  analyze: () => <IconSpark />,
  users: () => <IconUsers />,
  keys: () => <IconKey />,
};

function isActive(href: string, path: string): boolean {
  return href === "/" ? path === "/" : path === href || path.startsWith(href + "/");
}

function LiveDot(): JSX.Element | null {
  const status = useLiveStatus();
  if (status.kind === "idle") return null;
  return <span class={`nav-dot conn-${liveStatus(status).tone}`} title={liveStatus(status).label} aria-hidden="true" />;
}

function UserMenu(): JSX.Element | null {
  const user = useUser();
  const ref = useRef<HTMLDetailsElement>(null);
  useEffect(() => {
    const close = (e: MouseEvent | KeyboardEvent): void => {
      const el = ref.current;
      if (!el?.open) return;
      if (e instanceof KeyboardEvent ? e.key === "Escape" : !el.contains(e.target as Node)) {
        el.open = false;
        if (e instanceof KeyboardEvent) el.querySelector("summary")?.focus();
      }
    };
    document.addEventListener("click", close);
    document.addEventListener("keydown", close);
    return () => {
      document.removeEventListener("click", close);
      document.removeEventListener("keydown", close);
    };
  }, []);
  if (!user) return null;
  const initials = `${user.firstName[0] ?? ""}${user.lastName[0] ?? ""}`.toUpperCase() || user.email[0]?.toUpperCase();
  return (
    <details class="user-menu" ref={ref}>
      <summary>
        <span class="avatar" aria-hidden="true">{initials}</span>
        <span class="user-menu-name">{user.firstName || user.email}</span>
        <span class="sr-only">, account menu</span>
      </summary>
      <div class="menu" role="menu">
        <div class="menu-head">
          <strong>{user.firstName} {user.lastName}</strong>
          <span>{user.email}</span>
          <span class="menu-role">{user.role} · {user.organizationName}</span>
        </div>
        <a role="menuitem" href="/account/sessions" onClick={() => ref.current && (ref.current.open = false)}>
          <IconDevices /> My sessions
        </a>
        <button role="menuitem" type="button" onClick={() => void signOut()}>
          <IconLogout /> Sign out
        </button>
      </div>
    </details>
  );
}

export function AppLayout({ path, children }: { path: string; children: ComponentChildren }): JSX.Element {
  const user = useUser();
  const [menuOpen, setMenuOpen] = useState(false);
  const items = visibleNav(user?.permissions ?? []);
  const main = items.filter((i) => i.section === "main");
  const admin = items.filter((i) => i.section === "admin");
  useEffect(() => setMenuOpen(false), [path]);
  useEffect(() => {
    if (!menuOpen) return;
    const onKey = (e: KeyboardEvent): void => {
      if (e.key === "Escape") setMenuOpen(false);
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [menuOpen]);
  const link = (i: NavItem): JSX.Element => (
    <li key={i.href}>
      <a href={i.href} class={`nav-link${isActive(i.href, path) ? " active" : ""}`} aria-current={isActive(i.href, path) ? "page" : undefined}>
        {ICONS[i.icon]()}
        <span>{i.label}</span>
        {i.icon === "live" ? <LiveDot /> : null}
      </a>
    </li>
  );
  return (
    <div class={`app-layout${menuOpen ? " nav-open" : ""}`}>
      <a class="skip-link" href="#main">Skip to content</a>
      <header class="topbar">
        <button type="button" class="icon-btn nav-toggle" aria-expanded={menuOpen ? "true" : "false"} aria-controls="sidenav"
          aria-label={menuOpen ? "Close menu" : "Open menu"} onClick={() => setMenuOpen(!menuOpen)}>
          {menuOpen ? <IconClose /> : <IconMenu />}
        </button>
        <Brand />
        <div class="topbar-spacer" />
        <UserMenu />
      </header>
      <nav id="sidenav" class="sidenav" aria-label="Main">
        <ul class="nav-list">{main.map(link)}</ul>
        {admin.length ? (
          <>
            <p class="nav-section"><span aria-hidden="true">·</span> Administration</p>
            <ul class="nav-list">{admin.map(link)}</ul>
          </>
        ) : null}
        <div class="nav-footer">
          <span class="nav-org"><IconUsersSmall /> {user?.organizationName}</span>
        </div>
      </nav>
      {menuOpen ? <div class="nav-scrim" onClick={() => setMenuOpen(false)} aria-hidden="true" /> : null}
      <main id="main" class="main" tabIndex={-1}>{children}</main>
    </div>
  );
}

function IconUsersSmall(): JSX.Element {
  return <span class="org-mark" aria-hidden="true" />;
}
