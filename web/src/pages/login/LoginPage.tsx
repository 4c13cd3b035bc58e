import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { AuthService } from "../../gen/insights/v1/auth_pb";
import { client } from "../../api/client";
import { toProblem } from "../../api/errors";
import { restoreScroll, session, takeReturnState } from "../../app/auth";
import { navigate } from "../../app/router";
import type { PageProps } from "../../app/routes";
import { Button, Field, Notice } from "../../components/ui";

/** Where to go after signing in: the saved page state, ?next=, or the overview (same-origin paths only). */
export function afterLoginTarget(search: string): { href: string; scrollY: number } {
  const saved = takeReturnState();
  if (saved) return saved;
  const next = new URLSearchParams(search).get("next") ?? "";
  if (next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/login")) return { href: next, scrollY: 0 };
  return { href: "/", scrollY: 0 };
}

export default function LoginPage({ search }: PageProps): JSX.Element {
  const params = new URLSearchParams(search);
  const [email, setEmail] = useState(params.get("email") ?? "");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const res = await client(AuthService).login({ email: email.trim(), password });
      const target = afterLoginTarget(search);
      session.signIn(res);
      navigate(target.href, { replace: true, scroll: false });
      restoreScroll(target.scrollY);
    } catch (err) {
      const p = toProblem(err);
      setError(p.retryAfterS ? `${p.message} Try again in ${Math.ceil(p.retryAfterS / 60)} min.` : p.message);
      setBusy(false);
    }
  };

  return (
    <div class="auth-card">
      <h1>Sign in</h1>
      <p class="lead">Welcome back. Sign in to your organization's dashboard.</p>
      {params.get("expired") ? (
        <div class="form-notice">
          <Notice tone="warning">Your session has ended. Sign in again to continue where you left off.</Notice>
        </div>
      ) : null}
      {params.get("reset") ? (
        <div class="form-notice">
          <Notice tone="success">Your password was changed. Sign in with the new one.</Notice>
        </div>
      ) : null}
      <form class="form" onSubmit={(e) => void submit(e)} noValidate>
        <Field label="Email">
          {(id, d) => (
            <input id={id} aria-describedby={d} class="input" type="email" autoComplete="username" required
              value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
          )}
        </Field>
        <Field label="Password">
          {(id, d) => (
            <input id={id} aria-describedby={d} class="input" type="password" autoComplete="current-password" required
              value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          )}
        </Field>
        {error ? <p class="form-error" role="alert">{error}</p> : null}
        <Button type="submit" variant="primary" class="btn-block" busy={busy}>Sign in</Button>
      </form>
      <div class="auth-links">
        <a href="/forgot-password">Forgot your password?</a>
        <span>New here? <a href="/register">Create an account</a></span>
      </div>
    </div>
  );
}
