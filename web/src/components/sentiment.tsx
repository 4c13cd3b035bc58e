// Sentiment shown the same way everywhere: a coloured label, the score, the three probabilities.

import type { JSX } from "preact";
import { formatSentiment, formatShare } from "../lib/format";

export const LABELS = ["positive", "neutral", "negative"] as const;
export const LABELS_WITH_PENDING = ["positive", "neutral", "negative", "pending"] as const;

export function labelName(label: string): string {
  return label ? label[0]!.toUpperCase() + label.slice(1) : "–";
}

export function SentimentBadge({ label, score }: { label?: string | undefined; score?: number | undefined }): JSX.Element {
  if (!label) {
    return (
      <span class="sentiment sentiment-pending">
        <span class="dot" aria-hidden="true" />
        Pending
      </span>
    );
  }
  return (
    <span class={`sentiment sentiment-${label}`}>
      <span class="dot" aria-hidden="true" />
      {labelName(label)}
      {score !== undefined ? <span class="sentiment-score">{formatSentiment(score)}</span> : null}
    </span>
  );
}

export function ScoreBars({ scores }: { scores: { negative: number; neutral: number; positive: number } }): JSX.Element {
  return (
    <dl class="score-bars">
      {LABELS.map((l) => (
        <div class="score-bar" key={l}>
          <dt>{labelName(l)}</dt>
          <dd>
            <span class="bar-track">
              <span class={`bar-fill fill-${l}`} style={{ width: `${Math.round(scores[l] * 1000) / 10}%` }} />
            </span>
            <span class="bar-value">{formatShare(scores[l])}</span>
          </dd>
        </div>
      ))}
    </dl>
  );
}

/** A stacked bar of a distribution (positive | neutral | negative | pending). */
export function DistributionBar({ distribution, label }: {
  distribution: { positive: bigint | number; neutral: bigint | number; negative: bigint | number; pending: bigint | number };
  label?: string;
}): JSX.Element {
  const parts = LABELS_WITH_PENDING.map((l) => [l, Number(distribution[l])] as const);
  const total = parts.reduce((s, [, v]) => s + v, 0);
  const text = parts.filter(([, v]) => v > 0).map(([l, v]) => `${labelName(l)} ${formatShare(total ? v / total : 0)}`).join(", ");
  return (
    <div class="dist-bar" role="img" aria-label={`${label ? label + ": " : ""}${text || "no data"}`}>
      {parts.map(([l, v]) => (v > 0 ? <span key={l} class={`fill-${l}`} style={{ flexGrow: v }} /> : null))}
    </div>
  );
}
