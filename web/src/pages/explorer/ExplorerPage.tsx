// Explorer: every interaction behind a filter. The filter is the URL's query string (the REST
// names of GET /api/data/interactions), so drill-downs land here with exactly their filter, the
// export sends the same string, and a restored page shows the same rows.

import "./explorer.css";
import type { JSX } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { QueryService, type ListInteractionsResponse } from "../../gen/insights/v1/query_pb";
import type { Interaction } from "../../gen/insights/v1/common_pb";
import { client } from "../../api/client";
import { download } from "../../api/download";
import { activeFilterCount, exportUrl, FILTER_PARAMS, filterToQuery, parseFilter, type Filter } from "../../api/filters";
import { setSearch } from "../../app/router";
import type { PageProps } from "../../app/routes";
import { Dialog } from "../../components/Dialog";
import { IconArrowDown, IconArrowUp, IconClose, IconDownload } from "../../components/icons";
import { InteractionDetails } from "../../components/InteractionDetails";
import { DistributionBar, SentimentBadge } from "../../components/sentiment";
import { Button, ChipGroup, EmptyState, ErrorNotice, Field, Spinner } from "../../components/ui";
import { formatDateTime, formatInteger, formatSentiment, hourLabel, weekdayNames } from "../../lib/format";
import { Snippet } from "../../lib/snippet";
import { useAsync } from "../../lib/useAsync";

const CHANNELS = ["web", "mobile", "email", "chat", "phone"];
const SENTIMENTS = ["positive", "neutral", "negative", "pending"];
const PAGE_SIZE = 50;

type SortBy = "timestamp" | "sentiment" | "relevance";

function readSort(search: string, hasQ: boolean): { sortBy: SortBy; sortOrder: "asc" | "desc" } {
  const p = new URLSearchParams(search);
  const by = p.get("sortBy");
  const sortBy: SortBy = by === "sentiment" || (by === "relevance" && hasQ) ? by : "timestamp";
  return { sortBy, sortOrder: p.get("sortOrder") === "asc" ? "asc" : "desc" };
}

/** The URL for a filter plus the page's own parameters (sort), filter fields first. */
function writeUrl(f: Filter, sort: { sortBy: SortBy; sortOrder: string }): void {
  const p = new URLSearchParams(filterToQuery(f));
  if (sort.sortBy !== "timestamp") p.set("sortBy", sort.sortBy);
  if (sort.sortOrder !== "desc") p.set("sortOrder", sort.sortOrder);
  setSearch(p);
}

function splitList(v: string): string[] {
  return v.split(",").map((s) => s.trim()).filter(Boolean);
}

/** A text input that commits on Enter / blur (so the URL and the query change once, not per key). */
function CommitInput({ id, value, onCommit, placeholder, describedBy, type = "text" }: {
  id: string; value: string; onCommit: (v: string) => void; placeholder?: string; describedBy?: string | undefined; type?: "text" | "number";
}): JSX.Element {
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  return (
    <input id={id} class="input" type={type as "text"} value={draft} placeholder={placeholder} aria-describedby={describedBy}
      onInput={(e) => setDraft(e.currentTarget.value)}
      onKeyDown={(e) => { if (e.key === "Enter") onCommit(draft.trim()); }}
      onBlur={() => { if (draft.trim() !== value) onCommit(draft.trim()); }} />
  );
}

