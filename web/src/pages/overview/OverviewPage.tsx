// Overview: the period's numbers against the previous period, the sentiment trend, channels and
// segments, and activity by weekday × hour. Every number, point and cell opens the interactions
// behind it in the Explorer. The pickers live in the URL (so a page restored after sign-in, or a
// shared link, shows the same view).

import "./overview.css";
import type { JSX } from "preact";
import { useMemo } from "preact/hooks";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { QueryService, type BreakdownEntry, type CountMetric, type GetSentimentTrendsResponse, type TrendPoint } from "../../gen/insights/v1/query_pb";
import type { InteractionFilter } from "../../gen/insights/v1/common_pb";
import { client } from "../../api/client";
import { drillDownHref, emptyFilter, filterFromDrillDown, filterToQuery, type Filter } from "../../api/filters";
import { navigate, setSearch } from "../../app/router";
import type { PageProps } from "../../app/routes";
import { Heatmap, type HeatCell } from "../../components/charts/Heatmap";
import { TrendChart, type ChartSeries } from "../../components/charts/TrendChart";
import { SERIES_VARS } from "../../components/charts/theme";
import { IconArrowDown, IconArrowUp } from "../../components/icons";
import { DistributionBar, labelName } from "../../components/sentiment";
import { Card, ChipGroup, ErrorNotice, Field, Notice, PageHeader, Spinner } from "../../components/ui";
import { browserTimeZone, presetRange, timeZones, type RangePreset } from "../../lib/dates";
import { formatBucket, formatChange, formatCompact, formatDate, formatInteger, formatSentiment, formatShare, type Bucket } from "../../lib/format";
import { useAsync } from "../../lib/useAsync";
import { hasPrevious, previousAverage } from "../../lib/trend";

const CHANNELS = ["web", "mobile", "email", "chat", "phone"];
const BUCKETS: Bucket[] = ["hour", "day", "week", "month"];
const PRESETS: { value: RangePreset; label: string }[] = [
  { value: "24h", label: "Last 24 hours" },
  { value: "7d", label: "Last 7 days" },
  { value: "30d", label: "Last 30 days" },
  { value: "90d", label: "Last 90 days" },
  { value: "custom", label: "Custom range" },
];

interface View {
  range: RangePreset;
  start: string;
  end: string;
  tz: string;
  bucket: Bucket;
  chart: "sentiment" | "volume";
  breakdown: "" | "channel" | "segment" | "event_type";
  channels: string[];
}

function readView(search: string): View {
  const p = new URLSearchParams(search);
  const range = (PRESETS.some((x) => x.value === p.get("range")) ? p.get("range") : "30d") as RangePreset;
  const bucket = (BUCKETS.includes(p.get("bucket") as Bucket) ? p.get("bucket") : range === "24h" ? "hour" : range === "90d" ? "week" : "day") as Bucket;
  const breakdown = p.get("breakdown") ?? "";
  return {
    range,
    start: p.get("start") ?? "",
    end: p.get("end") ?? "",
    tz: p.get("tz") || browserTimeZone(),
    bucket,
    chart: p.get("chart") === "volume" ? "volume" : "sentiment",
    breakdown: (["channel", "segment", "event_type"].includes(breakdown) ? breakdown : "") as View["breakdown"],
    channels: (p.get("channels") ?? "").split(",").filter(Boolean),
  };
}

function writeView(v: View): void {
  const p = new URLSearchParams();
  if (v.range !== "30d") p.set("range", v.range);
  if (v.range === "custom") {
    if (v.start) p.set("start", v.start);
    if (v.end) p.set("end", v.end);
  }
  if (v.tz !== browserTimeZone()) p.set("tz", v.tz);
  p.set("bucket", v.bucket);
  if (v.chart !== "sentiment") p.set("chart", v.chart);
  if (v.breakdown) p.set("breakdown", v.breakdown);
  if (v.channels.length) p.set("channels", v.channels.join(","));
  setSearch(p);
}

