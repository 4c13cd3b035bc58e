// Live feed: interactions as they are ingested, their sentiment filling in when scored. One
// StreamService.Subscribe over gRPC-Web; LiveConnection handles drops (backoff, resume from the
// last event id), "resync" (reload from the query API) and polling while streaming is impossible.
// Events are applied once per animation frame and at most ROW_CAP rows are kept, so the page stays
// smooth at hundreds of events per second.

import "./live.css";
import { Component, type JSX } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { QueryService } from "../../gen/insights/v1/query_pb";
import { StreamService } from "../../gen/insights/v1/stream_pb";
import type { Interaction } from "../../gen/insights/v1/common_pb";
import { client } from "../../api/client";
import { session } from "../../app/auth";
import type { PageProps } from "../../app/routes";
import { setSearch } from "../../app/router";
import { IconColumns, IconPause, IconPlay } from "../../components/icons";
import { InteractionDetails } from "../../components/InteractionDetails";
import { ScoreBars, SentimentBadge } from "../../components/sentiment";
import { Button, ChipGroup, EmptyState, Field, Spinner } from "../../components/ui";
import { formatFeedTime, formatInteger, formatSentiment } from "../../lib/format";
import { FrameBatcher } from "../../live/batcher";
import { LiveConnection, type ConnectionState } from "../../live/connection";
import { feedEvent, rowFromInteraction } from "../../live/convert";
import { FeedRows, type FeedEvent, type FeedRow } from "../../live/rows";
import { liveStatus, publishLiveStatus, useLiveStatus } from "../../live/status";
import { rowWindow } from "../../live/window";

const ROW_CAP = 500;
/** Must match `.live-table tbody tr.feed-row { height }` in live.css. */
const ROW_HEIGHT = 41;
const CHANNELS = ["web", "mobile", "email", "chat", "phone"];
const EVENT_TYPES = ["interaction.created", "sentiment.analyzed", "interaction.updated", "pattern.detected"];
const COLUMNS = [
  { key: "time", label: "Time" },
  { key: "customer", label: "Customer" },
  { key: "channel", label: "Channel" },
  { key: "event", label: "Event type" },
  { key: "content", label: "Content" },
  { key: "sentiment", label: "Sentiment" },
  { key: "confidence", label: "Confidence" },
  { key: "model", label: "Model" },
] as const;
type ColumnKey = (typeof COLUMNS)[number]["key"];
const DEFAULT_COLUMNS: ColumnKey[] = ["time", "customer", "channel", "event", "content", "sentiment"];
const COLUMNS_KEY = "insights.live.columns";

function loadColumns(): ColumnKey[] {
  try {
    const v = JSON.parse(localStorage.getItem(COLUMNS_KEY) ?? "null") as unknown;
    if (Array.isArray(v)) {
      const known = v.filter((c): c is ColumnKey => COLUMNS.some((k) => k.key === c));
      if (known.length) return known;
    }
  } catch {
    // default
  }
  return DEFAULT_COLUMNS;
}

interface FeedFilter {
  channels: string[];
  customerId: string;
  eventTypes: string[];
}

