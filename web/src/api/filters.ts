// The interaction filter, one shape for the whole UI: the Explorer's URL, the request fields of every
// QueryService filter (same names in every request), the export's query string and drill-downs.
// URL parameters have the REST names (GET /api/data/interactions), so a drill-down's ready `query`
// string is also an Explorer URL.

import type { InteractionFilter } from "../gen/insights/v1/common_pb";

export interface Filter {
  startDate: string;
  endDate: string;
  channels: string[];
  customerSegments: string[];
  eventTypes: string[];
  sentiments: string[];
  sentimentMin?: number | undefined;
  sentimentMax?: number | undefined;
  customerId: string;
  q: string;
  timeZone: string;
  weekdays: number[];
  hours: number[];
}

const LISTS = ["channels", "customerSegments", "eventTypes", "sentiments"] as const;
const INT_LISTS = ["weekdays", "hours"] as const;
const STRINGS = ["startDate", "endDate", "customerId", "q", "timeZone"] as const;
const NUMBERS = ["sentimentMin", "sentimentMax"] as const;

/** Parameter names that belong to the filter (anything else in a URL is page state: sort, page...). */
export const FILTER_PARAMS: readonly string[] = [...STRINGS, ...LISTS, ...INT_LISTS, ...NUMBERS];

export function emptyFilter(): Filter {
  return {
    startDate: "",
    endDate: "",
    channels: [],
    customerSegments: [],
    eventTypes: [],
    sentiments: [],
    customerId: "",
    q: "",
    timeZone: "",
    weekdays: [],
    hours: [],
  };
}

/** Lists come comma-separated ("web,chat") or repeated (channels=web&channels=chat); both are read. */
function list(params: URLSearchParams, name: string): string[] {
  const out: string[] = [];
  for (const raw of params.getAll(name)) {
    for (const part of raw.split(",")) {
      const v = part.trim();
      if (v && !out.includes(v)) out.push(v);
    }
  }
  return out;
}

export function parseFilter(search: string | URLSearchParams): Filter {
  const params = typeof search === "string" ? new URLSearchParams(search) : search;
  const f = emptyFilter();
  for (const k of STRINGS) f[k] = (params.get(k) ?? "").trim();
  for (const k of LISTS) f[k] = list(params, k);
  for (const k of INT_LISTS) {
    f[k] = list(params, k)
      .map((v) => Number(v))
      .filter((n) => Number.isInteger(n));
  }
  for (const k of NUMBERS) {
    const raw = params.get(k);
    const n = raw === null || raw.trim() === "" ? Number.NaN : Number(raw);
    f[k] = Number.isFinite(n) ? n : undefined;
  }
  return f;
}

/** The canonical query string of a filter (empty fields left out, lists comma-separated). */
export function filterToQuery(f: Partial<Filter>): string {
  const params = new URLSearchParams();
  for (const k of STRINGS) {
    const v = f[k];
    if (v) params.set(k, v);
  }
  for (const k of LISTS) {
    const v = f[k];
    if (v && v.length) params.set(k, v.join(","));
  }
  for (const k of INT_LISTS) {
    const v = f[k];
    if (v && v.length) params.set(k, v.join(","));
  }
  for (const k of NUMBERS) {
    const v = f[k];
    if (v !== undefined && Number.isFinite(v)) params.set(k, String(v));
  }
  return params.toString();
}

/** The request fields every filtering QueryService request shares (numbers 1..13 in the protos). */
export function filterToRequest(f: Filter): Filter {
  return {
    startDate: f.startDate,
    endDate: f.endDate,
    channels: [...f.channels],
    customerSegments: [...f.customerSegments],
    eventTypes: [...f.eventTypes],
    sentiments: [...f.sentiments],
    sentimentMin: f.sentimentMin,
    sentimentMax: f.sentimentMax,
    customerId: f.customerId,
    q: f.q,
    timeZone: f.timeZone,
    weekdays: [...f.weekdays],
    hours: [...f.hours],
  };
}

/** A drill-down (InteractionFilter from a trend point, metric or heatmap cell) as a Filter. */
export function filterFromDrillDown(d: InteractionFilter): Filter {
  return {
    startDate: d.startDate,
    endDate: d.endDate,
    channels: [...d.channels],
    customerSegments: [...d.customerSegments],
    eventTypes: [...d.eventTypes],
    sentiments: [...d.sentiments],
    sentimentMin: d.sentimentMin,
    sentimentMax: d.sentimentMax,
    customerId: d.customerId,
    q: d.q,
    timeZone: d.timeZone,
    weekdays: [...d.weekdays],
    hours: [...d.hours],
  };
}

/**
 * The Explorer URL that lists exactly the interactions behind a chart point. The server's ready
 * `query` string is used as it is (it is the REST query of the same filter); the fields are the
 * fallback when it is empty.
 */
export function drillDownHref(d: InteractionFilter): string {
  const query = d.query.replace(/^\?/, "") || filterToQuery(filterFromDrillDown(d));
  return query ? `/explorer?${query}` : "/explorer";
}

/** How many fields of the filter are set (for a "3 filters" badge). */
export function activeFilterCount(f: Filter): number {
  let n = 0;
  for (const k of STRINGS) if (k !== "timeZone" && f[k]) n++;
  for (const k of LISTS) if (f[k].length) n++;
  for (const k of INT_LISTS) if (f[k].length) n++;
  if (f.sentimentMin !== undefined || f.sentimentMax !== undefined) n++;
  return n;
}

/** The export URL of a filter: the same query string, plus the format. */
export function exportUrl(f: Filter, format: "ndjson" | "csv"): string {
  const q = filterToQuery(f);
  return `/api/data/interactions:export?${q ? q + "&" : ""}format=${format}`;
}
