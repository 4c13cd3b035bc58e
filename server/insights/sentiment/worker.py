"""The analysis worker: scores pending interactions with the model.

One batch, three steps, never a transaction held across inference:

1. **claim** (one short transaction, committed): ``worker_claim_pending`` leases up to ``batch_size``
   pending rows of any organization, oldest first, for ``lease_s`` seconds (db/migrations/0007);
2. **score** outside any transaction: one backend call per model version for all their texts (each row is
   routed by its organization's rollout, keyed by organization and interaction id: ``sentiment/rollout.py``);
3. **write back**, per organization, in a short ``tenant_tx``: lock the batch's customers (ascending
   ``external_id``, the order ingestion uses), write sentiment, confidence and ``processed_at`` only
   where the row is still pending at the claimed version (an edit meanwhile made it a new job),
   recompute the customers' average sentiment, commit; then emit ``sentiment.analyzed``.

The loop (``run``) overlaps step 3 of one batch with steps 1 and 2 of the next: while the model scores
batch k+1, batch k is written back, so neither the model nor the database waits for the other. Claims
stay oldest first. A gauge task reads the backlog (``worker_backlog``, db/migrations/0017) every
``backlog_interval_s`` for Prometheus: pending rows and the age of the oldest.

Hence several workers never score the same row at once (a leased row is skipped), a worker that dies
loses nothing (its leases expire and the rows are claimed again), edits and erasure never wait for
the model, and when the model tier is down rows stay pending (no rule-based scores are stored): the
claims are released and the rows are scored once the tier is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from prometheus_client import Counter, Gauge
from psycopg.rows import kwargs_row, tuple_row

from insights.customers.models import StoredSentiment
from insights.errors import UnavailableError
from insights.events.types import SENTIMENT_ANALYZED, NewEvent
from insights.inference.text import normalize_text
from insights.inference.types import InferenceUnavailable, Prediction, SentimentBackend
from insights.infra.db import Conn, Database
from insights.infra.logging import get_logger
from insights.sentiment.rollout import RolloutStore
from insights.settings import WorkerSettings

log = get_logger(__name__)

SCORED = Counter("insights_worker_scored_total", "Interactions scored by the analysis worker")
BATCH_FAILURES = Counter("insights_worker_batch_failures_total", "Worker batches that scored nothing", ["reason"])
STALE = Counter("insights_worker_stale_total", "Scores discarded because the interaction changed meanwhile")
PENDING = Gauge("insights_worker_pending_rows",
                "Pending interactions of every organization (counted up to INSIGHTS_WORKER__BACKLOG_COUNT_LIMIT), "
                "as of the last backlog read")
OLDEST_AGE = Gauge("insights_worker_oldest_pending_age_seconds",
                   "How long the oldest pending interaction has waited (0: none pending)")
_BACKLOG = "SELECT pending, oldest_age_s FROM worker_backlog(%s)"

_WRITE_INTERACTIONS = """
UPDATE customer_interactions ci
SET sentiment = v.sentiment, sentiment_confidence = v.confidence, processed_at = now(), claimed_until = NULL
FROM jsonb_to_recordset(%s::jsonb) AS v(id uuid, ts timestamptz, version int, sentiment jsonb, confidence numeric)
WHERE ci.id = v.id AND ci.timestamp = v.ts AND ci.processed_at IS NULL AND ci.version = v.version
RETURNING ci.id
"""
# Customers first, in the order ingestion locks them (no deadlock); NO KEY UPDATE does not block the
# foreign-key checks of concurrent inserts of interactions.
_LOCK_CUSTOMERS = "SELECT id FROM customers WHERE id = ANY(%s) ORDER BY external_id FOR NO KEY UPDATE"
# The average over every scored interaction of the customer, recomputed under the customer's row lock:
# an interaction re-scored after an edit is counted once.
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
_RELEASE = "SELECT worker_release_claims(%s::uuid[])"


@dataclass(frozen=True, slots=True)
class Claim:
    """A leased pending interaction: what scoring and the write-back need."""

    id: UUID
    ts: datetime
    organization_id: UUID
    customer_id: UUID
    external_customer_id: str
    channel: str
    content: str | None
    version: int

    @property
    def text(self) -> str | None:
        return self.content if self.content and normalize_text(self.content) else None


@dataclass(frozen=True)
class BatchReport:
    claimed: int = 0
    scored: int = 0
    without_text: int = 0


class EventSink(Protocol):
    """Where the worker announces scores (the event publisher), after each commit."""

    async def publish_many(self, organization_id: UUID, events: Sequence[NewEvent]) -> int: ...


ScoredHook = Callable[[UUID, list[UUID]], Awaitable[None]]
"""Called after a commit with the organization and the customers whose interactions were processed (scored,
or marked processed for want of text)."""


def stored_sentiment(p: Prediction) -> StoredSentiment:
    return StoredSentiment(
        label=p.label, negative=p.scores["negative"], neutral=p.scores["neutral"], positive=p.scores["positive"],
        confidence=p.confidence, model=p.model, model_version=p.model_version,
    )


class AnalysisWorker:
    def __init__(
        self, settings: WorkerSettings, db: Database, backend: SentimentBackend, events: EventSink | None = None,
        on_scored: ScoredHook | None = None, rollouts: RolloutStore | None = None,
    ) -> None:
        self._db = db
        self._backend = backend
        self._rollouts = rollouts
        self._events = events
        self._on_scored = on_scored
        self._batch_size = settings.batch_size
        self._poll_s = settings.poll_interval_s
        self._timeout_s = settings.inference_timeout_s
        self._lease_s = settings.lease_s
        self._backlog_interval_s = settings.backlog_interval_s
        self._backlog_limit = settings.backlog_count_limit
        self._task: asyncio.Task[None] | None = None
        self._tier_down = False

    async def run_once(self) -> BatchReport:
        """Claims, scores and writes back one batch. Raises InferenceUnavailable (rows stay pending)."""
        claims = await self._claim()
        if not claims:
            return BatchReport()
        return await self._write_back(claims, await self._score(claims))

    async def _score(self, claims: list[Claim]) -> dict[UUID, Prediction]:
        """One backend call per routed model version for the claimed texts, side by side (the backend plans
        the model runs); on failure the claims are handed back at once, so the rows wait for the next attempt
        rather than the lease."""
        with_text = [c for c in claims if c.text is not None]
        try:
            groups: dict[str | None, list[Claim]] = {}
            for claim, version in zip(with_text, await self._versions(with_text), strict=True):
                groups.setdefault(version, []).append(claim)
            answers = await asyncio.gather(*(
                self._backend.predict([c.text or "" for c in group], timeout_s=self._timeout_s, background=True,
                                      version=version)
                for version, group in groups.items()
            ), return_exceptions=True)
            scored: dict[UUID, Prediction] = {}
            for group, answer in zip(groups.values(), answers, strict=True):
                if isinstance(answer, BaseException):
                    raise answer
                scored.update((c.id, p) for c, p in zip(group, answer, strict=True))
        except BaseException:
            await self._release(claims)
            raise
        return scored

    async def _versions(self, claims: list[Claim]) -> list[str | None]:
        if self._rollouts is None or not claims:
            return [None] * len(claims)
        return await self._rollouts.versions(
            [c.organization_id for c in claims], [str(c.id) for c in claims], self._backend.versions)

    async def _write_back(self, claims: list[Claim], scored: dict[UUID, Prediction]) -> BatchReport:
        by_org: dict[UUID, list[Claim]] = defaultdict(list)
        for claim in claims:
            by_org[claim.organization_id].append(claim)
        written = 0
        for organization_id, group in by_org.items():
            events, changed = await self._write(organization_id, group, scored)
            written += len(events)
            # After COMMIT: subscribers must never hear of a score that could still roll back.
            if self._events is not None and events:
                await self._events.publish_many(organization_id, events)  # best effort
            # Every processed row, scored or without text: patterns depend on all of a customer's activity.
            if self._on_scored is not None and changed:
                await self._on_scored(organization_id, changed)
        SCORED.inc(written)
        without_text = sum(c.text is None for c in claims)
        return BatchReport(claimed=len(claims), scored=written, without_text=without_text)

    async def _claim(self) -> list[Claim]:
        async with self._db.global_tx() as conn, conn.cursor(row_factory=kwargs_row(Claim)) as cur:
            await cur.execute("SELECT * FROM worker_claim_pending(%s, %s)", (self._batch_size, self._lease_s))
            return await cur.fetchall()

    async def _release(self, claims: list[Claim]) -> None:
        with contextlib.suppress(UnavailableError):
            async with self._db.global_tx() as conn:
                await conn.execute(_RELEASE, ([c.id for c in claims],))

    async def _write(
        self, organization_id: UUID, group: list[Claim], scored: dict[UUID, Prediction]
    ) -> tuple[list[NewEvent], list[UUID]]:
        """Writes one organization's results; returns its events and the customers whose rows were written."""
        values = []
        for claim in group:
            p = scored.get(claim.id)
            values.append({
                "id": str(claim.id), "ts": claim.ts.isoformat(), "version": claim.version,
                "sentiment": stored_sentiment(p).as_json() if p else None,
                "confidence": round(p.confidence, 4) if p else None,
            })
        customers = sorted({c.customer_id for c in group})
        async with self._db.tenant_tx(organization_id) as conn:
            await conn.execute(_LOCK_CUSTOMERS, (customers,))
            async with conn.cursor(row_factory=tuple_row) as cur:
                await cur.execute(_WRITE_INTERACTIONS, (json.dumps(values),))
                written = {row[0] for row in await cur.fetchall()}
            averages = await self._update_averages(conn, sorted({c.customer_id for c in group if c.id in written}))
        STALE.inc(len(group) - len(written))
        events = []
        for claim in group:
            p = scored.get(claim.id)
            if p is None or claim.id not in written:
                continue
            average = averages.get(claim.customer_id)
            events.append(NewEvent(
                SENTIMENT_ANALYZED, claim.id, claim.customer_id, claim.channel,
                {
                    "label": p.label, "confidence": p.confidence, "scores": p.scores,
                    "model": p.model, "modelVersion": p.model_version,
                    "averageSentiment": float(average) if average is not None else None,
                },
                claim.external_customer_id,
            ))
        return events, sorted({c.customer_id for c in group if c.id in written})

    @staticmethod
    async def _update_averages(conn: Conn, customers: list[UUID]) -> dict[UUID, Decimal | None]:
        if not customers:
            return {}
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(_UPDATE_AVERAGES, (customers,))
            return {row[0]: row[1] for row in await cur.fetchall()}

    async def run(self) -> None:
        """Scores until cancelled; pauses when caught up and while the model tier or database is down.

        Batch k's write-back runs while batch k+1 is claimed and scored; it is awaited before batch k+2's
        write-back starts, so at most one write-back is in flight and claims stay oldest first."""
        log.info("worker.started", backend=self._backend.name, batch_size=self._batch_size)
        backlog = asyncio.create_task(self._watch_backlog(), name="worker-backlog")
        writing: asyncio.Task[BatchReport] | None = None
        try:
            while True:
                claims: list[Claim] = []
                scored: dict[UUID, Prediction] = {}
                failure: Exception | None = None
                try:
                    claims = await self._claim()
                    scored = await self._score(claims) if claims else {}
                except Exception as exc:
                    failure = exc
                await self._settle(writing)  # the previous batch's write-back, which ran meanwhile
                writing = None
                if isinstance(failure, InferenceUnavailable):
                    BATCH_FAILURES.labels("model").inc()
                    if not self._tier_down:
                        log.warning("worker.model_unavailable", error=str(failure), note="rows stay pending")
                    self._tier_down = True
                    await asyncio.sleep(min(max(failure.retry_after_s, self._poll_s), 5.0))
                    continue
                if failure is not None:
                    self._failed(failure)
                    await asyncio.sleep(self._poll_s)
                    continue
                if not claims:
                    await asyncio.sleep(self._poll_s)
                    continue
                writing = asyncio.create_task(self._write_back(claims, scored), name="worker-write-back")
                if len(claims) < self._batch_size:  # caught up: finish this batch, then wait a poll
                    await self._settle(writing)
                    writing = None
                    await asyncio.sleep(self._poll_s)
        finally:
            backlog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await backlog
            if writing is not None:  # a stopping worker finishes its write-back (short) instead of leaving leases
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await writing

    async def _settle(self, writing: asyncio.Task[BatchReport] | None) -> None:
        """Waits for a batch's write-back and accounts for it (its failure is logged, not raised: the rows
        keep their leases and are claimed again once those expire)."""
        if writing is None:
            return
        try:
            # Shielded: a worker stopped meanwhile lets the write-back finish (see ``run``'s finally).
            report = await asyncio.shield(writing)
        except Exception as exc:
            self._failed(exc)
            return
        if self._tier_down and report.scored:
            log.info("worker.model_available")
            self._tier_down = False
        log.debug("worker.batch", claimed=report.claimed, scored=report.scored)

    @staticmethod
    def _failed(exc: Exception) -> None:
        if isinstance(exc, UnavailableError):
            BATCH_FAILURES.labels("database").inc()
            log.warning("worker.database_unavailable", error=exc.message)
        else:
            BATCH_FAILURES.labels("error").inc()
            log.error("worker.batch_failed", error=repr(exc), exc_info=exc)

    async def read_backlog(self) -> tuple[int, float]:
        """Pending rows (up to the count limit) and the oldest one's age in seconds (0 when none)."""
        async with self._db.global_tx() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(_BACKLOG, (self._backlog_limit,))
            row = await cur.fetchone()
        if row is None:
            return 0, 0.0
        return int(row[0]), float(row[1] or 0.0)

    async def _watch_backlog(self) -> None:
        if self._backlog_interval_s <= 0:
            return
        while True:
            started = time.monotonic()
            try:
                pending, oldest_age_s = await self.read_backlog()
            except UnavailableError:
                pass  # the gauges keep their last values; the loop's own warnings say why
            else:
                PENDING.set(pending)
                OLDEST_AGE.set(oldest_age_s)
            await asyncio.sleep(max(0.0, self._backlog_interval_s - (time.monotonic() - started)))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="analysis-worker")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
