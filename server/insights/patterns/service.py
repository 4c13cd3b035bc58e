"""Behaviour patterns, recomputed after a customer's interactions are scored; debounced across workers.

1. **enqueue** (``AnalysisWorker``'s ``on_scored`` hook, after each write-back commit): one row per
   customer in ``pattern_jobs``, due ``quiet_s`` after the latest change but at most ``max_delay_s`` after
   the first; while a burst keeps being scored the row is pushed back, so a burst of 1,000 events for
   one customer costs one detection.
2. **claim** due jobs of any organization (``pattern_jobs_claim``: lease, SKIP LOCKED; several workers
   never detect the same customer at once, and a dead worker's lease expires).
3. **detect** per job in a tenant transaction: lock the customer (KEY SHARE, customers first as in the
   lock order of ingestion/store.py, so erasure cannot deadlock with it), read the lookback window,
   run ``detection.detect_patterns`` in the organization's zone, replace the customer's patterns, and
   delete the job unless it was pushed back meanwhile (then it runs again).
4. **emit** ``pattern.detected`` for each pattern type that was not current before, after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson
from prometheus_client import Counter
from psycopg.rows import kwargs_row, tuple_row

from insights.errors import UnavailableError
from insights.events.types import PATTERN_DETECTED, NewEvent
from insights.infra.db import Conn, Database
from insights.infra.logging import get_logger
from insights.patterns.detection import DetectedPattern, HistoryItem, detect_patterns
from insights.settings import PatternSettings

log = get_logger(__name__)
DETECTIONS = Counter("insights_pattern_detections_total", "Customers whose behaviour patterns were recomputed")

_ENQUEUE = """
INSERT INTO pattern_jobs AS j (organization_id, customer_id, queued_at, due_at)
SELECT %(org)s, c, now(), now() + make_interval(secs => %(quiet)s)
FROM unnest(%(customers)s::uuid[]) AS c ORDER BY c
ON CONFLICT (organization_id, customer_id) DO UPDATE
SET due_at = least(j.queued_at + make_interval(secs => %(max_delay)s), now() + make_interval(secs => %(quiet)s))
"""
_HISTORY = """
SELECT timestamp, channel, event_type, sentiment_label, sentiment_score,
       (content IS NOT NULL AND content <> '') AS has_content
