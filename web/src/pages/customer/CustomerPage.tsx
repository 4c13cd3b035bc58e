// One customer: profile, sentiment over time, behaviour patterns with their evidence, the timeline
// of interactions; export and erasure for those who may manage customers.

import "./customer.css";
import type { JSX } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { toJsonString } from "@bufbuild/protobuf";
import { PrivacyService, ExportCustomerResponseSchema } from "../../gen/insights/v1/privacy_pb";
import { QueryService } from "../../gen/insights/v1/query_pb";
import type { Interaction } from "../../gen/insights/v1/common_pb";
import { client } from "../../api/client";
import { saveBlob } from "../../api/download";
import { toProblem } from "../../api/errors";
import { drillDownHref, emptyFilter, filterToQuery } from "../../api/filters";
import { can, useUser } from "../../app/auth";
import { navigate } from "../../app/router";
import type { PageProps } from "../../app/routes";
import { TrendChart } from "../../components/charts/TrendChart";
import { Dialog } from "../../components/Dialog";
import { IconDownload } from "../../components/icons";
import { InteractionDetails } from "../../components/InteractionDetails";
import { DistributionBar, SentimentBadge } from "../../components/sentiment";
import { Badge, Button, Card, EmptyState, ErrorNotice, Field, Notice, Spinner } from "../../components/ui";
import { addDays, browserTimeZone, dateIn } from "../../lib/dates";
import { formatBucket, formatDate, formatDateTime, formatInteger, formatRelative, formatSentiment, formatShare } from "../../lib/format";
import { useAsync } from "../../lib/useAsync";
import { customerName, historyStart, joinKnown } from "../../lib/customer";
import { evidenceValue, humanKey } from "../../lib/evidence";

function EraseDialog({ open, onClose, externalId, name, id }: { open: boolean; onClose: () => void; externalId: string; name: string; id: string }): JSX.Element {
  const [typed, setTyped] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (open) {
      setTyped("");
      setError(null);
    }
  }, [open]);
  const erase = async (): Promise<void> => {
    setBusy(true);
    try {
      const res = await client(PrivacyService).eraseCustomer({ id });
      const note = res.cachesPurged ? "" : "&cachesPurged=0";
      navigate(`/customers?erased=${encodeURIComponent(externalId)}&n=${res.interactionsDeleted}${note}`, { replace: true });
    } catch (e) {
      setError(toProblem(e).message);
      setBusy(false);
    }
  };
  return (
    <Dialog open={open} onClose={onClose} title={`Erase ${name}?`} size="sm"
      footer={<>
        <Button onClick={onClose}>Cancel</Button>
        <Button variant="danger" disabled={typed.trim() !== externalId} busy={busy} onClick={() => void erase()}>Erase permanently</Button>
      </>}>
      <div class="stack">
        <p>This deletes the customer <strong>{externalId}</strong>, every one of their interactions and patterns, and their events in the live stream. It cannot be undone.</p>
        <Field label={`Type ${externalId} to confirm`}>
          {(fid) => <input id={fid} class="input" autoComplete="off" spellcheck={false} value={typed} onInput={(e) => setTyped(e.currentTarget.value)} />}
        </Field>
        {error ? <ErrorNotice message={error} /> : null}
      </div>
    </Dialog>
  );
}

