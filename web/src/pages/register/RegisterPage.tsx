import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { AuthService } from "../../gen/insights/v1/auth_pb";
import { client } from "../../api/client";
import { toProblem } from "../../api/errors";
import type { PageProps } from "../../app/routes";
import { IconMail } from "../../components/icons";
import { Button, Field } from "../../components/ui";
import { passwordProblems } from "../password-reset/password";

export default function RegisterPage(_: PageProps): JSX.Element {
  const [form, setForm] = useState({ firstName: "", lastName: "", email: "", organizationName: "", password: "" });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [sentTo, setSentTo] = useState<string | null>(null);
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const local: Record<string, string> = {};
    if (!form.firstName.trim()) local["firstName"] = "Enter your first name.";
    if (!form.lastName.trim()) local["lastName"] = "Enter your last name.";
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(form.email.trim())) local["email"] = "Enter an email address like name@company.com.";
    if (!form.organizationName.trim()) local["organizationName"] = "Enter your organization's name.";
    const pw = passwordProblems(form.password);
    if (pw) local["password"] = pw;
    setErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    setError(null);
    try {
      await client(AuthService).register({ ...form, email: form.email.trim() });
      setSentTo(form.email.trim());
    } catch (err) {
      const p = toProblem(err);
      setErrors(p.fields);
      setError(Object.keys(p.fields).length ? null : p.message);
    } finally {
      setBusy(false);
    }
  };

  if (sentTo) {
    return (
      <div class="auth-card">
        <div class="auth-icon"><IconMail size={22} /></div>
        <h1>Check your inbox</h1>
        <p class="lead">
          We sent a link to <strong>{sentTo}</strong>. Open it to verify your email and create your organization's account.
          The link is valid for 24 hours.
        </p>
        <p class="muted small">No email after a few minutes? Check your spam folder, or <button type="button" class="link-btn" onClick={() => setSentTo(null)}>try again</button> with another address.</p>
        <div class="auth-links"><a href="/login">Back to sign in</a></div>
      </div>
    );
  }

  const field = (k: keyof typeof form, label: string, type: "text" | "email" | "password", autoComplete: string, hint?: string): JSX.Element => (
    <Field label={label} error={errors[k]} hint={hint}>
      {(id, d) => (
        <input id={id} aria-describedby={d} aria-invalid={errors[k] ? "true" : undefined} class="input" type={type as "text"}
          autoComplete={autoComplete as "email"} value={form[k]} onInput={set(k)} />
      )}
    </Field>
  );

  return (
    <div class="auth-card">
      <h1>Create your account</h1>
      <p class="lead">Start analysing your customers' interactions in minutes.</p>
      <form class="form" onSubmit={(e) => void submit(e)} noValidate>
        <div class="form-row">
          {field("firstName", "First name", "text", "given-name")}
          {field("lastName", "Last name", "text", "family-name")}
        </div>
        {field("email", "Work email", "email", "email")}
        {field("organizationName", "Organization", "text", "organization")}
        {field("password", "Password", "password", "new-password", "At least 12 characters with upper and lower case, a digit and a symbol.")}
        {error ? <p class="form-error" role="alert">{error}</p> : null}
        <Button type="submit" variant="primary" class="btn-block" busy={busy}>Create account</Button>
      </form>
      <div class="auth-links"><span>Already have an account? <a href="/login">Sign in</a></span></div>
    </div>
  );
}
