import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AuthService, type ApiKey } from "../../gen/insights/v1/auth_pb";
import { client } from "../../api/client";
import { toProblem } from "../../api/errors";
import { useUser } from "../../app/auth";
import type { PageProps } from "../../app/routes";
import { Dialog } from "../../components/Dialog";
import { IconCheck, IconCopy } from "../../components/icons";
import { Badge, Button, EmptyState, ErrorNotice, Field, Notice, PageHeader, Spinner } from "../../components/ui";
import { formatDate, formatRelative } from "../../lib/format";
import { useAsync } from "../../lib/useAsync";

const KEY_PERMISSIONS = [
  { value: "data:ingest", label: "Send interactions (ingestion)" },
  { value: "data:write", label: "Update interactions" },
  { value: "insights:read", label: "Read insights and interactions" },
  { value: "stream:read", label: "Read the live event stream" },
  { value: "analysis:run", label: "Analyse text on demand" },
];

function SecretReveal({ secret, onDone }: { secret: string; onDone: () => void }): JSX.Element {
  const [copied, setCopied] = useState(false);
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <div class="stack">
      <Notice tone="warning">Copy the key now. It is stored only as a hash and will never be shown again.</Notice>
      <div class="secret">
        <code class="secret-value" aria-label="API key">{secret}</code>
        <Button size="sm" onClick={() => void copy()}>{copied ? <><IconCheck size={14} /> Copied</> : <><IconCopy size={14} /> Copy</>}</Button>
      </div>
      <p class="muted small">Send it in the <code>x-api-key</code> header.</p>
      <div class="row end"><Button variant="primary" onClick={onDone}>I have stored it</Button></div>
    </div>
  );
}

export default function ApiKeysPage(_: PageProps): JSX.Element {
  const me = useUser();
  const list = useAsync((signal) => client(AuthService).listApiKeys({ pageSize: 100 }, { signal }), []);
  const [creating, setCreating] = useState(false);
  const [name, setName] = useState("");
  const [perms, setPerms] = useState<string[]>(["data:ingest"]);
  const [secret, setSecret] = useState<string | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState<string | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const [error, setError] = useState<string | null>(null);
  const mine = me?.permissions ?? [];

  const create = async (e: Event): Promise<void> => {
    e.preventDefault();
    if (!name.trim()) {
      setErrors({ name: "Name the key after what uses it." });
      return;
    }
    if (!perms.length) {
      setErrors({ permissions: "Choose at least one permission." });
      return;
    }
    setBusy("create");
    try {
      const res = await client(AuthService).createApiKey({ name: name.trim(), permissions: perms });
      setSecret(res.secret);
      setName("");
      list.reload();
    } catch (err) {
      const p = toProblem(err);
      setErrors(Object.keys(p.fields).length ? p.fields : { form: p.message });
    } finally {
      setBusy(null);
    }
  };
  const revoke = async (k: ApiKey): Promise<void> => {
    setBusy(k.id);
    try {
      await client(AuthService).revokeApiKey({ keyId: k.id });
      setRevoking(null);
      list.reload();
    } catch (e) {
      setError(toProblem(e).message);
    } finally {
      setBusy(null);
    }
  };
  const close = (): void => {
    setCreating(false);
    setSecret(null);
    setErrors({});
  };
  const keys = list.data?.apiKeys ?? [];
  return (
    <div class="stack">
      <PageHeader title="API keys" description="Keys let machines (trackers, integrations) call the API for your organization."
        actions={<Button variant="primary" onClick={() => setCreating(true)}>Create key</Button>} />
      {error ? <ErrorNotice message={error} /> : null}
      {list.error ? <ErrorNotice message={list.error.message} onRetry={list.reload} /> : null}
      <div class="table-wrap" role="region" aria-label="API keys" tabIndex={0}>
        <table class="table">
          <thead><tr><th scope="col">Name</th><th scope="col">Key</th><th scope="col">Permissions</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Status</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.id}>
                <th scope="row">{k.name}</th>
                <td><code>{k.prefix}…</code></td>
                <td><div class="pills">{k.permissions.map((p) => <code class="perm" key={p}>{p}</code>)}</div></td>
                <td class="nowrap">{k.createdAt ? formatDate(timestampDate(k.createdAt)) : "–"}</td>
                <td class="nowrap">{k.lastUsedAt ? formatRelative(timestampDate(k.lastUsedAt)) : "never"}</td>
                <td>{k.revokedAt ? <Badge>Revoked</Badge> : <Badge tone="positive">Active</Badge>}</td>
                <td>{k.revokedAt ? null : <Button size="sm" variant="secondary" onClick={() => setRevoking(k)}>Revoke</Button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {list.loading && !list.data ? <Spinner /> : null}
        {list.data && !keys.length ? <EmptyState title="No API keys yet"><p>Create one for each system that sends you interactions.</p></EmptyState> : null}
      </div>

      <Dialog open={creating} onClose={close} title={secret ? "Your new API key" : "Create an API key"}>
        {secret ? <SecretReveal secret={secret} onDone={close} /> : (
          <form class="form" onSubmit={(e) => void create(e)} noValidate>
            <Field label="Name" error={errors["name"]} hint="e.g. “Website tracker” or “Zendesk sync”">
              {(id, d) => <input id={id} aria-describedby={d} class="input" value={name} onInput={(e) => setName(e.currentTarget.value)} />}
            </Field>
            <fieldset class="fieldset">
              <legend class="label">Permissions</legend>
              {KEY_PERMISSIONS.filter((p) => mine.includes(p.value)).map((p) => (
                <label class="checkbox" key={p.value}>
                  <input type="checkbox" checked={perms.includes(p.value)} onChange={(e) => setPerms(e.currentTarget.checked ? [...perms, p.value] : perms.filter((x) => x !== p.value))} />
                  {p.label} <code class="muted">{p.value}</code>
                </label>
              ))}
              {errors["permissions"] ? <p class="field-error">{errors["permissions"]}</p> : null}
            </fieldset>
            {errors["form"] ? <ErrorNotice message={errors["form"]} /> : null}
            <div class="row end"><Button onClick={close}>Cancel</Button><Button type="submit" variant="primary" busy={busy === "create"}>Create key</Button></div>
          </form>
        )}
      </Dialog>
      <Dialog open={revoking !== null} onClose={() => setRevoking(null)} title={`Revoke “${revoking?.name ?? ""}”?`} size="sm"
        footer={<><Button onClick={() => setRevoking(null)}>Cancel</Button><Button variant="danger" busy={busy === revoking?.id} onClick={() => revoking && void revoke(revoking)}>Revoke key</Button></>}>
        <p>Calls with this key are refused from now on. Whatever uses it stops working until it gets a new key.</p>
      </Dialog>
    </div>
  );
}
