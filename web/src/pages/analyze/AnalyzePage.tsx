import "./analyze.css";
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { AnalysisService, type AnalyzeSentimentResponse } from "../../gen/insights/v1/analysis_pb";
import { client } from "../../api/client";
import { toProblem } from "../../api/errors";
import type { PageProps } from "../../app/routes";
import { ScoreBars, SentimentBadge } from "../../components/sentiment";
import { Button, Card, ErrorNotice, Field, Notice, PageHeader } from "../../components/ui";
import { formatInteger, formatShare } from "../../lib/format";

const EXAMPLES = [
  "The new release fixed our sync problem and support was quick to answer. Thanks!",
  "I've been waiting two weeks for a refund and nobody replies to my emails.",
  "Could you send me last month's invoice as a PDF?",
];

export default function AnalyzePage(_: PageProps): JSX.Element {
  const [text, setText] = useState("");
  const [result, setResult] = useState<AnalyzeSentimentResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const analyze = async (e?: Event): Promise<void> => {
    e?.preventDefault();
    if (!text.trim()) {
      setError("Enter some text to analyse.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      setResult(await client(AnalysisService).analyzeSentiment({ text }));
    } catch (err) {
      const p = toProblem(err);
      setError(p.fields["text"] ?? p.message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="analyze stack">
      <PageHeader title="Analyze text" description="Score any text with the same model that scores your interactions." />
      <div class="analyze-grid">
        <Card title="Text">
          <form class="form" onSubmit={(e) => void analyze(e)}>
            <Field label="Text to analyse" hint={`${formatInteger(text.length)} characters`}>
              {(id, d) => (
                <textarea id={id} aria-describedby={d} class="textarea" rows={7} value={text} placeholder="Paste a review, an email or a chat message…"
                  onInput={(e) => setText(e.currentTarget.value)}
                  onKeyDown={(e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) void analyze(); }} />
              )}
            </Field>
            <div class="row between">
              <div class="row examples">
                <span class="muted small">Try:</span>
                {EXAMPLES.map((x, i) => (
                  <button type="button" class="chip" key={i} onClick={() => setText(x)}>{["Happy", "Angry", "Neutral"][i]}</button>
                ))}
              </div>
              <Button type="submit" variant="primary" busy={busy}>Analyze</Button>
            </div>
            {error ? <ErrorNotice message={error} /> : null}
          </form>
        </Card>
        <Card title="Result">
          {result ? (
            <div class="stack" aria-live="polite">
              <div class="result-head">
                <SentimentBadge label={result.sentiment} />
                <span class="result-confidence">{formatShare(result.confidence)} confident</span>
              </div>
              {result.scores ? <ScoreBars scores={result.scores} /> : null}
              {result.model === "rule-based" ? (
                <Notice tone="warning">
                  Answered by the rule-based fallback (VADER): the sentiment model is unavailable right now, so this result is less accurate than usual.
                </Notice>
              ) : null}
              {result.truncated ? <Notice tone="info">The text was longer than the model reads; only its beginning was scored.</Notice> : null}
              <dl class="details">
                <dt>Model</dt><dd>{result.model} <span class="muted">version {result.modelVersion}</span></dd>
                <dt>Time</dt><dd>{result.processingTimeMs.toFixed(1)} ms</dd>
              </dl>
            </div>
          ) : (
            <p class="muted">The label, the three probabilities and the model that answered appear here.</p>
          )}
        </Card>
      </div>
    </div>
  );
}
