// Calendar dates in a time zone, for the range pickers (the API reads YYYY-MM-DD in timeZone).

export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/** YYYY-MM-DD of an instant in a time zone. */
export function dateIn(ms: number, timeZone: string): string {
  // en-CA formats as YYYY-MM-DD.
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(ms);
}

export function addDays(date: string, days: number): string {
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

export function timeZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  const zones = intl.supportedValuesOf?.("timeZone") ?? [];
  const all = new Set(["UTC", browserTimeZone(), ...zones]);
  return [...all].sort((a, b) => (a === "UTC" ? -1 : b === "UTC" ? 1 : a.localeCompare(b)));
}

export type RangePreset = "24h" | "7d" | "30d" | "90d" | "custom";

export interface DateRange {
  startDate: string;
  endDate: string;
}

/** A preset as API dates: the last N calendar days including today, or the last 24 hours as instants. */
export function presetRange(preset: Exclude<RangePreset, "custom">, timeZone: string, now = Date.now()): DateRange {
  if (preset === "24h") {
    const end = new Date(Math.ceil(now / 3_600_000) * 3_600_000);
    return { startDate: new Date(end.getTime() - 86_400_000).toISOString(), endDate: end.toISOString() };
  }
  const days = preset === "7d" ? 7 : preset === "30d" ? 30 : 90;
  const today = dateIn(now, timeZone);
  return { startDate: addDays(today, -(days - 1)), endDate: today };
}