function filterOf(v: View): Filter {
  const f = emptyFilter();
  f.timeZone = v.tz;
  f.channels = v.channels;
  if (v.range === "custom") {
    f.startDate = v.start;
    f.endDate = v.end;
  } else {
    const r = presetRange(v.range, v.tz);
    f.startDate = r.startDate;
    f.endDate = r.endDate;
  }
  return f;
}

function withSentiment(d: InteractionFilter | undefined, label: string): string {
  if (!d) return "/explorer";
  const f = filterFromDrillDown(d);
  f.sentiments = [label];
  return `/explorer?${filterToQuery(f)}`;
}

/** A change with its arrow; coloured by whether it is good news (more negatives is not). */
function Delta({ change, kind, upIsBad = false }: { change: CountMetric["change"]; kind: "count" | "score"; upIsBad?: boolean }): JSX.Element | null {
  const c = formatChange(change, kind);
  if (!c) return null;
  const tone = c.trend === "flat" ? "flat" : (c.trend === "up") !== upIsBad ? "good" : "bad";
  return (
    <span class={`delta delta-${tone}`}>
      {c.trend === "up" ? <IconArrowUp size={14} /> : c.trend === "down" ? <IconArrowDown size={14} /> : null}
      <span aria-hidden="true">{c.text}</span>
      <span class="sr-only">{c.description}</span>
    </span>
  );
}

function Kpi({ label, value, change, kind = "count", href, hint, compared = true }: {
  label: string;
  value: string;
  change: CountMetric["change"];
  kind?: "count" | "score";
  href?: string | undefined;
  hint?: string;
  /** False when the previous period had no interactions: there is nothing to compare with. */
  compared?: boolean;
}): JSX.Element {
  const body = (
    <>
      <span class="kpi-label">{label}</span>
      <span class="kpi-value tabular">{value}</span>
      {compared
        ? <span class="kpi-foot"><Delta change={change} kind={kind} /> <span class="muted">vs previous period</span></span>
        : <span class="kpi-foot"><span class="muted">no interactions in the previous period</span></span>}
      {hint ? <span class="kpi-hint">{hint}</span> : null}
    </>
  );
  return href ? <a class="kpi card" href={href}>{body}<span class="sr-only">, open these interactions</span></a> : <div class="kpi card">{body}</div>;
}

