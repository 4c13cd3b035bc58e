import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AuthService } from "../../gen/insights/v1/auth_pb";
import { client } from "../../api/client";
import { toProblem } from "../../api/errors";
import { session } from "../../app/auth";
import { navigate } from "../../app/router";
import type { PageProps } from "../../app/routes";
import { Dialog } from "../../components/Dialog";
import { IconDevices } from "../../components/icons";
import { Badge, Button, Card, ErrorNotice, Field, Notice, PageHeader, Spinner } from "../../components/ui";
import { formatDateTime, formatRelative } from "../../lib/format";
import { useAsync } from "../../lib/useAsync";
import { passwordProblems } from "../password-reset/password";

/** "Safari on macOS" from a user agent, good enough to recognise one's devices. */
export function describeAgent(ua: string): string {
  if (!ua) return "Unknown device";
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrome\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : /curl|python|node|Go-http/i.test(ua) ? "API client" : "Browser";
  const os = /iPhone|iPad/.test(ua) ? "iOS" : /Android/.test(ua) ? "Android" : /Mac OS X/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}

function ChangePassword(): JSX.Element {
  const [open, setOpen] = useState(false);
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const pw = passwordProblems(next);
    if (pw) {
      setErrors({ newPassword: pw });
      return;
    }
    setBusy(true);
    try {
      await client(AuthService).changePassword({ currentPassword: current, newPassword: next });
      session.clear();
      navigate("/login?reset=1", { replace: true });
    } catch (err) {
      const p = toProblem(err);
      setErrors(Object.keys(p.fields).length ? p.fields : { form: p.message });
      setBusy(false);
    }
  };
  return (
    <>
      <Button onClick={() => setOpen(true)}>Change password</Button>
      <Dialog open={open} onClose={() => setOpen(false)} title="Change password" size="sm">
        <form class="form" onSubmit={(e) => void submit(e)} noValidate>
          <p class="muted">Changing it signs you out on every device, this one included.</p>
          <Field label="Current password" error={errors["currentPassword"]}>
            {(id, d) => <input id={id} aria-describedby={d} class="input" type="password" autoComplete="current-password" value={current} onInput={(e) => setCurrent(e.currentTarget.value)} />}
          </Field>
          <Field label="New password" error={errors["newPassword"]} hint="At least 12 characters with upper and lower case, a digit and a symbol.">
            {(id, d) => <input id={id} aria-describedby={d} class="input" type="password" autoComplete="new-password" value={next} onInput={(e) => setNext(e.currentTarget.value)} />}
          </Field>
          {errors["form"] ? <p class="form-error" role="alert">{errors["form"]}</p> : null}
          <div class="row end"><Button onClick={() => setOpen(false)}>Cancel</Button><Button type="submit" variant="primary" busy={busy}>Change password</Button></div>
        </form>
      </Dialog>
    </>
  );
}

export default function SessionsPage(_: PageProps): JSX.Element {
  const list = useAsync((signal) => client(AuthService).listSessions({ pageSize: 100 }, { signal }), []);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const revoke = async (id: string, current: boolean): Promise<void> => {
    setBusy(id);
    setError(null);
    try {
      await client(AuthService).revokeSession({ sessionId: id });
      if (current) {
        session.clear();
        navigate("/login", { replace: true });
        return;
      }
      setDone("The device was signed out.");
      list.reload();
    } catch (e) {
      setError(toProblem(e).message);
    } finally {
      setBusy(null);
    }
  };
  const revokeOthers = async (): Promise<void> => {
    setBusy("all");
    setError(null);
    try {
      const res = await client(AuthService).revokeAllSessions({ keepCurrent: true });
      setDone(res.revoked === 1 ? "1 other device was signed out." : `${res.revoked} other devices were signed out.`);
      list.reload();
    } catch (e) {
      setError(toProblem(e).message);
    } finally {
      setBusy(null);
    }
  };
  const sessions = list.data?.sessions ?? [];
  return (
    <div class="stack">
      <PageHeader title="My sessions" description="The devices signed in to your account. Sign out any you don't recognise."
        actions={<><ChangePassword /><Button variant="danger" busy={busy === "all"} disabled={sessions.filter((s) => !s.current).length === 0} onClick={() => void revokeOthers()}>Sign out other devices</Button></>} />
      {done ? <Notice tone="success">{done}</Notice> : null}
      {error ? <ErrorNotice message={error} /> : null}
      {list.error ? <ErrorNotice message={list.error.message} onRetry={list.reload} /> : null}
      <Card>
        {list.loading && !list.data ? <Spinner /> : (
          <ul class="session-list">
            {sessions.map((s) => (
              <li key={s.id} class="session">
                <span class="session-icon" aria-hidden="true"><IconDevices /></span>
                <div class="session-main">
                  <strong>{describeAgent(s.userAgent)}</strong> {s.current ? <Badge tone="positive">This device</Badge> : null}
                  <div class="muted small">
                    {s.clientIp || "unknown address"} · signed in {s.createdAt ? formatDateTime(timestampDate(s.createdAt)) : "–"} · last active {s.lastUsedAt ? formatRelative(timestampDate(s.lastUsedAt)) : "–"}
                  </div>
                </div>
                <Button size="sm" busy={busy === s.id} onClick={() => void revoke(s.id, s.current)}>{s.current ? "Sign out" : "Sign out device"}</Button>
              </li>
            ))}
          </ul>
        )}
      </Card>
    </div>
  );
}
