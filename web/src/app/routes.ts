// Every page of the dashboard: its path, who may see it, and its lazily loaded module (one chunk
// per page).

import type { ComponentType } from "preact";

export interface PageProps {
  params: Record<string, string>;
  search: string;
}

export type PageModule = { default: ComponentType<PageProps> };

export interface RouteDef {
  path: string;
  title: string;
  /** guest: sign-in pages (a signed-in user is sent on); user: signed in; any: both. */
  access: "guest" | "user" | "any";
  permission?: string;
  load: () => Promise<PageModule>;
}

export const ROUTES: RouteDef[] = [
  { path: "/login", title: "Sign in", access: "guest", load: () => import("../pages/login/LoginPage") },
  { path: "/register", title: "Create account", access: "guest", load: () => import("../pages/register/RegisterPage") },
  { path: "/verify-email", title: "Verify email", access: "any", load: () => import("../pages/verify-email/VerifyEmailPage") },
  { path: "/forgot-password", title: "Reset password", access: "guest", load: () => import("../pages/password-reset/RequestResetPage") },
  { path: "/reset-password", title: "Choose a new password", access: "any", load: () => import("../pages/password-reset/ResetPasswordPage") },
  { path: "/", title: "Overview", access: "user", permission: "insights:read", load: () => import("../pages/overview/OverviewPage") },
  { path: "/live", title: "Live feed", access: "user", permission: "stream:read", load: () => import("../pages/live/LivePage") },
  { path: "/explorer", title: "Explorer", access: "user", permission: "insights:read", load: () => import("../pages/explorer/ExplorerPage") },
  { path: "/customers", title: "Customers", access: "user", permission: "insights:read", load: () => import("../pages/customers/CustomersPage") },
  { path: "/customers/:id", title: "Customer", access: "user", permission: "insights:read", load: () => import("../pages/customer/CustomerPage") },
  { path: "/analyze", title: "Analyze text", access: "user", permission: "analysis:run", load: () => import("../pages/analyze/AnalyzePage") },
  { path: "/account/sessions", title: "My sessions", access: "user", load: () => import("../pages/sessions/SessionsPage") },
  { path: "/admin/users", title: "Users and roles", access: "user", permission: "users:manage", load: () => import("../pages/admin-users/UsersPage") },
  { path: "/admin/api-keys", title: "API keys", access: "user", permission: "apikeys:manage", load: () => import("../pages/admin-keys/ApiKeysPage") },
];

export interface NavItem {
  href: string;
  label: string;
  permission?: string;
  icon: "overview" | "live" | "explorer" | "customers" | "analyze" | "users" | "keys";
  section: "main" | "admin";
}

export const NAV: NavItem[] = [
  { href: "/", label: "Overview", permission: "insights:read", icon: "overview", section: "main" },
  { href: "/live", label: "Live feed", permission: "stream:read", icon: "live", section: "main" },
  { href: "/explorer", label: "Explorer", permission: "insights:read", icon: "explorer", section: "main" },
  { href: "/customers", label: "Customers", permission: "insights:read", icon: "customers", section: "main" },
  { href: "/analyze", label: "Analyze text", permission: "analysis:run", icon: "analyze", section: "main" },
  { href: "/admin/users", label: "Users and roles", permission: "users:manage", icon: "users", section: "admin" },
  { href: "/admin/api-keys", label: "API keys", permission: "apikeys:manage", icon: "keys", section: "admin" },
];

/** The nav items a user sees: only what their permissions allow (a viewer sees no admin item). */
export function visibleNav(permissions: readonly string[]): NavItem[] {
  return NAV.filter((n) => !n.permission || permissions.includes(n.permission));
}
