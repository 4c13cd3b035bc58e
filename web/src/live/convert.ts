// Protobuf -> the feed's own shapes.

import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Interaction } from "../gen/insights/v1/common_pb";
import type { Event } from "../gen/insights/v1/stream_pb";
import type { FeedEvent, FeedRow } from "./rows";

export function feedEvent(e: Event): FeedEvent {
  return {
    id: e.id,
    type: e.type,
    occurredAt: e.occurredAt ? timestampDate(e.occurredAt) : undefined,
    interactionId: e.interactionId,
    customerId: e.customerId,
    externalCustomerId: e.externalCustomerId || undefined,
    channel: e.channel,
    payload: e.payload,
  };
}

/** A row from the query API (initial load, resync, polling). */
export function rowFromInteraction(i: Interaction): FeedRow {
  return {
    key: i.id,
    kind: "interaction",
    interactionId: i.id,
    customerId: i.customerId,
    externalCustomerId: i.externalCustomerId || undefined,
    channel: i.channel,
    eventType: i.eventType,
    content: i.content || undefined,
    at: i.timestamp ? timestampDate(i.timestamp) : new Date(0),
    sentiment: i.sentiment
      ? {
          label: i.sentiment.label,
          confidence: i.sentiment.confidence,
          score: i.sentiment.score,
          scores: i.sentiment.scores ? { negative: i.sentiment.scores.negative, neutral: i.sentiment.scores.neutral, positive: i.sentiment.scores.positive } : undefined,
          model: i.sentiment.model,
          modelVersion: i.sentiment.modelVersion,
        }
      : undefined,
    rev: 0,
    lastEventId: "",
  };
}
