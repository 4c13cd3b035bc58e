// Pattern evidence and customer attributes as a person reads them: instants as dates, flags as
// yes/no, nested objects as "key value" pairs, never raw JSON or ISO strings.

import type { JsonValue } from "@bufbuild/protobuf";
import { formatDate, formatDateTime, formatInteger, type FormatOptions } from "./format";

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** "gapStdHours" / "gap_std_hours" -> "Gap std hours". */
export function humanKey(k: string): string {
  return k.replace(/([a-z])([A-Z0-9])/g, "$1 $2").replace(/_/g, " ").toLowerCase().replace(/^./, (c) => c.toUpperCase());
}

export function evidenceValue(v: JsonValue, opts: FormatOptions = {}): string {
  if (v === null) return "–";
  if (typeof v === "boolean") return v ? "Yes" : "No";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return formatInteger(v, opts);
    return new Intl.NumberFormat(opts.locale, { maximumFractionDigits: 2 }).format(v);
  }
  if (typeof v === "string") {
    if (INSTANT.test(v)) return formatDateTime(new Date(v), opts);
    if (DAY.test(v)) return formatDate(new Date(`${v}T12:00:00Z`), { ...opts, timeZone: opts.timeZone ?? "UTC" });
    return v;
  }
  if (Array.isArray(v)) return v.map((x) => evidenceValue(x, opts)).join(", ");
  return Object.entries(v).map(([k, x]) => `${humanKey(k)} ${evidenceValue(x, opts)}`).join(", ");
}
