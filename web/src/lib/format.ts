// Numbers and dates for people, in the browser's locale (Intl); the locale and time zone are
// parameters so that tests pin them.

export interface FormatOptions {
  locale?: string | undefined;
  timeZone?: string | undefined;
}

const cache = new Map<string, Intl.NumberFormat | Intl.DateTimeFormat | Intl.RelativeTimeFormat>();

function memo<T extends Intl.NumberFormat | Intl.DateTimeFormat | Intl.RelativeTimeFormat>(key: string, make: () => T): T {
  let f = cache.get(key) as T | undefined;
  if (!f) {
    f = make();
    cache.set(key, f);
  }
  return f;
}

function numberFormat(opts: Intl.NumberFormatOptions, locale?: string): Intl.NumberFormat {
  return memo(`n|${locale ?? ""}|${JSON.stringify(opts)}`, () => new Intl.NumberFormat(locale, opts));
}

function dateFormat(opts: Intl.DateTimeFormatOptions, locale?: string): Intl.DateTimeFormat {
  return memo(`d|${locale ?? ""}|${JSON.stringify(opts)}`, () => new Intl.DateTimeFormat(locale, opts));
}

/** 12,345 */
export function formatInteger(value: number | bigint, { locale }: FormatOptions = {}): string {
  return numberFormat({ maximumFractionDigits: 0 }, locale).format(value);
}

/** 12.3K for tight spaces (axis ticks, small cards). */
export function formatCompact(value: number | bigint, { locale }: FormatOptions = {}): string {
  return numberFormat({ notation: "compact", maximumFractionDigits: 1 }, locale).format(value);
}

/** A share 0..1 as a percentage: 0.123 -> 12.3 % */
export function formatShare(value: number, { locale }: FormatOptions = {}): string {
  return numberFormat({ style: "percent", maximumFractionDigits: 1 }, locale).format(value);
}

/** A sentiment score -1..1 with its sign: +0.42, −0.10, 0.00 */
export function formatSentiment(value: number | undefined, { locale }: FormatOptions = {}): string {
  if (value === undefined || Number.isNaN(value)) return "–";
  const rounded = Math.round(value * 100) / 100;
  return numberFormat({ minimumFractionDigits: 2, maximumFractionDigits: 2, signDisplay: "exceptZero" }, locale)
    .format(rounded === 0 ? 0 : rounded);
}

export interface ChangeLike {
  previous: number;
  absolute: number;
  percent?: number | undefined;
}

export type Trend = "up" | "down" | "flat";

export interface FormattedChange {
  text: string;
  trend: Trend;
  /** For screen readers: "up 12.5 % from 1,200". */
  description: string;
}

/**
 * A change against the previous period. Counts show a percentage (absent when the previous value
 * was 0, then the absolute change); averages (kind "score") show the absolute change of the score.
 */
export function formatChange(
  change: ChangeLike | undefined,
  kind: "count" | "score",
  opts: FormatOptions = {},
): FormattedChange | undefined {
  if (!change) return undefined;
  const trend: Trend = change.absolute > 0 ? "up" : change.absolute < 0 ? "down" : "flat";
  let text: string;
  if (kind === "score") {
    text = formatSentiment(change.absolute, opts);
  } else if (change.percent !== undefined) {
    text = numberFormat({ style: "percent", maximumFractionDigits: 1, signDisplay: "exceptZero" }, opts.locale)
      .format(change.percent / 100);
  } else {
    text = numberFormat({ maximumFractionDigits: 0, signDisplay: "exceptZero" }, opts.locale).format(change.absolute);
  }
  const previous = kind === "score" ? formatSentiment(change.previous, opts) : formatInteger(change.previous, opts);
  const word = trend === "up" ? "up" : trend === "down" ? "down" : "unchanged";
  return { text, trend, description: `${word} ${trend === "flat" ? "" : text + " "}from ${previous}`.replace("  ", " ") };
}

/** 12 Mar 2026, 14:05 */
export function formatDateTime(date: Date, { locale, timeZone }: FormatOptions = {}): string {
  return dateFormat({ dateStyle: "medium", timeStyle: "short", timeZone }, locale).format(date);
}

/** The live feed's time: 14:05:09 today, "Nov 30, 22:05" on an earlier day (a time alone would be ambiguous). */
export function formatFeedTime(date: Date, now: Date = new Date(), opts: FormatOptions = {}): string {
  const day = (d: Date): string => dateFormat({ year: "numeric", month: "2-digit", day: "2-digit", timeZone: opts.timeZone }, opts.locale).format(d);
  if (day(date) === day(now)) return formatTime(date, opts);
  return dateFormat({ month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone: opts.timeZone }, opts.locale).format(date);
}

/** 14:05:09, for the live feed. */
export function formatTime(date: Date, { locale, timeZone }: FormatOptions = {}): string {
  return dateFormat({ hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone }, locale).format(date);
}

export function formatDate(date: Date, { locale, timeZone }: FormatOptions = {}): string {
  return dateFormat({ dateStyle: "medium", timeZone }, locale).format(date);
}

export type Bucket = "hour" | "day" | "week" | "month";

/** An axis/tooltip label for a trend bucket that starts at `date` (in `timeZone`). */
export function formatBucket(date: Date, bucket: Bucket, { locale, timeZone }: FormatOptions = {}): string {
  switch (bucket) {
    case "hour":
      return dateFormat({ month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone }, locale).format(date);
    case "day":
      return dateFormat({ month: "short", day: "numeric", timeZone }, locale).format(date);
    case "week":
      return "Week of " + dateFormat({ month: "short", day: "numeric", timeZone }, locale).format(date);
    case "month":
      return dateFormat({ month: "long", year: "numeric", timeZone }, locale).format(date);
  }
}

const RELATIVE_STEPS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["second", 60],
  ["minute", 60],
  ["hour", 24],
  ["day", 7],
  ["week", 4.35],
  ["month", 12],
  ["year", Number.POSITIVE_INFINITY],
];

/** "3 minutes ago", "in 2 days" */
export function formatRelative(date: Date, now: Date = new Date(), { locale }: FormatOptions = {}): string {
  const rtf = memo(`r|${locale ?? ""}`, () => new Intl.RelativeTimeFormat(locale, { numeric: "auto" }));
  let value = (date.getTime() - now.getTime()) / 1000;
  for (const [unit, size] of RELATIVE_STEPS) {
    if (Math.abs(value) < size) return rtf.format(Math.round(value), unit);
    value /= size;
  }
  return rtf.format(Math.round(value), "year");
}

/** Weekday names, Monday first (ISO 1..7), in the locale. */
export function weekdayNames(style: "short" | "long" = "short", { locale }: FormatOptions = {}): string[] {
  const f = dateFormat({ weekday: style, timeZone: "UTC" }, locale);
  // 2024-01-01 was a Monday.
  return Array.from({ length: 7 }, (_, i) => f.format(new Date(Date.UTC(2024, 0, 1 + i))));
}

/** "09:00" style hour labels in the locale's clock. */
export function hourLabel(hour: number, { locale }: FormatOptions = {}): string {
  return dateFormat({ hour: "numeric", timeZone: "UTC" }, locale).format(new Date(Date.UTC(2024, 0, 1, hour)));
}

export function bytes(value: number, { locale }: FormatOptions = {}): string {
  const units = ["byte", "kilobyte", "megabyte", "gigabyte"] as const;
  let v = value;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return numberFormat({ style: "unit", unit: units[i], unitDisplay: "short", maximumFractionDigits: 1 }, locale).format(v);
}
