import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { AuthService } from "../../gen/insights/v1/auth_pb";
import { client } from "../../api/client";
import { toProblem } from "../../api/errors";
import { session } from "../../app/auth";
import { navigate } from "../../app/router";
import type { PageProps } from "../../app/routes";
import { Button, Field } from "../../components/ui";
import { passwordProblems } from "./password";

export default function ResetPasswordPage({ search }: PageProps): JSX.Element {
  const token = new URLSearchParams(search).get("token") ?? "";
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(token ? null : "This link has no reset token. Open the link from the email again.");
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const local: Record<string, string> = {};
    const pw = passwordProblems(password);
    if (pw) local["newPassword"] = pw;
    if (confirm !== password) local["confirm"] = "The two passwords differ.";
    setErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    setError(null);
    try {
      await client(AuthService).resetPassword({ token, newPassword: password });
      // Every session ended with the reset, this one included.
      session.clear();
      navigate("/login?reset=1", { replace: true });
    } catch (err) {
      const p = toProblem(err);
      setErrors(p.fields);
      setError(p.fields["token"] ?? (Object.keys(p.fields).length ? null : p.message));
      setBusy(false);
    }
  };
  return (
    <div class="auth-card">
      <h1>Choose a new password</h1>
      <p class="lead">After the change you'll be signed out everywhere, and can sign in with the new password.</p>
      <form class="form" onSubmit={(e) => void submit(e)} noValidate>
        <Field label="New password" error={errors["newPassword"]} hint="At least 12 characters with upper and lower case, a digit and a symbol.">
          {(id, d) => <input id={id} aria-describedby={d} class="input" type="password" autoComplete="new-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />}
        </Field>
        <Field label="Repeat the new password" error={errors["confirm"]}>
          {(id, d) => <input id={id} aria-describedby={d} class="input" type="password" autoComplete="new-password" value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} />}
        </Field>
        {error ? <p class="form-error" role="alert">{error}</p> : null}
        <Button type="submit" variant="primary" class="btn-block" busy={busy} disabled={!token}>Change password</Button>
      </form>
      <div class="auth-links"><a href="/forgot-password">Request a new link</a><a href="/login">Back to sign in</a></div>
    </div>
  );
}
