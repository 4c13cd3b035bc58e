// The live feed's rows: one row per interaction, newest first, at most `cap` kept. An
// interaction.created event adds a row; sentiment.analyzed for the same interactionId fills its
// sentiment in (whichever arrives first); replays after a reconnect merge instead of duplicating.

import type { JsonObject, JsonValue } from "@bufbuild/protobuf";

export interface FeedEvent {
  id: string;
  type: string;
  occurredAt?: Date | undefined;
  interactionId: string;
  customerId: string;
  /** The organization's own id of the customer (the event's field; older events carry none). */
  externalCustomerId?: string | undefined;
  channel: string;
  payload?: JsonObject | undefined;
}

export interface RowSentiment {
  label: string;
  confidence?: number | undefined;
  score?: number | undefined;
  scores?: { negative: number; neutral: number; positive: number } | undefined;
  model?: string | undefined;
  modelVersion?: string | undefined;
}

export interface FeedRow {
  /** interactionId, or the event id for events about no interaction (pattern.detected). */
  key: string;
  kind: "interaction" | "pattern";
  interactionId: string;
  customerId: string;
  externalCustomerId?: string | undefined;
  channel: string;
  eventType: string;
  content?: string | undefined;
  /** When it happened (the interaction's timestamp when known). */
  at: Date;
  sentiment?: RowSentiment | undefined;
  /** Pattern rows: what was detected. */
  description?: string | undefined;
  /** Bumped on every change, so a row component can skip unchanged rows. */
  rev: number;
  /** The stream event that last changed the row. */
  lastEventId: string;
}

const str = (v: JsonValue | undefined): string | undefined => (typeof v === "string" ? v : undefined);
const num = (v: JsonValue | undefined): number | undefined => (typeof v === "number" ? v : undefined);

function date(v: JsonValue | undefined, fallback: Date): Date {
  if (typeof v === "string") {
    const d = new Date(v);
    if (!Number.isNaN(d.getTime())) return d;
  }
  return fallback;
}

/** The sentiment carried by a sentiment.analyzed payload. */
export function sentimentFromPayload(p: JsonObject | undefined): RowSentiment | undefined {
  if (!p) return undefined;
  const label = str(p["label"]);
  if (!label) return undefined;
  const s = p["scores"];
  let scores: RowSentiment["scores"];
  if (s && typeof s === "object" && !Array.isArray(s)) {
    scores = { negative: num(s["negative"]) ?? 0, neutral: num(s["neutral"]) ?? 0, positive: num(s["positive"]) ?? 0 };
  }
  return {
    label,
    confidence: num(p["confidence"]),
    score: num(p["score"]) ?? (scores ? scores.positive - scores.negative : undefined),
    scores,
    model: str(p["model"]),
    modelVersion: str(p["modelVersion"]),
  };
}

export class FeedRows {
  private rows: FeedRow[] = [];
  private byKey = new Map<string, FeedRow>();
  /** Sentiments that arrived before their interaction.created (bounded). */
  private early = new Map<string, RowSentiment>();
  /** Keys pushed out by the cap: their late events must not bring them back to the top. */
  private evicted = new Set<string>();
  /** Our customer id -> the organization's, learnt from rows and events that carry both (for events that carry only ours). */
  private externalIds = new Map<string, string>();

  constructor(readonly cap = 500) {}

  get list(): readonly FeedRow[] {
    return this.rows;
  }

  get size(): number {
    return this.rows.length;
  }

  get(key: string): FeedRow | undefined {
    return this.byKey.get(key);
  }

  clear(): void {
    this.rows = [];
    this.byKey.clear();
    this.early.clear();
    this.evicted.clear();
  }

  /** Replaces everything with rows loaded from the query API (after resync, or the first load). */
  reset(rows: FeedRow[]): void {
    this.clear();
    this.addRows(rows);
  }

  /** Adds already-built rows (polling results); known ones are updated in place. */
  addRows(rows: FeedRow[]): boolean {
    let changed = false;
    const fresh: FeedRow[] = [];
    for (const row of rows) {
      if (row.externalCustomerId) this.learn(row.customerId, row.externalCustomerId);
      const known = this.byKey.get(row.key);
      if (known) {
        if (!known.sentiment && row.sentiment) {
          this.replace({ ...known, sentiment: row.sentiment, rev: known.rev + 1 });
          changed = true;
        }
      } else if (!this.evicted.has(row.key)) {
        fresh.push(row);
        this.byKey.set(row.key, row);
      }
    }
    if (fresh.length) {
      fresh.sort((a, b) => b.at.getTime() - a.at.getTime());
      this.rows = [...fresh, ...this.rows];
      this.trim();
      changed = true;
    }
    return changed;
  }

