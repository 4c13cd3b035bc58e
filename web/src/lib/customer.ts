// How a customer is named on screen. Customers are created by ingestion from the organization's own
// id, so most have no name or email: the external id stands in for the name, and empty parts are
// left out rather than shown as stray separators.

import { addDays, dateIn } from "./dates";

export interface CustomerNameParts {
  externalId: string;
  firstName?: string | undefined;
  lastName?: string | undefined;
  email?: string | undefined;
}

/** "Ada Lovelace", or the external id when the customer has no name. */
export function customerName(c: CustomerNameParts): string {
  return `${c.firstName ?? ""} ${c.lastName ?? ""}`.trim() || c.externalId;
}

/** The line under the name: the external id (unless it already is the name) and the email, when there are. */
export function customerSubtitle(c: CustomerNameParts): string {
  const name = customerName(c);
  return [name === c.externalId ? "" : c.externalId, c.email ?? ""].filter(Boolean).join(" · ");
}

/** The parts of a description line that are known, joined with " · ". */
export function joinKnown(parts: readonly (string | null | undefined | false)[]): string {
  return parts.filter((p): p is string => typeof p === "string" && p.trim() !== "").join(" · ");
}

/** The longest range the API accepts is about ten years (`query.max_range_days`, 3660 days). */
const MAX_HISTORY_DAYS = 3650;

/**
 * The start date (YYYY-MM-DD) of "the customer's whole history": the day before they were first seen
 * (a day of slack for the organization's time zone), and never further back than the API's longest range.
 */
export function historyStart(firstSeenMs: number | undefined, now = Date.now()): string {
  const earliest = addDays(dateIn(now, "UTC"), -MAX_HISTORY_DAYS);
  if (firstSeenMs === undefined || !Number.isFinite(firstSeenMs)) return earliest;
  const first = addDays(dateIn(firstSeenMs, "UTC"), -1);
  return first < earliest ? earliest : first;
}
