// How a customer is named on screen. Customers are created by ingestion from the organization's own
// id, so most have no name or email: the external id stands in for the name, and empty parts are
// left out rather than shown as stray separators.

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
