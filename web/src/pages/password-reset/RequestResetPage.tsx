import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { AuthService } from "../../gen/insights/v1/auth_pb";
import { client } from "../../api/client";
import { toProblem } from "../../api/errors";
import type { PageProps } from "../../app/routes";
import { IconMail } from "../../components/icons";
import { Button, Field } from "../../components/ui";

export default function RequestResetPage(_: PageProps): JSX.Element {
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    if (!email.trim()) {
      setError("Enter the email you sign in with.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await client(AuthService).requestPasswordReset({ email: email.trim() });
      setSent(true);
    } catch (err) {
      setError(toProblem(err).message);
    } finally {
      setBusy(false);
    }
  };
  if (sent) {
    return (
      <div class="auth-card">
        <div class="auth-icon"><IconMail size={22} /></div>
        <h1>Check your inbox</h1>
        <p class="lead">If <strong>{email.trim()}</strong> belongs to an account, we sent it a link to choose a new password. The link is valid for one hour.</p>
        <div class="auth-links"><a href="/login">Back to sign in</a></div>
      </div>
    );
  }
  return (
    <div class="auth-card">
      <h1>Reset your password</h1>
      <p class="lead">Enter your email and we'll send you a link to choose a new password.</p>
      <form class="form" onSubmit={(e) => void submit(e)} noValidate>
        <Field label="Email" error={error ?? undefined}>
          {(id, d) => <input id={id} aria-describedby={d} class="input" type="email" autoComplete="username" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />}
        </Field>
        <Button type="submit" variant="primary" class="btn-block" busy={busy}>Send reset link</Button>
      </form>
      <div class="auth-links"><a href="/login">Back to sign in</a></div>
    </div>
  );
}