function readFilter(search: string): FeedFilter {
  const p = new URLSearchParams(search);
  const list = (k: string): string[] => (p.get(k) ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  return { channels: list("channels"), customerId: p.get("customerId") ?? "", eventTypes: list("eventTypes") };
}

function writeFilter(f: FeedFilter): void {
  const p = new URLSearchParams();
  if (f.channels.length) p.set("channels", f.channels.join(","));
  if (f.customerId) p.set("customerId", f.customerId);
  if (f.eventTypes.length) p.set("eventTypes", f.eventTypes.join(","));
  setSearch(p);
}

/** The query-API request that stands for the stream's filter (reloads and polling). */
function listRequest(f: FeedFilter, sinceMs?: number): Parameters<ReturnType<typeof client<typeof QueryService>>["listInteractions"]>[0] {
  return {
    channels: f.channels,
    customerId: f.customerId,
    sortBy: "timestamp",
    sortOrder: "desc",
    pageSize: 100,
    startDate: sinceMs ? new Date(sinceMs).toISOString() : new Date(Date.now() - 7 * 86_400_000).toISOString(),
  };
}

function Indicator({ state, onRetry }: { state: ConnectionState; onRetry: () => void }): JSX.Element {
  const [, tick] = useState(0);
  useEffect(() => {
    if (state.kind !== "reconnecting" && state.kind !== "polling") return;
    const t = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [state]);
  const view = liveStatus(state);
  const detail = state.kind === "reconnecting" || state.kind === "polling" ? state.error : "";
  return (
    <div class="indicator" role="status" aria-live="polite">
      <span class={`conn conn-${view.tone}`} title={detail}>
        <span class="dot" aria-hidden="true" />
        {view.label}
      </span>
      {state.kind === "reconnecting" || state.kind === "polling" ? <Button size="sm" variant="ghost" onClick={onRetry}>Retry now</Button> : null}
    </div>
  );
}

interface RowProps {
  row: FeedRow;
  columns: ColumnKey[];
  expanded: boolean;
  onToggle: (key: string) => void;
}

/** One row; re-renders only when its row object (bumped on every change) or layout changes. */
class LiveRow extends Component<RowProps> {
  override shouldComponentUpdate(next: RowProps): boolean {
    return next.row !== this.props.row || next.expanded !== this.props.expanded || next.columns !== this.props.columns;
  }

  override render({ row, columns, expanded, onToggle }: RowProps): JSX.Element {
    const s = row.sentiment;
    const cell = (c: ColumnKey): JSX.Element => {
      switch (c) {
        case "time":
          return (
            <td class="nowrap tabular" key={c}>
              <button type="button" class="row-toggle" aria-expanded={expanded ? "true" : "false"} onClick={(e) => { e.stopPropagation(); onToggle(row.key); }}>
                {formatFeedTime(row.at)}
              </button>
            </td>
          );
        case "customer":
          return <td class="nowrap" key={c}><a href={`/customers/${encodeURIComponent(row.customerId)}`} onClick={(e) => e.stopPropagation()}>{row.externalCustomerId ?? row.customerId.slice(0, 8)}</a></td>;
        case "channel":
          return <td key={c}><span class="badge">{row.channel || "–"}</span></td>;
        case "event":
          return <td class="nowrap" key={c}>{row.kind === "pattern" ? <span class="badge badge-accent">pattern</span> : null} {row.eventType.replace(/_/g, " ") || "–"}</td>;
        case "content":
          return <td class="live-content" key={c}><span class="clamp-1">{row.description ?? row.content ?? <span class="muted">—</span>}</span></td>;
        case "sentiment":
          return <td class="nowrap" key={c}>{row.kind === "pattern" ? "" : <SentimentBadge label={s?.label} score={s?.score} />}</td>;
        case "confidence":
          return <td class="num tabular" key={c}>{s?.confidence !== undefined ? `${Math.round(s.confidence * 100)} %` : "–"}</td>;
        case "model":
          return <td class="nowrap" key={c}>{s?.model ? `${s.model} ${s.modelVersion ?? ""}` : "–"}</td>;
      }
    };
    return (
      <tr class={`clickable feed-row${expanded ? " expanded" : ""}`} onClick={() => onToggle(row.key)}>
        {columns.map(cell)}
      </tr>
    );
  }
}

function Expanded({ row, colSpan, onHeight }: { row: FeedRow; colSpan: number; onHeight: (h: number) => void }): JSX.Element {
  const ref = useRef<HTMLTableRowElement>(null);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const ro = new ResizeObserver(() => onHeight(el.getBoundingClientRect().height));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const [full, setFull] = useState<Interaction | null | undefined>(undefined);
  useEffect(() => {
    if (row.kind !== "interaction") return;
    // Events carry no content: the interaction is looked up by customer around its timestamp.
    const t = row.at.getTime();
    const controller = new AbortController();
    client(QueryService)
      .listInteractions({ customerId: row.customerId, startDate: new Date(t - 1000).toISOString(), endDate: new Date(t + 1000).toISOString(), pageSize: 20 }, { signal: controller.signal })
      .then((res) => setFull(res.data.find((i) => i.id === row.interactionId) ?? null))
      .catch(() => setFull(null));
    return () => controller.abort();
  }, [row.key]);
  // Sentiment may arrive after the lookup: show the row's latest.
  const merged = full && row.sentiment && !full.sentiment ? null : full;
  return (
    <tr class="expansion" ref={ref}>
      <td colSpan={colSpan}>
        {row.kind === "pattern" ? (
          <p>{row.description}</p>
        ) : merged ? (
          <InteractionDetails interaction={merged} />
        ) : full === undefined ? (
          <Spinner label="Loading details" />
        ) : (
          <div class="stack">
            <dl class="details">
              <dt>Interaction</dt><dd class="mono">{row.interactionId}</dd>
              <dt>Customer</dt><dd><a href={`/customers/${encodeURIComponent(row.customerId)}`}>{row.externalCustomerId ?? row.customerId}</a></dd>
              <dt>Event</dt><dd>{row.eventType}</dd>
              <dt>Sentiment</dt><dd>{row.sentiment ? `${row.sentiment.label} (${formatSentiment(row.sentiment.score)})` : "pending"}</dd>
            </dl>
            {row.sentiment?.scores ? <ScoreBars scores={row.sentiment.scores} /> : null}
          </div>
        )}
      </td>
    </tr>
  );
}

export default function LivePage({ search }: PageProps): JSX.Element {
  const filter = useMemo(() => readFilter(search), [search]);
  const filterKey = JSON.stringify(filter);
  const state = useLiveStatus();
  const store = useRef(new FeedRows(ROW_CAP));
  const [rows, setRows] = useState<readonly FeedRow[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [paused, setPaused] = useState(false);
  const [expanded, setExpanded] = useState<string | null>(null);
  const [columns, setColumns] = useState<ColumnKey[]>(loadColumns);
  const [rate, setRate] = useState(0);
  const [customerDraft, setCustomerDraft] = useState(filter.customerId);
  const counter = useRef(0);
  const conn = useRef<LiveConnection<FeedEvent> | null>(null);
  const batcher = useRef<FrameBatcher<FeedEvent> | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ top: 0, height: 600 });
  const [expandedHeight, setExpandedHeight] = useState(0);
  const firstKey = useRef<string | undefined>(undefined);

  useEffect(() => setCustomerDraft(filter.customerId), [filter.customerId]);

  useEffect(() => {
    const rowsStore = store.current;
    rowsStore.clear();
    setRows([]);
    setLoaded(false);
    const b = new FrameBatcher<FeedEvent>((batch) => {
      counter.current += batch.length;
      if (rowsStore.apply(batch)) setRows(rowsStore.list);
    });
    batcher.current = b;
    const reload = async (): Promise<void> => {
      const res = await client(QueryService).listInteractions(listRequest(filter));
      rowsStore.reset(res.data.map(rowFromInteraction));
      setRows(rowsStore.list);
      setLoaded(true);
    };
    const c = new LiveConnection<FeedEvent>({
      subscribe: async function* ({ lastEventId }, signal) {
        const stream = client(StreamService).subscribe({ ...filter, lastEventId }, { signal });
        for await (const res of stream) if (res.event) yield feedEvent(res.event);
      },
      onEvent: (e) => b.push(e),
      reload,
      poll: async () => {
        const newest = rowsStore.list.find((r) => r.kind === "interaction")?.at.getTime();
        const res = await client(QueryService).listInteractions(listRequest(filter, newest ? newest - 60_000 : undefined));
        if (rowsStore.addRows(res.data.map(rowFromInteraction))) setRows(rowsStore.list);
      },
      onState: publishLiveStatus,
      // False only when the session is over; a refresh that failed on the network keeps the feed trying.
      refreshAuth: async () => (await session.refresh()) || session.refreshToken !== null,
    });
    conn.current = c;
    c.start();
    void reload().catch(() => setLoaded(true));
    const online = (): void => c.retryNow();
    window.addEventListener("online", online);
    const rateTimer = setInterval(() => {
      setRate(counter.current);
      counter.current = 0;
    }, 1000);
    return () => {
      window.removeEventListener("online", online);
      clearInterval(rateTimer);
      c.stop();
      b.clear();
      publishLiveStatus({ kind: "idle" });
    };
  }, [filterKey]);

  useEffect(() => batcher.current?.setPaused(paused), [paused]);

  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const update = (): void => setView({ top: el.scrollTop, height: el.clientHeight });
    const ro = new ResizeObserver(update);
    ro.observe(el);
    el.addEventListener("scroll", update, { passive: true });
    update();
    return () => {
      ro.disconnect();
      el.removeEventListener("scroll", update);
    };
  }, []);

  // Someone reading further down keeps their place while new rows arrive on top.
  useLayoutEffect(() => {
    const el = scroller.current;
    const prev = firstKey.current;
    firstKey.current = rows[0]?.key;
    if (!el || !prev || el.scrollTop === 0) return;
    const shift = rows.findIndex((r) => r.key === prev);
    if (shift > 0) el.scrollTop += shift * ROW_HEIGHT;
  }, [rows]);

  const toggle = (key: string): void => setExpanded((k) => (k === key ? null : key));
  const setCols = (next: ColumnKey[]): void => {
    const ordered = COLUMNS.map((c) => c.key).filter((k) => next.includes(k));
    setColumns(ordered);
    localStorage.setItem(COLUMNS_KEY, JSON.stringify(ordered));
  };
  const scored = rows.filter((r) => r.sentiment).length;
  const expandedIndex = expanded ? rows.findIndex((r) => r.key === expanded) : -1;
  const win = rowWindow(Math.max(0, view.top - 40), view.height, rows.length, ROW_HEIGHT, expandedIndex, expandedIndex >= 0 ? expandedHeight : 0);

  return (
    <div class="live stack">
      <header class="page-header">
        <div class="page-heading">
          <h1>Live feed</h1>
          <p class="page-description">Interactions as they arrive; sentiment fills in when the model has scored them.</p>
        </div>
        <div class="page-actions">
          <Indicator state={state} onRetry={() => conn.current?.retryNow()} />
        </div>
      </header>

      <div class="card live-controls">
        <ChipGroup label="Channels" options={CHANNELS} value={filter.channels} onChange={(channels) => writeFilter({ ...filter, channels })} />
        <Field label="Customer" hint="Our id or yours">
          {(id, d) => (
            <input id={id} aria-describedby={d} class="input" value={customerDraft} placeholder="Any customer"
              onInput={(e) => setCustomerDraft(e.currentTarget.value)}
              onKeyDown={(e) => { if (e.key === "Enter") writeFilter({ ...filter, customerId: customerDraft.trim() }); }}
              onBlur={() => { if (customerDraft.trim() !== filter.customerId) writeFilter({ ...filter, customerId: customerDraft.trim() }); }} />
          )}
        </Field>
        <ChipGroup label="Events" options={EVENT_TYPES} value={filter.eventTypes} format={(t) => t.replace(".", " ")} onChange={(eventTypes) => writeFilter({ ...filter, eventTypes })} />
      </div>

      <div class="live-bar">
        <p class="muted tabular" aria-live="off">
          {formatInteger(rows.length)} rows{rows.length >= ROW_CAP ? ` (newest ${formatInteger(ROW_CAP)} kept)` : ""} · {formatInteger(scored)} scored · {formatInteger(rate)} events/s
        </p>
        <div class="row">
          <Button size="sm" onClick={() => setPaused(!paused)} aria-pressed={paused ? "true" : "false"}>
            {paused ? <><IconPlay size={14} /> Resume{batcher.current?.pending ? ` (${formatInteger(batcher.current.pending)} new)` : ""}</> : <><IconPause size={14} /> Pause</>}
          </Button>
          <details class="columns-menu">
            <summary class="btn btn-secondary btn-sm"><IconColumns size={14} /> Columns</summary>
            <fieldset class="menu columns-list">
              <legend class="sr-only">Visible columns</legend>
              {COLUMNS.map((c) => (
                <label class="checkbox" key={c.key}>
                  <input type="checkbox" checked={columns.includes(c.key)} disabled={columns.length === 1 && columns.includes(c.key)}
                    onChange={(e) => setCols(e.currentTarget.checked ? [...columns, c.key] : columns.filter((k) => k !== c.key))} />
                  {c.label}
                </label>
              ))}
            </fieldset>
          </details>
        </div>
      </div>

      <div class="table-wrap live-table" ref={scroller}>
        <table class="table">
          <caption class="sr-only">Live interactions, newest first. Select a row to expand its details.</caption>
          <thead>
            <tr>{columns.map((c) => <th scope="col" key={c} class={`col-${c}${c === "confidence" ? " num" : ""}`}>{COLUMNS.find((k) => k.key === c)!.label}</th>)}</tr>
          </thead>
          <tbody>
            {win.before > 0 ? <tr class="spacer" aria-hidden="true" style={{ height: `${win.before}px` }}><td colSpan={columns.length} /></tr> : null}
            {rows.slice(win.start, win.end).flatMap((r) => [
              <LiveRow key={r.key} row={r} columns={columns} expanded={expanded === r.key} onToggle={toggle} />,
              ...(expanded === r.key ? [<Expanded key={`${r.key}/details`} row={r} colSpan={columns.length} onHeight={setExpandedHeight} />] : []),
            ])}
            {win.after > 0 ? <tr class="spacer" aria-hidden="true" style={{ height: `${win.after}px` }}><td colSpan={columns.length} /></tr> : null}
          </tbody>
        </table>
        {!loaded ? <Spinner label="Loading recent interactions" /> : rows.length === 0 ? (
          <EmptyState title="Waiting for interactions">
            <p>New interactions appear here as soon as they are ingested{filter.channels.length || filter.customerId || filter.eventTypes.length ? " and match the filter" : ""}.</p>
          </EmptyState>
        ) : null}
      </div>
    </div>
  );
}