FROM customer_interactions
WHERE customer_id = %s AND timestamp > %s AND timestamp <= %s
ORDER BY timestamp, id
"""


@dataclass(frozen=True)
class Job:
    organization_id: UUID
    customer_id: UUID
    due_at: datetime


class EventSink(Protocol):
    """Where new patterns are announced (the event publisher), after the commit."""

    async def publish_many(self, organization_id: UUID, events: Sequence[NewEvent]) -> int: ...


Invalidate = Callable[[UUID], Awaitable[object]]


def history_item(timestamp: datetime, channel: str, event_type: str, sentiment_label: str,
                 sentiment_score: object, has_content: bool) -> HistoryItem:
    scored = sentiment_label in ("negative", "neutral", "positive")
    score = float(sentiment_score) if scored and sentiment_score is not None else None  # type: ignore[arg-type]
    return HistoryItem(timestamp, channel, event_type, sentiment_label if scored else None,
                       max(-1.0, min(1.0, score)) if score is not None else None, has_content)


class PatternService:
    def __init__(self, settings: PatternSettings, db: Database, events: EventSink | None = None,
                 invalidate: Invalidate | None = None) -> None:
        self._settings = settings
        self._db = db
        self._events = events
        self._invalidate = invalidate
        self._task: asyncio.Task[None] | None = None

    async def enqueue(self, organization_id: UUID, customer_ids: list[UUID]) -> None:
        """The worker's ``on_scored`` hook: these customers' patterns are due for a (debounced) recompute."""
        if not customer_ids:
            return
        async with self._db.tenant_tx(organization_id) as conn:
            await conn.execute(_ENQUEUE, {
                "org": organization_id, "customers": sorted(set(customer_ids)), "quiet": self._settings.quiet_s,
                "max_delay": self._settings.max_delay_s,
            })

    async def run_once(self, *, now: datetime | None = None) -> int:
        """Claims due jobs and detects each; returns how many customers were recomputed."""
        async with self._db.global_tx() as conn, conn.cursor(row_factory=kwargs_row(Job)) as cur:
            await cur.execute("SELECT * FROM pattern_jobs_claim(%s, %s)",
                              (self._settings.batch_size, self._settings.lease_s))
            jobs = await cur.fetchall()
        done = 0
        for job in jobs:
            try:
                await self.detect(job, now=now)
                done += 1
            except UnavailableError:
                raise
            except Exception:
                log.exception("patterns.detection_failed", customer_id=str(job.customer_id))
        return done

    async def detect(self, job: Job, *, now: datetime | None = None) -> list[DetectedPattern]:
        """Recomputes one customer's patterns now; returns them."""
        moment = now or datetime.now(UTC)
        new_types: list[tuple[UUID, DetectedPattern]] = []
        external_id = ""
        async with self._db.tenant_tx(job.organization_id) as conn:
            locked = await conn.execute("SELECT external_id FROM customers WHERE id = %s FOR KEY SHARE",
                                        (job.customer_id,))
            row = await locked.fetchone()
            if row is None:  # erased meanwhile
                await self._finish(conn, job)
                return []
            external_id = str(row["external_id"])
            zone_row = await (await conn.execute("SELECT time_zone FROM organizations WHERE id = %s",
                                                 (job.organization_id,))).fetchone()
            zone = ZoneInfo(str(zone_row["time_zone"])) if zone_row else ZoneInfo("UTC")
            start = moment - timedelta(days=self._settings.lookback_days)
            async with conn.cursor(row_factory=kwargs_row(history_item)) as cur:
                await cur.execute(_HISTORY, (job.customer_id, start, moment))
                history = await cur.fetchall()
            found = detect_patterns(history, now=moment, lookback_days=self._settings.lookback_days, time_zone=zone)
            new_types = await self._store(conn, job, found, moment)
            await self._finish(conn, job)
        DETECTIONS.inc()
        if self._invalidate is not None:
            await self._invalidate(job.organization_id)
        if self._events is not None and new_types:
            await self._events.publish_many(job.organization_id, [
                NewEvent(PATTERN_DETECTED, None, job.customer_id, "", {
                    "patternId": str(pattern_id), "patternType": p.pattern_type, "confidence": p.confidence,
                    "frequency": p.frequency, "description": p.description,
                    "validUntil": p.valid_until.isoformat(),
                }, external_id)
                for pattern_id, p in new_types
            ])
        return found

    async def _store(self, conn: Conn, job: Job, found: list[DetectedPattern], moment: datetime
                     ) -> list[tuple[UUID, DetectedPattern]]:
        """Replaces the customer's patterns; returns the ids of those whose type was not current before."""
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(
                "DELETE FROM behavior_patterns WHERE customer_id = %s RETURNING pattern_type,"
                " (valid_until IS NULL OR valid_until > %s)", (job.customer_id, moment))
            before = {t for t, current in await cur.fetchall() if current}
            if not found:
                return []
            await cur.execute(
                """
                INSERT INTO behavior_patterns (customer_id, organization_id, pattern_type, confidence, frequency,
                                               description, metadata, evidence, detected_at, valid_until)
                SELECT %s, %s, t, c, f, d, m::jsonb, e::jsonb, %s, v
                FROM unnest(%s::text[], %s::numeric[], %s::int[], %s::text[], %s::text[], %s::text[],
                            %s::timestamptz[]) AS u(t, c, f, d, m, e, v)
                RETURNING id, pattern_type
                """,
                (job.customer_id, job.organization_id, moment, [p.pattern_type for p in found],
                 [p.confidence for p in found], [p.frequency for p in found], [p.description for p in found],
                 [orjson.dumps(p.metadata).decode() for p in found], [orjson.dumps(p.evidence).decode() for p in found],
                 [p.valid_until for p in found]),
            )
            ids = {t: i for i, t in await cur.fetchall()}
        return [(ids[p.pattern_type], p) for p in found if p.pattern_type not in before]

    @staticmethod
    async def _finish(conn: Conn, job: Job) -> None:
        # Deleted only if not pushed back meanwhile; otherwise released to run again when due.
        deleted = await conn.execute(
            "DELETE FROM pattern_jobs WHERE organization_id = %s AND customer_id = %s AND due_at = %s",
            (job.organization_id, job.customer_id, job.due_at))
        if deleted.rowcount == 0:
            await conn.execute(
                "UPDATE pattern_jobs SET claimed_until = NULL WHERE organization_id = %s AND customer_id = %s",
                (job.organization_id, job.customer_id))

    async def run(self) -> None:
        log.info("patterns.started", quiet_s=self._settings.quiet_s)
        while True:
            try:
                done = await self.run_once()
            except UnavailableError as exc:
                log.warning("patterns.database_unavailable", error=exc.message)
                done = 0
            except Exception:
                log.exception("patterns.round_failed")
                done = 0
            if done < self._settings.batch_size:
                await asyncio.sleep(self._settings.poll_interval_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="pattern-detection")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