export default function ExplorerPage({ search }: PageProps): JSX.Element {
  const filter = useMemo(() => parseFilter(search), [search]);
  const sort = readSort(search, !!filter.q);
  const filterKey = filterToQuery(filter);
  // Keyset paging: the tokens of the pages before this one (Previous pops one).
  const [tokens, setTokens] = useState<string[]>([]);
  const [token, setToken] = useState("");
  const [open, setOpen] = useState<Interaction | null>(null);
  const [exporting, setExporting] = useState<string | null>(null);
  const [exportError, setExportError] = useState<string | null>(null);
  const tableTop = useRef<HTMLDivElement>(null);
  // On phones the filters start folded, so that the results are on the first screen.
  const [filtersOpen, setFiltersOpen] = useState(() => typeof matchMedia !== "function" || !matchMedia("(max-width: 720px)").matches);

  useEffect(() => {
    setTokens([]);
    setToken("");
  }, [filterKey, sort.sortBy, sort.sortOrder]);

  const list = useAsync<ListInteractionsResponse>(
    (signal) => client(QueryService).listInteractions({ ...filter, sortBy: sort.sortBy, sortOrder: sort.sortOrder, pageSize: PAGE_SIZE, pageToken: token }, { signal }),
    [filterKey, sort.sortBy, sort.sortOrder, token],
  );

  const set = (patch: Partial<Filter>): void => writeUrl({ ...filter, ...patch }, sort);
  const toggleSort = (by: SortBy): void => {
    const sortOrder = sort.sortBy === by && sort.sortOrder === "desc" ? "asc" : "desc";
    writeUrl(filter, { sortBy: by, sortOrder });
  };
  const goto = (next: string, back: boolean): void => {
    if (back) {
      const prev = [...tokens];
      const t = prev.pop() ?? "";
      setTokens(prev);
      setToken(t);
    } else {
      setTokens([...tokens, token]);
      setToken(next);
    }
    tableTop.current?.scrollIntoView({ block: "start" });
  };
  const doExport = async (format: "csv" | "ndjson"): Promise<void> => {
    setExporting(format);
    setExportError(null);
    try {
      await download(exportUrl(filter, format), `interactions-${new Date().toISOString().slice(0, 10)}.${format === "csv" ? "csv" : "ndjson"}`);
    } catch (e) {
      setExportError(e instanceof Error ? e.message : String(e));
    } finally {
      setExporting(null);
    }
  };

  const days = weekdayNames("long");
  const extraPills: { label: string; clear: Partial<Filter> }[] = [];
  if (filter.customerId) extraPills.push({ label: `Customer ${filter.customerId}`, clear: { customerId: "" } });
  if (filter.weekdays.length) extraPills.push({ label: filter.weekdays.map((d) => days[d - 1] ?? d).join(", "), clear: { weekdays: [] } });
  if (filter.hours.length) extraPills.push({ label: filter.hours.map((h) => hourLabel(h)).join(", "), clear: { hours: [] } });
  if (filter.timeZone) extraPills.push({ label: `Time zone ${filter.timeZone.replace(/_/g, " ")}`, clear: { timeZone: "" } });
  const isInstant = (v: string): boolean => v.includes("T");
  const data = list.data;
  const sortIcon = (by: SortBy): JSX.Element | null =>
    sort.sortBy === by ? (sort.sortOrder === "desc" ? <IconArrowDown size={13} /> : <IconArrowUp size={13} />) : null;
  const ariaSort = (by: SortBy): "ascending" | "descending" | undefined =>
    sort.sortBy === by ? (sort.sortOrder === "asc" ? "ascending" : "descending") : undefined;
  const count = activeFilterCount(filter);
  const unknownParams = [...new URLSearchParams(search).keys()].filter((k) => !FILTER_PARAMS.includes(k) && k !== "sortBy" && k !== "sortOrder");

  return (
    <div class="explorer stack">
      <header class="page-header">
        <div class="page-heading">
          <h1>Explorer</h1>
          <p class="page-description">Search, filter and export interactions. Links from the overview open here with their filter.</p>
        </div>
        <div class="page-actions">
          <Button onClick={() => void doExport("csv")} busy={exporting === "csv"}><IconDownload /> Export CSV</Button>
          <Button onClick={() => void doExport("ndjson")} busy={exporting === "ndjson"}><IconDownload /> NDJSON</Button>
        </div>
      </header>
      {exportError ? <ErrorNotice title="Export failed" message={exportError} /> : null}

      <details class="card filters-details" open={filtersOpen} onToggle={(e) => setFiltersOpen(e.currentTarget.open)}>
        <summary class="filters-summary">Filters{count ? <span class="badge badge-accent">{count}</span> : null}</summary>
      <form class="filters-card" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <div class="filters">
          <Field label="Search text" class="span-2" hint={<>Words, “quoted phrases”, -excluded</>}>
            {(id, d) => <CommitInput id={id} describedBy={d} value={filter.q} placeholder="e.g. refund -shipping" onCommit={(q) => set({ q })} />}
          </Field>
          <Field label="From" hint={isInstant(filter.startDate) ? formatDateTime(new Date(filter.startDate)) : undefined}>
            {(id, d) => <input id={id} aria-describedby={d} class="input" type="date" value={isInstant(filter.startDate) ? filter.startDate.slice(0, 10) : filter.startDate} onChange={(e) => set({ startDate: e.currentTarget.value })} />}
          </Field>
          <Field label="To (inclusive)" hint={isInstant(filter.endDate) ? `before ${formatDateTime(new Date(filter.endDate))}` : undefined}>
            {(id, d) => <input id={id} aria-describedby={d} class="input" type="date" value={isInstant(filter.endDate) ? filter.endDate.slice(0, 10) : filter.endDate} onChange={(e) => set({ endDate: e.currentTarget.value })} />}
          </Field>
          <Field label="Segments" hint="Comma-separated">
            {(id, d) => <CommitInput id={id} describedBy={d} value={filter.customerSegments.join(", ")} placeholder="enterprise, smb" onCommit={(v) => set({ customerSegments: splitList(v) })} />}
          </Field>
          <Field label="Event types" hint="Comma-separated">
            {(id, d) => <CommitInput id={id} describedBy={d} value={filter.eventTypes.join(", ")} placeholder="support_chat, purchase" onCommit={(v) => set({ eventTypes: splitList(v) })} />}
          </Field>
          <Field label="Min. score" hint="−1 … 1">
            {(id, d) => <CommitInput id={id} describedBy={d} type="number" value={filter.sentimentMin?.toString() ?? ""} onCommit={(v) => set({ sentimentMin: v === "" ? undefined : Number(v) })} />}
          </Field>
          <Field label="Max. score" hint="−1 … 1">
            {(id, d) => <CommitInput id={id} describedBy={d} type="number" value={filter.sentimentMax?.toString() ?? ""} onCommit={(v) => set({ sentimentMax: v === "" ? undefined : Number(v) })} />}
          </Field>
        </div>
        <div class="filters-chips">
          <ChipGroup label="Channels" options={CHANNELS} value={filter.channels} onChange={(channels) => set({ channels })} />
          <ChipGroup label="Sentiment" options={SENTIMENTS} value={filter.sentiments} onChange={(sentiments) => set({ sentiments })} />
        </div>
        {extraPills.length || count ? (
          <div class="filters-foot">
            <div class="pills">
              {extraPills.map((p) => (
                <span class="pill" key={p.label}>{p.label}<button type="button" aria-label={`Remove filter: ${p.label}`} onClick={() => set(p.clear)}><IconClose size={12} /></button></span>
              ))}
            </div>
            <Button variant="ghost" size="sm" onClick={() => setSearch("")}>Clear all filters</Button>
          </div>
        ) : null}
        {unknownParams.length ? <p class="muted small">Ignored URL parameters: {unknownParams.join(", ")}</p> : null}
      </form>
      </details>

      <div ref={tableTop} class="results-head">
        {data ? (
          <>
            <p class="results-count">
              <strong class="tabular">{data.totalIsEstimate ? "≈ " : ""}{formatInteger(data.total)}</strong> interactions
              {data.averageSentiment !== undefined ? <> · average sentiment <strong class="tabular">{formatSentiment(data.averageSentiment)}</strong></> : null}
            </p>
            {data.distribution ? <div class="results-dist"><DistributionBar distribution={data.distribution} label="Sentiment of the filter" /></div> : null}
          </>
        ) : <span />}
      </div>

      {list.error ? <ErrorNotice message={list.error.message} onRetry={list.reload} /> : null}
      {Object.keys(list.error?.fields ?? {}).length ? (
        <ul class="field-problems">{Object.entries(list.error!.fields).map(([k, v]) => <li key={k}><strong>{k}</strong>: {v}</li>)}</ul>
      ) : null}

      <div class="table-wrap" aria-busy={list.loading ? "true" : "false"}>
        <table class="table interactions">
          <caption class="sr-only">Interactions, {sort.sortBy} {sort.sortOrder === "desc" ? "descending" : "ascending"}. Select a row to see its details.</caption>
          <thead>
            <tr>
              <th scope="col" aria-sort={ariaSort("timestamp")}><button type="button" class="sort-btn" onClick={() => toggleSort("timestamp")}>Time {sortIcon("timestamp")}</button></th>
              <th scope="col">Customer</th>
              <th scope="col">Channel</th>
              <th scope="col" class="col-event">Event</th>
              <th scope="col" class="col-content">
                Content{filter.q ? <> · <button type="button" class="sort-btn" onClick={() => toggleSort("relevance")} aria-label="Sort by relevance">relevance {sortIcon("relevance")}</button></> : null}
              </th>
              <th scope="col" aria-sort={ariaSort("sentiment")}><button type="button" class="sort-btn" onClick={() => toggleSort("sentiment")}>Sentiment {sortIcon("sentiment")}</button></th>
            </tr>
          </thead>
          <tbody>
            {data?.data.map((i) => (
              <tr key={i.id} class="clickable" onClick={() => setOpen(i)}>
                <td class="nowrap tabular">
                  <button type="button" class="row-open" onClick={(e) => { e.stopPropagation(); setOpen(i); }}>
                    {i.timestamp ? formatDateTime(timestampDate(i.timestamp)) : "–"}
                    <span class="sr-only">: details of the {i.eventType.replace(/_/g, " ")} from {i.externalCustomerId}</span>
                  </button>
                </td>
                <td class="nowrap"><a href={`/customers/${encodeURIComponent(i.customerId)}`} onClick={(e) => e.stopPropagation()}>{i.externalCustomerId || i.customerId.slice(0, 8)}</a></td>
                <td><span class="badge">{i.channel}</span></td>
                <td class="col-event nowrap">{i.eventType.replace(/_/g, " ")}</td>
                <td class="col-content"><span class="cell-content clamp-2">{data.snippets[i.id] ? <Snippet text={data.snippets[i.id]!} /> : i.content || <span class="muted">—</span>}</span></td>
                <td class="nowrap"><SentimentBadge label={i.sentiment?.label} score={i.sentiment?.score} /></td>
              </tr>
            ))}
          </tbody>
        </table>
        {list.loading && !data ? <Spinner label="Loading interactions" /> : null}
        {data && data.data.length === 0 ? (
          <EmptyState title="No interactions match">
            <p>Widen the dates or remove a filter. {count ? <button type="button" class="link-btn" onClick={() => setSearch("")}>Clear all filters</button> : null}</p>
          </EmptyState>
        ) : null}
      </div>
      {data && (tokens.length > 0 || data.nextPageToken) ? (
        <nav class="pager" aria-label="Pages">
          <span>Page {tokens.length + 1}{list.loading ? " · loading…" : ""}</span>
          <div class="row">
            <Button size="sm" disabled={tokens.length === 0 || list.loading} onClick={() => goto("", true)}>Previous</Button>
            <Button size="sm" disabled={!data.nextPageToken || list.loading} onClick={() => goto(data.nextPageToken, false)}>Next</Button>
          </div>
        </nav>
      ) : null}

      <Dialog open={open !== null} onClose={() => setOpen(null)} variant="drawer" title={open ? `${open.eventType.replace(/_/g, " ")} · ${open.externalCustomerId}` : ""}>
        {open ? <InteractionDetails interaction={open} snippet={data?.snippets[open.id]} /> : null}
      </Dialog>
    </div>
  );
}
