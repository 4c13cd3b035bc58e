import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AuthService, type User } from "../../gen/insights/v1/auth_pb";
import { client } from "../../api/client";
import { toProblem } from "../../api/errors";
import { useUser } from "../../app/auth";
import type { PageProps } from "../../app/routes";
import { Dialog } from "../../components/Dialog";
import { Badge, Button, ErrorNotice, Field, Notice, PageHeader, Spinner } from "../../components/ui";
import { formatInteger, formatRelative } from "../../lib/format";
import { useAsync } from "../../lib/useAsync";
import { passwordProblems } from "../password-reset/password";

export const ROLES: { value: string; label: string; description: string }[] = [
  { value: "viewer", label: "Viewer", description: "Reads insights and the live feed." },
  { value: "analyst", label: "Analyst", description: "Also analyses text and ingests and edits data." },
  { value: "admin", label: "Admin", description: "Also manages customers (export, erasure), users and API keys." },
];

const EXTRA_PERMISSIONS = ["analysis:run", "data:ingest", "data:write", "customers:manage", "users:manage", "apikeys:manage"];

function CreateUserDialog({ open, onClose, onCreated, mine }: { open: boolean; onClose: () => void; onCreated: (u: User) => void; mine: string[] }): JSX.Element {
  const empty = { email: "", firstName: "", lastName: "", password: "", role: "viewer" };
  const [form, setForm] = useState(empty);
  const [extra, setExtra] = useState<string[]>([]);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const local: Record<string, string> = {};
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(form.email.trim())) local["email"] = "Enter an email address.";
    const pw = passwordProblems(form.password);
    if (pw) local["password"] = pw;
    setErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      const res = await client(AuthService).createUser({ ...form, email: form.email.trim(), permissions: extra });
      if (res.user) onCreated(res.user);
      setForm(empty);
      setExtra([]);
      onClose();
    } catch (err) {
      const p = toProblem(err);
      setErrors(Object.keys(p.fields).length ? p.fields : { form: p.message });
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open={open} onClose={onClose} title="Add a user">
      <form class="form" onSubmit={(e) => void submit(e)} noValidate>
        <div class="form-row">
          <Field label="First name" error={errors["firstName"]}>{(id) => <input id={id} class="input" value={form.firstName} onInput={set("firstName")} />}</Field>
          <Field label="Last name" error={errors["lastName"]}>{(id) => <input id={id} class="input" value={form.lastName} onInput={set("lastName")} />}</Field>
        </div>
        <Field label="Email" error={errors["email"]}>{(id, d) => <input id={id} aria-describedby={d} class="input" type="email" autoComplete="off" value={form.email} onInput={set("email")} />}</Field>
        <Field label="Initial password" error={errors["password"]} hint="Share it safely; they can change it under My sessions.">
          {(id, d) => <input id={id} aria-describedby={d} class="input" type="password" autoComplete="new-password" value={form.password} onInput={set("password")} />}
        </Field>
        <fieldset class="fieldset">
          <legend class="label">Role</legend>
          {ROLES.map((r) => (
            <label class="radio-card" key={r.value}>
              <input type="radio" name="role" value={r.value} checked={form.role === r.value} onChange={() => setForm({ ...form, role: r.value })} />
              <span><strong>{r.label}</strong><span class="muted small">{r.description}</span></span>
            </label>
          ))}
        </fieldset>
        <fieldset class="fieldset">
          <legend class="label">Extra permissions</legend>
          <div class="perm-grid">
            {EXTRA_PERMISSIONS.filter((p) => mine.includes(p)).map((p) => (
              <label class="checkbox" key={p}>
                <input type="checkbox" checked={extra.includes(p)} onChange={(e) => setExtra(e.currentTarget.checked ? [...extra, p] : extra.filter((x) => x !== p))} />
                <code>{p}</code>
              </label>
            ))}
          </div>
        </fieldset>
        {errors["form"] ? <ErrorNotice message={errors["form"]} /> : null}
        <div class="row end"><Button onClick={onClose}>Cancel</Button><Button type="submit" variant="primary" busy={busy}>Add user</Button></div>
      </form>
    </Dialog>
  );
}

export default function UsersPage(_: PageProps): JSX.Element {
  const me = useUser();
  const list = useAsync((signal) => client(AuthService).listUsers({ pageSize: 100 }, { signal }), []);
  const [creating, setCreating] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const toggle = async (u: User): Promise<void> => {
    setBusy(u.id);
    setError(null);
    try {
      if (u.active) await client(AuthService).disableUser({ userId: u.id });
      else await client(AuthService).enableUser({ userId: u.id });
      setNotice(u.active ? `${u.firstName} ${u.lastName} was disabled and signed out everywhere.` : `${u.firstName} ${u.lastName} can sign in again.`);
      list.reload();
    } catch (e) {
      setError(toProblem(e).message);
    } finally {
      setBusy(null);
    }
  };
  const users = list.data?.users ?? [];
  return (
    <div class="stack">
      <PageHeader title="Users and roles" description={list.data ? `${formatInteger(list.data.total)} ${list.data.total === 1n ? "person" : "people"} in ${me?.organizationName ?? "your organization"}.` : "People in your organization and what they may do."}
        actions={<Button variant="primary" onClick={() => setCreating(true)}>Add user</Button>} />
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      {error ? <ErrorNotice message={error} /> : null}
      {list.error ? <ErrorNotice message={list.error.message} onRetry={list.reload} /> : null}
      <div class="table-wrap" role="region" aria-label="Users" tabIndex={0}>
        <table class="table">
          <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Permissions</th><th scope="col">Last sign-in</th><th scope="col">Status</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {users.map((u) => (
              <tr key={u.id}>
                <th scope="row">{u.firstName} {u.lastName}<div class="muted small">{u.email}</div></th>
                <td class="cap">{u.role}</td>
                <td><div class="pills">{u.permissions.map((p) => <code class="perm" key={p}>{p}</code>)}</div></td>
                <td class="nowrap">{u.lastLoginAt ? formatRelative(timestampDate(u.lastLoginAt)) : "never"}</td>
                <td>{u.active ? <Badge tone="positive">Active</Badge> : <Badge>Disabled</Badge>}</td>
                <td class="nowrap">
                  {u.id === me?.id ? <span class="muted small">You</span> : (
                    <Button size="sm" variant={u.active ? "secondary" : "primary"} busy={busy === u.id} onClick={() => void toggle(u)}>{u.active ? "Disable" : "Enable"}</Button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {list.loading && !list.data ? <Spinner /> : null}
      </div>
      <CreateUserDialog open={creating} onClose={() => setCreating(false)} mine={me?.permissions ?? []}
        onCreated={(u) => { setNotice(`${u.firstName} ${u.lastName} was added as ${u.role}.`); list.reload(); }} />
    </div>
  );
}
