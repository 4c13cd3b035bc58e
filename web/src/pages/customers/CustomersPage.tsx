import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { QueryService } from "../../gen/insights/v1/query_pb";
import { client } from "../../api/client";
import { setSearch } from "../../app/router";
import type { PageProps } from "../../app/routes";
import { Button, ChipGroup, EmptyState, ErrorNotice, Field, Notice, PageHeader, Spinner } from "../../components/ui";
import { formatInteger, formatRelative, formatSentiment } from "../../lib/format";
import { useAsync } from "../../lib/useAsync";
import { customerName, customerSubtitle } from "../../lib/customer";
import { addDays, dateIn } from "../../lib/dates";

/** The organization's segments: those of the last 90 days' interactions (segments are the organization's own words). */
function useSegments(selected: string[]): string[] {
  const known = useAsync(
    (signal) => client(QueryService).getAggregatedMetrics({ startDate: addDays(dateIn(Date.now(), "UTC"), -89) }, { signal }),
    [],
  );
  const keys = (known.data?.bySegment ?? []).filter((e) => !e.other && e.key).map((e) => e.key);
  return [...new Set([...keys, ...selected])];
}

export default function CustomersPage({ search }: PageProps): JSX.Element {
  const p = new URLSearchParams(search);
  const q = p.get("q") ?? "";
  const segments = (p.get("segments") ?? "").split(",").filter(Boolean);
  const sortBy = p.get("sortBy") ?? "last_seen";
  const [draft, setDraft] = useState(q);
  const segmentOptions = useSegments(segments);
  const [tokens, setTokens] = useState<string[]>([]);
  const [token, setToken] = useState("");
  useEffect(() => {
    setTokens([]);
    setToken("");
  }, [search]);
  const write = (patch: Record<string, string>): void => {
    const next = new URLSearchParams(search);
    for (const [k, v] of Object.entries(patch)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    setSearch(next);
  };
  const list = useAsync((signal) => client(QueryService).listCustomers({ q, segments, sortBy, pageSize: 25, pageToken: token }, { signal }), [search, token]);
  const data = list.data;
  return (
    <div class="stack">
      <PageHeader title="Customers" description="Find a customer by name, email or your own id." />
      {p.get("erased") ? (
        <Notice tone={p.get("cachesPurged") === "0" ? "warning" : "success"}>
          Customer {p.get("erased")} was erased with {formatInteger(Number(p.get("n") ?? 0))} interactions.
          {p.get("cachesPurged") === "0" ? " Cached copies could not be purged now and expire on their own within minutes." : ""}
        </Notice>
      ) : null}
      <form class="card filters" onSubmit={(e) => { e.preventDefault(); write({ q: draft.trim() }); }}>
        <Field label="Search" class="span-2">
          {(id) => <input id={id} class="input" type="search" value={draft} placeholder="Name, email or your id, e.g. crm-48213" onInput={(e) => setDraft(e.currentTarget.value)} onBlur={() => draft.trim() !== q && write({ q: draft.trim() })} />}
        </Field>
        <Field label="Sort by">
          {(id) => (
            <select id={id} class="select" value={sortBy} onChange={(e) => write({ sortBy: e.currentTarget.value })}>
              <option value="last_seen">Last seen</option>
              <option value="interactions">Interactions</option>
              <option value="sentiment">Average sentiment</option>
            </select>
          )}
        </Field>
        {segmentOptions.length ? <ChipGroup label="Segments" options={segmentOptions} value={segments} onChange={(v) => write({ segments: v.join(",") })} /> : null}
      </form>
      {list.error ? <ErrorNotice message={list.error.message} onRetry={list.reload} /> : null}
      <div class="table-wrap">
        <table class="table">
          <thead><tr><th scope="col">Customer</th><th scope="col">Segment</th><th scope="col" class="num">Interactions</th><th scope="col" class="num">Avg. sentiment</th><th scope="col">Last seen</th><th scope="col">Patterns</th></tr></thead>
          <tbody>
            {data?.customers.map((c) => (
              <tr key={c.id}>
                <th scope="row" class="nowrap">
                  <a href={`/customers/${encodeURIComponent(c.id)}`}>{customerName(c)}</a>
                  {customerSubtitle(c) ? <div class="muted small">{customerSubtitle(c)}</div> : null}
                </th>
                <td class="cap">{c.segment}</td>
                <td class="num">{formatInteger(c.interactionCount)}</td>
                <td class="num">{formatSentiment(c.averageSentiment)}</td>
                <td class="nowrap">{c.lastSeenAt ? formatRelative(timestampDate(c.lastSeenAt)) : "–"}</td>
                <td><div class="pills">{c.patternTypes.map((t) => <span class="badge badge-accent" key={t}>{t.replace(/_/g, " ")}</span>)}</div></td>
              </tr>
            ))}
          </tbody>
        </table>
        {list.loading && !data ? <Spinner /> : null}
        {data && !data.customers.length ? <EmptyState title="No customers match" /> : null}
      </div>
      {data && (tokens.length || data.nextPageToken) ? (
        <nav class="pager" aria-label="Pages">
          <span>{formatInteger(data.total)} customers · page {tokens.length + 1}</span>
          <div class="row">
            <Button size="sm" disabled={!tokens.length} onClick={() => { const t = [...tokens]; setToken(t.pop() ?? ""); setTokens(t); }}>Previous</Button>
            <Button size="sm" disabled={!data.nextPageToken} onClick={() => { setTokens([...tokens, token]); setToken(data.nextPageToken); }}>Next</Button>
          </div>
        </nav>
      ) : null}
    </div>
  );
}