export default function CustomerPage({ params }: PageProps): JSX.Element {
  const id = params["id"] ?? "";
  const user = useUser();
  const manage = can(user, "customers:manage");
  const tz = browserTimeZone();
  const customer = useAsync((signal) => client(QueryService).getCustomer({ id }, { signal }), [id]);
  const patterns = useAsync((signal) => client(QueryService).getBehaviorPatterns({ customerId: id }, { signal }), [id]);
  const range = useMemo(() => {
    const today = dateIn(Date.now(), tz);
    return { startDate: addDays(today, -89), endDate: today };
  }, [tz]);
  const trend = useAsync((signal) => client(QueryService).getSentimentTrends({ customerId: id, ...range, timeZone: tz, groupBy: "week" }, { signal }), [id]);
  // All of the customer's history (not the default last 30 days), from the day they were first seen.
  const firstSeen = customer.data?.customer?.firstSeenAt;
  const historyFrom = customer.data?.customer ? historyStart(firstSeen ? timestampDate(firstSeen).getTime() : undefined) : "";
  const [timeline, setTimeline] = useState<Interaction[]>([]);
  const [next, setNext] = useState<string | null>("");
  const [loadingMore, setLoadingMore] = useState(false);
  const [timelineError, setTimelineError] = useState<string | null>(null);
  const [open, setOpen] = useState<Interaction | null>(null);
  const [erasing, setErasing] = useState(false);
  const [exporting, setExporting] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);

  const more = async (token: string, reset = false): Promise<void> => {
    setLoadingMore(true);
    try {
      const res = await client(QueryService).listInteractions({ customerId: id, startDate: historyFrom, pageSize: 20, pageToken: token });
      setTimeline((xs) => (reset ? res.data : [...xs, ...res.data]));
      setNext(res.nextPageToken || null);
      setTimelineError(null);
    } catch (e) {
      setTimelineError(toProblem(e).message);
    } finally {
      setLoadingMore(false);
    }
  };
  useEffect(() => {
    setTimeline([]);
    if (historyFrom) void more("", true);
  }, [id, historyFrom]);

  const doExport = async (): Promise<void> => {
    setExporting(true);
    setActionError(null);
    try {
      const res = await client(PrivacyService).exportCustomer({ id });
      const json = toJsonString(ExportCustomerResponseSchema, res, { prettySpaces: 2 });
      saveBlob(new Blob([json], { type: "application/json" }), `customer-${res.customer?.externalId ?? id}.json`);
    } catch (e) {
      setActionError(toProblem(e).message);
    } finally {
      setExporting(false);
    }
  };

  if (customer.error) {
    return customer.error.code === 5 ? (
      <EmptyState title="Customer not found"><p>No customer has the id “{id}”. <a href="/customers">Search customers</a>.</p></EmptyState>
    ) : <ErrorNotice message={customer.error.message} onRetry={customer.reload} />;
  }
  const data = customer.data;
  if (!data?.customer) return <Spinner label="Loading the customer" />;
  const c = data.customer;
  const name = customerName(c);
  const explorerHref = `/explorer?${filterToQuery({ ...emptyFilter(), customerId: c.id, startDate: historyFrom })}`;
  const points = trend.data?.points ?? [];
  const channels = Object.entries(data.byChannel).sort((a, b) => Number(b[1] - a[1]));
  const totalInteractions = Number(c.interactionCount) || 1;
  const pats = patterns.data?.patterns ?? data.patterns;

  return (
    <div class="customer stack">
      <header class="page-header">
        <div class="page-heading">
          <p class="eyebrow"><a href="/customers">Customers</a> / {c.externalId}</p>
          <h1>{name}</h1>
          <p class="page-description">{joinKnown([c.email, c.segment ? c.segment[0]!.toUpperCase() + c.segment.slice(1) : "", c.firstSeenAt ? `customer since ${formatDate(timestampDate(c.firstSeenAt))}` : ""])}</p>
        </div>
        <div class="page-actions">
          <a class="btn btn-secondary" href={explorerHref}>All interactions</a>
          {manage ? (
            <>
              <Button onClick={() => void doExport()} busy={exporting}><IconDownload /> Export data</Button>
              <Button variant="danger" onClick={() => setErasing(true)}>Erase…</Button>
            </>
          ) : null}
        </div>
      </header>
      {actionError ? <ErrorNotice message={actionError} /> : null}

      <div class="customer-grid">
        <Card title="Profile">
          <dl class="stats">
            <div><dt>Interactions</dt><dd class="tabular">{formatInteger(c.interactionCount)}</dd></div>
            <div><dt>Average sentiment</dt><dd class="tabular">{formatSentiment(c.averageSentiment)}</dd></div>
            <div><dt>Last seen</dt><dd>{c.lastSeenAt ? formatRelative(timestampDate(c.lastSeenAt)) : "–"}</dd></div>
          </dl>
          {data.distribution ? <div class="profile-dist"><DistributionBar distribution={data.distribution} label="Sentiment of all interactions" /></div> : null}
          <h3 class="section-title">Channels</h3>
          <ul class="channel-list">
            {channels.map(([ch, n]) => (
              <li key={ch}><span class="cap">{ch}</span><span class="bar-track"><span class="bar-fill fill-channel" style={{ width: `${(Number(n) / totalInteractions) * 100}%` }} /></span><span class="tabular muted">{formatInteger(n)}</span></li>
            ))}
          </ul>
          {c.metadata && Object.keys(c.metadata).length ? (
            <>
              <h3 class="section-title">Attributes</h3>
              <dl class="details">
                {Object.entries(c.metadata).map(([k, v]) => [<dt key={`${k}-k`}>{humanKey(k)}</dt>, <dd key={`${k}-v`}>{evidenceValue(v)}</dd>])}
                <dt>Customer id</dt><dd class="mono small">{c.id}</dd>
              </dl>
            </>
          ) : null}
        </Card>

        <Card title="Sentiment over time" actions={<span class="muted small">weekly, last 90 days</span>}>
          {trend.error ? <ErrorNotice message={trend.error.message} /> : null}
          {trend.data ? (
            points.some((p) => p.averageSentiment !== undefined) ? (
              <TrendChart
                x={points.map((p) => Number(p.bucketStart?.seconds ?? 0n))}
                series={[{ label: "Average sentiment", color: "--chart-1", values: points.map((p) => p.averageSentiment ?? null) }]}
                kind="line"
                timeZone={tz}
                yRange={[-1, 1]}
                height={220}
                formatX={(s) => formatBucket(new Date(s * 1000), "week", { timeZone: tz })}
                formatY={(v) => formatSentiment(v)}
                ariaLabel={`Weekly average sentiment of ${name} over the last 90 days`}
                onPick={(i) => {
                  const d = points[i]?.drillDown;
                  if (d) navigate(drillDownHref(d));
                }}
              />
            ) : <p class="muted">No scored interactions in the last 90 days.</p>
          ) : <Spinner />}
        </Card>
      </div>

      <Card title="Behaviour patterns">
        {patterns.error ? <ErrorNotice message={patterns.error.message} /> : null}
        {pats.length === 0 ? <p class="muted">No current patterns for this customer.</p> : (
          <ul class="patterns">
            {pats.map((p) => (
              <li class="pattern" key={p.id}>
                <div class="pattern-head">
                  <strong class="cap">{p.patternType.replace(/_/g, " ")}</strong>
                  <Badge tone={p.patternType.includes("churn") || p.patternType.includes("negative") ? "negative" : "accent"}>{formatShare(p.confidence)} confidence</Badge>
                </div>
                <p>{p.description}</p>
                {p.evidence && Object.keys(p.evidence).length ? (
                  <dl class="evidence">
                    {Object.entries(p.evidence).map(([k, v]) => <div key={k}><dt>{humanKey(k)}</dt><dd class="tabular">{evidenceValue(v)}</dd></div>)}
                  </dl>
                ) : null}
                <p class="muted small">Detected {p.detectedAt ? formatRelative(timestampDate(p.detectedAt)) : "–"}{p.validUntil ? ` · valid until ${formatDate(timestampDate(p.validUntil))}` : ""}</p>
              </li>
            ))}
          </ul>
        )}
      </Card>

      <Card title="Timeline" actions={<a href={explorerHref} class="small">Open in Explorer</a>}>
        {timelineError ? <ErrorNotice message={timelineError} /> : null}
        <ol class="timeline">
          {timeline.map((i) => (
            <li key={i.id}>
              <button type="button" class="timeline-item" onClick={() => setOpen(i)}>
                <span class={`timeline-dot sentiment-${i.sentiment?.label ?? "pending"}`} aria-hidden="true" />
                <span class="timeline-main">
                  <span class="timeline-meta"><span class="tabular">{i.timestamp ? formatDateTime(timestampDate(i.timestamp)) : "–"}</span> · <span class="cap">{i.channel}</span> · {i.eventType.replace(/_/g, " ")}</span>
                  {i.content ? <span class="timeline-text">{i.content}</span> : null}
                </span>
                <SentimentBadge label={i.sentiment?.label} score={i.sentiment?.score} />
              </button>
            </li>
          ))}
        </ol>
        {loadingMore ? <Spinner /> : next ? <Button onClick={() => void more(next)}>Show older</Button> : timeline.length ? <p class="muted small">That's the whole history.</p> : <p class="muted">No interactions.</p>}
      </Card>

      {manage ? <Notice tone="info">Export and erasure are recorded in the audit log.</Notice> : null}
      <Dialog open={open !== null} onClose={() => setOpen(null)} variant="drawer" title={open ? open.eventType.replace(/_/g, " ") : ""}>
        {open ? <InteractionDetails interaction={open} /> : null}
      </Dialog>
      {manage ? <EraseDialog open={erasing} onClose={() => setErasing(false)} externalId={c.externalId} name={name} id={c.id} /> : null}
    </div>
  );
}