  /**
   * Applies a batch of events (one animation frame's worth) and returns whether anything visible
   * changed. The list is rebuilt at most once per batch.
   */
  apply(events: readonly FeedEvent[]): boolean {
    const added: FeedRow[] = [];
    let changed = false;
    for (const e of events) {
      switch (e.type) {
        case "interaction.created": {
          const key = e.interactionId;
          if (e.externalCustomerId) this.learn(e.customerId, e.externalCustomerId);
          if (!key || this.byKey.has(key) || this.evicted.has(key)) break;
          const p = e.payload;
          const sentiment = this.early.get(key);
          this.early.delete(key);
          const row: FeedRow = {
            key,
            kind: "interaction",
            interactionId: key,
            customerId: e.customerId,
            externalCustomerId: e.externalCustomerId ?? str(p?.["externalCustomerId"]) ?? this.externalIds.get(e.customerId),
            channel: e.channel,
            eventType: str(p?.["eventType"]) ?? "",
            content: str(p?.["content"]),
            at: date(p?.["timestamp"], e.occurredAt ?? new Date()),
            sentiment,
            rev: 0,
            lastEventId: e.id,
          };
          this.byKey.set(key, row);
          added.push(row);
          break;
        }
        case "sentiment.analyzed": {
          const key = e.interactionId;
          const sentiment = sentimentFromPayload(e.payload);
          if (!key || !sentiment) break;
          const known = this.byKey.get(key);
          if (known) {
            const next = { ...known, sentiment, rev: known.rev + 1, lastEventId: e.id };
            this.replace(next, added);
            changed = true;
          } else if (!this.evicted.has(key)) {
            this.early.set(key, sentiment);
            if (this.early.size > this.cap * 2) this.early.delete(this.early.keys().next().value as string);
          }
          break;
        }
        case "interaction.updated": {
          const known = this.byKey.get(e.interactionId);
          if (!known) break;
          const eventType = str(e.payload?.["eventType"]) ?? known.eventType;
          this.replace({ ...known, eventType, rev: known.rev + 1, lastEventId: e.id }, added);
          changed = true;
          break;
        }
        case "pattern.detected": {
          const key = e.id;
          if (this.byKey.has(key)) break;
          const p = e.payload;
          const row: FeedRow = {
            key,
            kind: "pattern",
            interactionId: "",
            customerId: e.customerId,
            channel: e.channel,
            eventType: str(p?.["patternType"]) ?? "pattern",
            description: str(p?.["description"]),
            at: e.occurredAt ?? new Date(),
            rev: 0,
            lastEventId: e.id,
          };
          this.byKey.set(key, row);
          added.push(row);
          break;
        }
        default:
          break;
      }
    }
    if (added.length) {
      // Newest first: the batch arrived oldest first.
      added.reverse();
      this.rows = [...added, ...this.rows];
      this.trim();
      changed = true;
    } else if (changed) {
      this.rows = [...this.rows];
    }
    return changed;
  }

  private learn(customerId: string, externalId: string): void {
    if (this.externalIds.size > 5000) this.externalIds.clear();
    this.externalIds.set(customerId, externalId);
  }

  private replace(next: FeedRow, pending?: FeedRow[]): void {
    this.byKey.set(next.key, next);
    if (pending) {
      const i = pending.findIndex((r) => r.key === next.key);
      if (i >= 0) {
        pending[i] = next;
        return;
      }
    }
    const i = this.rows.findIndex((r) => r.key === next.key);
    if (i >= 0) {
      this.rows[i] = next;
    }
  }

  private trim(): void {
    if (this.rows.length <= this.cap) return;
    for (const gone of this.rows.slice(this.cap)) {
      this.byKey.delete(gone.key);
      this.evicted.add(gone.key);
    }
    this.rows.length = this.cap;
    // Remember the most recent evictions only.
    if (this.evicted.size > this.cap * 4) {
      const keep = [...this.evicted].slice(-this.cap * 2);
      this.evicted = new Set(keep);
    }
  }
}
