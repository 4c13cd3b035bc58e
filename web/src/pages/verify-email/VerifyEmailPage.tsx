import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { Code } from "@connectrpc/connect";
import { AuthService } from "../../gen/insights/v1/auth_pb";
import { client } from "../../api/client";
import { toProblem } from "../../api/errors";
import { session } from "../../app/auth";
import { navigate } from "../../app/router";
import type { PageProps } from "../../app/routes";
import { Button, Field } from "../../components/ui";

/**
 * The emailed sign-up link lands here. The server completes a sign-up only with the password chosen
 * at sign-up (so whoever reads a mailbox they did not sign up with cannot finish someone else's
 * sign-up), so the page asks for it; a wrong password leaves the link usable.
 */
export default function VerifyEmailPage({ search }: PageProps): JSX.Element {
  const token = new URLSearchParams(search).get("token") ?? "";
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(token ? null : "This link has no verification token. Open the link from the email again.");
  const [spent, setSpent] = useState(!token);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    if (!password) {
      setError("Enter the password you chose when you signed up.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const res = await client(AuthService).verifyEmail({ token, password });
      session.signIn(res);
      // The address bar must not keep the spent token.
      navigate("/?welcome=1", { replace: true });
    } catch (err) {
      const p = toProblem(err);
      const linkDead = /link/i.test(p.message) || p.code === Code.AlreadyExists;
      setSpent(linkDead);
      setError(p.code === Code.Unauthenticated && !linkDead
        ? "That is not the password chosen at sign-up. Try again: the link still works."
        : p.message);
      setBusy(false);
    }
  };

  return (
    <div class="auth-card">
      <h1>Confirm your email</h1>
      <p class="lead">Enter the password you chose when you signed up, to create your organization's account.</p>
      <form class="form" onSubmit={(e) => void submit(e)} noValidate>
        <Field label="Password">
          {(id, d) => (
            <input id={id} aria-describedby={d} class="input" type="password" autoComplete="current-password" required
              value={password} disabled={spent} onInput={(e) => setPassword(e.currentTarget.value)} />
          )}
        </Field>
        {error ? <p class="form-error" role="alert">{error}</p> : null}
        <Button type="submit" variant="primary" class="btn-block" busy={busy} disabled={spent}>Confirm and sign in</Button>
      </form>
      {spent ? (
        <p class="muted">Verification links are valid for 24 hours and work once. <a href="/register">Register again</a> to get a new one.</p>
      ) : null}
      <div class="auth-links"><a href="/login">Back to sign in</a></div>
    </div>
  );
}