function Breakdown({ title, entries, keyLabel }: { title: string; entries: BreakdownEntry[]; keyLabel: string }): JSX.Element {
  const max = Math.max(1, ...entries.map((e) => Number(e.count?.value ?? 0n)));
  return (
    <Card title={title}>
      {entries.length === 0 ? <p class="muted">No interactions in this period.</p> : (
        <div class="table-wrap flat">
          <table class="table breakdown">
            <thead>
              <tr><th scope="col">{keyLabel}</th><th scope="col" class="num">Interactions</th><th scope="col" class="num">Change</th><th scope="col" class="num col-avg">Avg. sentiment</th><th scope="col" class="col-dist">Sentiment mix</th></tr>
            </thead>
            <tbody>
              {entries.map((e) => {
                const n = Number(e.count?.value ?? 0n);
                return (
                  <tr key={e.key}>
                    <th scope="row" class="breakdown-key">
                      {e.count?.drillDown ? <a href={drillDownHref(e.count.drillDown)}>{e.other ? "Other" : e.key}</a> : e.key}
                      <span class="volume-bar" aria-hidden="true"><span style={{ width: `${(n / max) * 100}%` }} /></span>
                    </th>
                    <td class="num">{formatInteger(n)}</td>
                    <td class="num"><Delta change={e.count?.change} kind="count" /></td>
                    <td class="num col-avg">{formatSentiment(e.averageSentiment?.value)}</td>
                    <td class="col-dist">{e.distribution ? <DistributionBar distribution={e.distribution} label={e.key} /> : null}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

interface ChartModel {
  x: number[];
  series: ChartSeries[];
  hrefs: string[][];
  labels: string[];
}

function chartModel(t: GetSentimentTrendsResponse, v: View): ChartModel {
  const pointsX = (ps: TrendPoint[]): number[] => ps.map((p) => (p.bucketStart ? Number(p.bucketStart.seconds) : 0));
  const labels = t.points.map((p) => (p.bucketStart ? formatBucket(timestampDate(p.bucketStart), v.bucket, { timeZone: v.tz }) : p.label));
  if (t.series.length) {
    const x = pointsX(t.series[0]!.points);
    const series = t.series.map((s, i) => ({
      label: s.other ? "Other" : s.key,
      color: SERIES_VARS[i % SERIES_VARS.length]!,
      values: s.points.map((p) => (v.chart === "volume" ? Number(p.total) : (p.averageSentiment ?? null))),
    }));
    const hrefs = t.series.map((s) => s.points.map((p) => (p.drillDown ? drillDownHref(p.drillDown) : "/explorer")));
    return { x, series, hrefs, labels };
  }
  const x = pointsX(t.points);
  if (v.chart === "volume") {
    const order = ["negative", "neutral", "positive", "pending"] as const;
    return {
      x,
      labels,
      series: order.map((l) => ({ label: labelName(l), color: `--${l}`, values: t.points.map((p) => Number(p.distribution?.[l] ?? 0n)) })),
      hrefs: order.map((l) => t.points.map((p) => withSentiment(p.drillDown, l))),
    };
  }
  return {
    x,
    labels,
    series: [
      { label: "Average sentiment", color: "--chart-1", values: t.points.map((p) => p.averageSentiment ?? null) },
      { label: "Previous period", color: "--text-3", dashed: true, values: t.points.map(previousAverage) },
    ],
    hrefs: [t.points.map((p) => (p.drillDown ? drillDownHref(p.drillDown) : "/explorer")), t.points.map((p) => (p.drillDown ? drillDownHref(p.drillDown) : "/explorer"))],
  };
}

export default function OverviewPage({ search }: PageProps): JSX.Element {
  const view = readView(search);
  const filter = useMemo(() => filterOf(view), [search]);
  const update = (patch: Partial<View>): void => writeView({ ...view, ...patch });
  const q = client(QueryService);
  const key = filterToQuery(filter);

  const metrics = useAsync((signal) => q.getAggregatedMetrics({ ...filter, topEventTypes: 8 }, { signal }), [key]);
  const trends = useAsync(
    (signal) => q.getSentimentTrends({ ...filter, groupBy: view.bucket, breakdown: view.breakdown, breakdownLimit: 5, comparePrevious: true }, { signal }),
    [key, view.bucket, view.breakdown],
  );
  const heat = useAsync((signal) => q.getActivityHeatmap(filter, { signal }), [key]);
  const zones = useMemo(() => timeZones(), []);
  const m = metrics.data;
  const model = useMemo(() => (trends.data ? chartModel(trends.data, view) : null), [trends.data, view.chart, view.bucket, view.tz]);
  const welcome = new URLSearchParams(search).get("welcome");
  const compared = !m || hasPrevious(m.totalInteractions);

  const heatCells: HeatCell[] = (heat.data?.cells ?? []).map((c) => ({
    weekday: c.weekday, hour: c.hour, total: Number(c.total), average: c.averageSentiment, href: c.drillDown ? drillDownHref(c.drillDown) : "/explorer",
  }));
  const hourTooLong = view.bucket === "hour" && (view.range === "90d" || view.range === "30d");

  return (
    <div class="overview stack">
      <PageHeader
        title="Overview"
        description={m?.startTime && m.endTime ? `${formatDate(timestampDate(m.startTime), { timeZone: view.tz })} – ${formatDate(new Date(timestampDate(m.endTime).getTime() - 1), { timeZone: view.tz })}, compared with the ${formatInteger(Math.round((Number(m.endTime.seconds) - Number(m.startTime.seconds)) / 86400))} days before.` : "How your customers feel, where they talk to you, and when."}
      />
      {welcome ? <Notice tone="success">Your account is ready. Send interactions to the ingestion API (or load the demo data) and they appear here and in the live feed.</Notice> : null}
      <div class="card controls">
        <Field label="Period">
          {(id) => (
            <select id={id} class="select" value={view.range} onChange={(e) => {
              const range = e.currentTarget.value as RangePreset;
              const r = range === "custom" ? presetRange("30d", view.tz) : null;
              update({ range, bucket: range === "24h" ? "hour" : range === "90d" ? "week" : view.bucket === "hour" ? "day" : view.bucket, ...(r ? { start: view.start || r.startDate, end: view.end || r.endDate } : {}) });
            }}>
              {PRESETS.map((p) => <option key={p.value} value={p.value}>{p.label}</option>)}
            </select>
          )}
        </Field>
        {view.range === "custom" ? (
          <>
            <Field label="From">{(id) => <input id={id} type="date" class="input" value={view.start} max={view.end || undefined} onChange={(e) => update({ start: e.currentTarget.value })} />}</Field>
            <Field label="To (inclusive)">{(id) => <input id={id} type="date" class="input" value={view.end} min={view.start || undefined} onChange={(e) => update({ end: e.currentTarget.value })} />}</Field>
          </>
        ) : null}
        <Field label="Time zone">
          {(id) => (
            <select id={id} class="select" value={view.tz} onChange={(e) => update({ tz: e.currentTarget.value })}>
              {zones.map((z) => <option key={z} value={z}>{z.replace(/_/g, " ")}</option>)}
            </select>
          )}
        </Field>
        <ChipGroup label="Channels" options={CHANNELS} value={view.channels} onChange={(channels) => update({ channels })} />
      </div>

      {metrics.error ? <ErrorNotice message={metrics.error.message} onRetry={metrics.reload} /> : null}
      <div class="kpis" aria-busy={metrics.loading ? "true" : "false"}>
        <Kpi compared={compared} label="Interactions" value={m ? formatInteger(m.totalInteractions?.value ?? 0n) : "…"} change={m?.totalInteractions?.change}
          href={m?.totalInteractions?.drillDown ? drillDownHref(m.totalInteractions.drillDown) : undefined} />
        <Kpi compared={compared} label="Unique customers" value={m ? formatInteger(m.uniqueCustomers?.value ?? 0n) : "…"} change={m?.uniqueCustomers?.change} hint="with an interaction in the period" />
        <Kpi compared={compared} label="Active customers" value={m ? formatInteger(m.activeCustomers?.value ?? 0n) : "…"} change={m?.activeCustomers?.change} hint="any interaction in the last 30 days" />
        <Kpi compared={compared} label="Average sentiment" value={m ? formatSentiment(m.averageSentiment?.value) : "…"} change={m?.averageSentiment?.change} kind="score" hint="−1 negative … +1 positive" />
      </div>

      <Card title="Sentiment distribution">
        {m ? (
          <div class="distribution">
            <DistributionBar distribution={{ positive: m.positive?.value ?? 0n, neutral: m.neutral?.value ?? 0n, negative: m.negative?.value ?? 0n, pending: m.pending?.value ?? 0n }} label="Sentiment distribution" />
            <ul class="dist-legend">
              {(["positive", "neutral", "negative", "pending"] as const).map((l) => {
                const metric = m[l];
                const total = Number(m.totalInteractions?.value ?? 0n) || 1;
                const n = Number(metric?.value ?? 0n);
                return (
                  <li key={l}>
                    <a href={metric?.drillDown ? drillDownHref(metric.drillDown) : "/explorer"} class="dist-item">
                      <span class={`swatch fill-${l}`} aria-hidden="true" />
                      <span class="dist-name">{labelName(l)}</span>
                      <span class="dist-count tabular">{formatInteger(n)}</span>
                      <span class="dist-share muted tabular">{formatShare(n / total)}</span>
                      <Delta change={metric?.change} kind="count" upIsBad={l === "negative" || l === "pending"} />
                    </a>
                  </li>
                );
              })}
            </ul>
          </div>
        ) : metrics.loading ? <Spinner /> : null}
      </Card>

      <Card
        title="Sentiment trend"
        actions={
          <div class="toolbar">
            <div class="segmented" role="group" aria-label="Chart">
              <button type="button" aria-pressed={view.chart === "sentiment" ? "true" : "false"} onClick={() => update({ chart: "sentiment" })}>Average</button>
              <button type="button" aria-pressed={view.chart === "volume" ? "true" : "false"} onClick={() => update({ chart: "volume" })}>Volume</button>
            </div>
            <div class="segmented" role="group" aria-label="Bucket">
              {BUCKETS.map((b) => (
                <button type="button" key={b} aria-pressed={view.bucket === b ? "true" : "false"} onClick={() => update({ bucket: b })}>{labelName(b)}</button>
              ))}
            </div>
            <label class="sr-only" for="breakdown">Breakdown</label>
            <select id="breakdown" class="select select-sm" value={view.breakdown} onChange={(e) => update({ breakdown: e.currentTarget.value as View["breakdown"] })}>
              <option value="">No breakdown</option>
              <option value="channel">By channel</option>
              <option value="segment">By segment</option>
              <option value="event_type">By event type</option>
            </select>
          </div>
        }
      >
        {hourTooLong ? <p class="muted small chart-note">Hourly buckets over a long period make a dense chart; pick “Day” for an overview.</p> : null}
        {trends.error ? <ErrorNotice message={trends.error.message} onRetry={trends.reload} /> : null}
        {model ? (
          <>
            <TrendChart
              x={model.x}
              series={model.series}
              kind={view.chart === "volume" && !view.breakdown ? "stacked" : "line"}
              timeZone={view.tz}
              yRange={view.chart === "sentiment" ? [-1, 1] : undefined}
              formatX={(s) => formatBucket(new Date(s * 1000), view.bucket, { timeZone: view.tz })}
              formatY={(v) => (view.chart === "sentiment" ? formatSentiment(v) : formatCompact(v))}
              ariaLabel={`${view.chart === "sentiment" ? "Average sentiment" : "Interactions"} per ${view.bucket}${view.breakdown ? `, by ${view.breakdown.replace("_", " ")}` : ""}. Click a point to open its interactions; the same data is in the table below.`}
              onPick={(i, s) => navigate(model.hrefs[s]?.[i] ?? "/explorer")}
            />
            <p class="chart-hint muted small">Click a {view.chart === "volume" && !view.breakdown ? "bar segment" : "point"} to open the interactions behind it.</p>
            <details class="data-table-toggle">
              <summary>Show data as a table</summary>
              <div class="table-wrap">
                <table class="table">
                  <thead><tr><th scope="col">Bucket</th>{model.series.map((s) => <th scope="col" class="num" key={s.label}>{s.label}</th>)}</tr></thead>
                  <tbody>
                    {model.x.map((_, i) => (
                      <tr key={i}>
                        <th scope="row">{model.labels[i]}</th>
                        {model.series.map((s, si) => {
                          const v = s.values[i];
                          const text = v === null || v === undefined ? "–" : view.chart === "sentiment" ? formatSentiment(v) : formatInteger(v);
                          return <td class="num" key={si}>{s.dashed ? text : <a href={model.hrefs[si]?.[i] ?? "/explorer"}>{text}</a>}</td>;
                        })}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </details>
          </>
        ) : trends.loading ? <Spinner label="Loading the trend" /> : null}
      </Card>

      <div class="grid-2">
        <Breakdown title="Channels" keyLabel="Channel" entries={m?.byChannel ?? []} />
        <Breakdown title="Segments" keyLabel="Segment" entries={m?.bySegment ?? []} />
      </div>

      <Card title={`Activity by weekday and hour${heat.data ? ` (${heat.data.timeZone.replace(/_/g, " ")})` : ""}`}>
        {heat.error ? <ErrorNotice message={heat.error.message} onRetry={heat.reload} /> : null}
        {heat.data ? <Heatmap cells={heatCells} ariaLabel="Interactions by weekday and hour. Use the arrow keys to move, Enter to open a cell's interactions." /> : heat.loading ? <Spinner /> : null}
      </Card>
    </div>
  );
}
