// One interaction in full: content, sentiment with its three probabilities, metadata, ids.

import type { JSX } from "preact";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Interaction } from "../gen/insights/v1/common_pb";
import { formatDateTime } from "../lib/format";
import { ScoreBars, SentimentBadge } from "./sentiment";
import { Snippet } from "../lib/snippet";

export function InteractionDetails({ interaction: i, snippet }: { interaction: Interaction; snippet?: string | undefined }): JSX.Element {
  const meta = i.metadata && Object.keys(i.metadata).length ? JSON.stringify(i.metadata, null, 2) : null;
  return (
    <div class="stack interaction-details">
      <div class="row">
        <SentimentBadge label={i.sentiment?.label} score={i.sentiment?.score} />
        <span class="badge">{i.channel}</span>
        <span class="badge badge-info">{i.eventType}</span>
      </div>
      {i.content ? (
        <blockquote class="content-quote">{snippet ? <Snippet text={snippet} /> : i.content}</blockquote>
      ) : (
        <p class="muted">No text: a {i.eventType.replace(/_/g, " ")} event.</p>
      )}
      {i.sentiment?.scores ? (
        <section>
          <h3 class="section-title">Sentiment</h3>
          <ScoreBars scores={i.sentiment.scores} />
          <p class="muted small">Model “{i.sentiment.model}” version {i.sentiment.modelVersion}, confidence {Math.round(i.sentiment.confidence * 100)} %.</p>
        </section>
      ) : (
        <p class="muted">Sentiment is pending: the interaction has not been scored yet.</p>
      )}
      <section>
        <h3 class="section-title">Details</h3>
        <dl class="details">
          <dt>When</dt><dd>{i.timestamp ? formatDateTime(timestampDate(i.timestamp)) : "–"}</dd>
          <dt>Customer</dt><dd><a href={`/customers/${encodeURIComponent(i.customerId)}`}>{i.externalCustomerId || i.customerId}</a></dd>
          <dt>Segment</dt><dd>{i.segment || "–"}</dd>
          <dt>Scored</dt><dd>{i.processedAt ? formatDateTime(timestampDate(i.processedAt)) : "pending"}</dd>
          <dt>Interaction id</dt><dd class="mono">{i.id}</dd>
          <dt>Version</dt><dd>{String(i.version)}</dd>
        </dl>
      </section>
      {meta ? (
        <section>
          <h3 class="section-title">Metadata</h3>
          <pre class="json">{meta}</pre>
        </section>
      ) : null}
    </div>
  );
}
