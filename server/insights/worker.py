"""The analysis worker (design.md §2 step 3): scores pending interactions with the model.

One batch = one transaction: claim up to ``worker_batch_size`` pending rows of any organization
(``worker_claim_pending``: FOR UPDATE SKIP LOCKED, see db/migrations/0004_worker.sql), one backend call
for all their texts, then per organization (RLS scoped) write sentiment, confidence and
``processed_at`` and recompute the customers' average sentiment, and commit. Events go out after
the commit. Hence:
- several workers never score the same row twice (a claimed row is locked until its results commit);
- a crash or an error mid-batch loses nothing: the transaction rolls back and the rows stay pending;
- when the model tier is down, rows stay pending (no rule-based scores are stored) and are scored
  by the model once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from prometheus_client import Counter

from insights.db.pool import Conn, Database
from insights.errors import UnavailableError
from insights.events import SENTIMENT_ANALYZED, NewEvent
from insights.inference.types import LABELS, InferenceUnavailable, Prediction, SentimentBackend
from insights.logging import get_logger
from insights.settings import Settings
from insights.text import normalize_text

log = get_logger(__name__)

SCORED = Counter("insights_worker_scored_total", "Interactions scored by the analysis worker")
BATCH_FAILURES = Counter("insights_worker_batch_failures_total", "Worker batches rolled back", ["reason"])

_WRITE_INTERACTIONS = """
UPDATE customer_interactions ci
SET sentiment = v.sentiment, sentiment_confidence = v.confidence, processed_at = now()
FROM jsonb_to_recordset(%s::jsonb) AS v(id uuid, ts timestamptz, sentiment jsonb, confidence numeric)
WHERE ci.id = v.id AND ci.timestamp = v.ts
"""
# The average over every scored interaction of the customer, recomputed under the customer's row
# lock (taken by the statement before): the statement's snapshot then includes every concurrent
# worker's committed rows, and an interaction re-scored after an edit is counted once.
_LOCK_CUSTOMERS = "SELECT id FROM customers WHERE id = ANY(%s) ORDER BY id FOR UPDATE"
_UPDATE_AVERAGES = """
UPDATE customers c
SET average_sentiment = (
      SELECT round(avg((i.sentiment->>'positive')::numeric - (i.sentiment->>'negative')::numeric), 4)
      FROM customer_interactions i
      WHERE i.customer_id = c.id AND i.sentiment ? 'positive'),
    updated_at = now()
WHERE c.id = ANY(%s)
RETURNING c.id, c.average_sentiment
"""


class EventPublisher(Protocol):
    async def publish_many(self, organization_id: UUID, events: Sequence[NewEvent]) -> int: ...


@dataclass(frozen=True)
class BatchReport:
    claimed: int = 0
    scored: int = 0
    without_text: int = 0


def stored_sentiment(p: Prediction) -> dict[str, Any]:
    """The ``customer_interactions.sentiment`` JSONB: label, the three scores, and which model."""
    return {"label": p.label, **{k: round(p.scores[k], 6) for k in LABELS}, "model": f"{p.model}:{p.model_version}"}


class AnalysisWorker:
    def __init__(
        self, settings: Settings, db: Database, backend: SentimentBackend, events: EventPublisher | None = None,
    ) -> None:
        self._db = db
        self._backend = backend
        self._events = events
        self._batch_size = settings.worker_batch_size
        self._poll_s = settings.worker_poll_interval_s
        self._timeout_s = settings.worker_inference_timeout_s
        self._task: asyncio.Task[None] | None = None
        self._tier_down = False

    async def run_once(self) -> BatchReport:
        """Claims, scores and commits one batch. Raises InferenceUnavailable (rows stay pending)."""
        published: dict[UUID, list[NewEvent]] = {}
        async with self._db.global_tx() as conn:
            cur = await conn.execute("SELECT * FROM worker_claim_pending(%s)", (self._batch_size,))
            rows = await cur.fetchall()
            if not rows:
                return BatchReport()
            with_text = [r for r in rows if r["content"] and normalize_text(r["content"])]
            predictions = await self._backend.predict(
                [r["content"] for r in with_text], timeout_s=self._timeout_s, background=True
            )
            scored = {r["id"]: p for r, p in zip(with_text, predictions, strict=True)}

            by_org: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                by_org[row["organization_id"]].append(row)
            for organization_id, group in by_org.items():
                published[organization_id] = await self._write(conn, organization_id, group, scored)
        # After COMMIT: subscribers must never hear of a score that could still roll back.
        if self._events is not None:
            for organization_id, events in published.items():
                await self._events.publish_many(organization_id, events)  # best effort: drops when Redis is down
        SCORED.inc(len(scored))
        return BatchReport(claimed=len(rows), scored=len(scored), without_text=len(rows) - len(scored))

    async def _write(
        self, conn: Conn, organization_id: UUID, group: list[dict[str, Any]], scored: dict[UUID, Prediction]
    ) -> list[NewEvent]:
        await conn.execute("SELECT set_config('app.organization_id', %s, true)", (str(organization_id),))
        values = []
        for row in group:
            p = scored.get(row["id"])
            values.append({
                "id": str(row["id"]), "ts": row["ts"].isoformat(),
                "sentiment": stored_sentiment(p) if p else None,
                "confidence": round(p.confidence, 4) if p else None,
            })
        await conn.execute(_WRITE_INTERACTIONS, (json.dumps(values),))
        customers = sorted({row["customer_id"] for row in group if row["id"] in scored})
        averages: dict[UUID, Any] = {}
        if customers:
            await conn.execute(_LOCK_CUSTOMERS, (customers,))
            cur = await conn.execute(_UPDATE_AVERAGES, (customers,))
            averages = {r["id"]: r["average_sentiment"] for r in await cur.fetchall()}
        events = []
        for row in group:
            p = scored.get(row["id"])
            if p is None:
                continue
            average = averages.get(row["customer_id"])
            events.append(NewEvent(
                SENTIMENT_ANALYZED, interaction_id=row["id"], customer_id=row["customer_id"], channel=row["channel"],
                payload={
                    "label": p.label, "confidence": p.confidence, "scores": p.scores,
                    "model": p.model, "modelVersion": p.model_version,
                    "averageSentiment": float(average) if average is not None else None,
                },
            ))
        return events

    async def run(self) -> None:
        """Scores until cancelled; pauses when caught up and while the model tier or database is down."""
        log.info("worker.started", backend=self._backend.name, batch_size=self._batch_size)
        while True:
            try:
                report = await self.run_once()
            except InferenceUnavailable as exc:
                BATCH_FAILURES.labels("model").inc()
                if not self._tier_down:
                    log.warning("worker.model_unavailable", error=str(exc), note="rows stay pending")
                self._tier_down = True
                await asyncio.sleep(min(max(exc.retry_after_s, self._poll_s), 5.0))
                continue
            except UnavailableError as exc:
                BATCH_FAILURES.labels("database").inc()
                log.warning("worker.database_unavailable", error=exc.message)
                await asyncio.sleep(self._poll_s)
                continue
            except Exception:
                BATCH_FAILURES.labels("error").inc()
                log.exception("worker.batch_failed")
                await asyncio.sleep(self._poll_s)
                continue
            if self._tier_down and report.scored:
                log.info("worker.model_available")
                self._tier_down = False
            if report.claimed:
                log.debug("worker.batch", claimed=report.claimed, scored=report.scored)
            if report.claimed < self._batch_size:
                await asyncio.sleep(self._poll_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="analysis-worker")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
