"""The analysis worker, in process, on a private database (no server's worker competes for its rows).

Real PostgreSQL, Redis and model. Workers are run batch by batch (``run_once``) so each test
decides when a batch happens; two workers run concurrently for the no-double-scoring check, and a
real ``insights worker`` process is killed mid-batch for the crash check.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
import redis

from insights.events.codec import decode as decode_event
from insights.events.publisher import EventPublisher
from insights.inference.embedded import EmbeddedBackend
from insights.inference.triton import TritonBackend
from insights.inference.types import InferenceUnavailable, Prediction
from insights.infra.db import Database
from insights.infra.redis import Redis
from insights.sentiment.worker import AnalysisWorker
from insights.settings import Settings
from tests.inference_support import (
    MODEL_FILES,
    eventually,
    migrated_settings,
    opened_database,
    requires_model,
)
from tests.support import free_port, wait_until

pytestmark = requires_model


@pytest.fixture(scope="module")
def worker_settings(redis_url: str, redis_key_prefix: str) -> Iterator[Settings]:
    with migrated_settings(redis_url, worker={"batch_size": 16}, redis={"key_prefix": redis_key_prefix}) as settings:
        yield settings


@pytest.fixture(scope="module")
async def db(worker_settings: Settings) -> AsyncIterator[Database]:
    async with opened_database(worker_settings) as database:
        yield database


@pytest.fixture(scope="module")
async def backend() -> AsyncIterator[EmbeddedBackend]:
    embedded = EmbeddedBackend(MODEL_FILES)
    await embedded.start()
    yield embedded
    await embedded.close()


@pytest.fixture(scope="module")
async def redis_client(worker_settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_settings(worker_settings)
    yield client
    await client.close()


@pytest.fixture(scope="module")
async def events(worker_settings: Settings, redis_client: Redis) -> AsyncIterator[EventPublisher]:
    publisher = EventPublisher(worker_settings.stream, redis_client, retry_after_s=0.1)
    yield publisher
    await publisher.close()


@pytest.fixture
def owner(worker_settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(worker_settings.database_url, autocommit=True) as conn:
        yield conn


def seed(owner: psycopg.Connection, contents: list[str | None], customers: int = 2) -> tuple[UUID, list[UUID]]:
    """An organization with ``customers`` customers and one pending interaction per content."""
    org = owner.execute("INSERT INTO organizations (name) VALUES ('Worker test') RETURNING id").fetchone()
    assert org is not None
    customer_ids = []
    for i in range(customers):
        row = owner.execute(
            "INSERT INTO customers (organization_id, external_id, first_seen_at, last_seen_at)"
            " VALUES (%s, %s, now(), now()) RETURNING id", (org[0], f"c{i}-{uuid.uuid4().hex[:6]}"),
        ).fetchone()
        assert row is not None
        customer_ids.append(row[0])
    ids = []
    for i, content in enumerate(contents):
        row = owner.execute(
            "INSERT INTO customer_interactions (customer_id, organization_id, timestamp, channel, event_type, content)"
            " VALUES (%s, %s, now() - interval '1 minute', 'chat', 'message', %s) RETURNING id",
            (customer_ids[i % customers], org[0], content),
        ).fetchone()
        assert row is not None
        ids.append(row[0])
    return org[0], ids


async def drain(worker: AnalysisWorker) -> int:
    total = 0
    while (report := await worker.run_once()).claimed:
        total += report.claimed
    return total


def pending(owner: psycopg.Connection, ids: list[UUID]) -> int:
    row = owner.execute("SELECT count(*) FROM customer_interactions WHERE id = ANY(%s) AND processed_at IS NULL",
                        (ids,)).fetchone()
    return int(row[0]) if row else -1


async def test_worker_scores_rows_updates_averages_and_emits_events(
    worker_settings: Settings, db: Database, backend: EmbeddedBackend, events: EventPublisher, redis_client: Redis,
    owner: psycopg.Connection,
) -> None:
    contents = ["I love this, thank you!", "Terrible service, I want a refund.", None, "   ",
                "The parcel arrived on Tuesday.", "Best support team ever"]
    org, ids = seed(owner, contents)
    other_org, other_ids = seed(owner, ["Worst app I have used", "Great update"], customers=1)
    worker = AnalysisWorker(worker_settings.worker, db, backend, events)
    await drain(worker)

    assert pending(owner, ids + other_ids) == 0
    rows = {r[0]: r for r in owner.execute(
        "SELECT id, sentiment, sentiment_confidence, customer_id FROM customer_interactions WHERE id = ANY(%s)",
        (ids + other_ids,)).fetchall()}
    expected = {c: (await backend.predict([c]))[0] for c in [*contents, "Worst app I have used", "Great update"]
                if c and c.strip()}
    for interaction_id, content in zip(ids + other_ids, [*contents, "Worst app I have used", "Great update"],
                                       strict=True):
        _, sentiment, confidence, _ = rows[interaction_id]
        if content is None or not content.strip():
            assert sentiment is None and confidence is None, "no text: processed, nothing to score"
            continue
        p = expected[content]
        assert set(sentiment) == {"label", "negative", "neutral", "positive", "model", "version"}
        assert sentiment["label"] == p.label and (sentiment["model"], sentiment["version"]) == ("sentiment",
                                                                                                 p.model_version)
        assert abs(sum(sentiment[k] for k in ("negative", "neutral", "positive")) - 1) < 0.01
        assert float(confidence) == pytest.approx(p.confidence, abs=1e-4)

    # Average sentiment = mean of (positive - negative) over the customer's scored interactions.
    for customer_id, average in owner.execute(
        "SELECT id, average_sentiment FROM customers WHERE organization_id IN (%s, %s)", (org, other_org)
    ).fetchall():
        polarities = [s["positive"] - s["negative"] for _, s, _, c in rows.values() if c == customer_id and s]
        assert average == pytest.approx(Decimal(str(round(sum(polarities) / len(polarities), 4))), abs=Decimal("1e-4"))

    # One sentiment.analyzed event per scored interaction, on its own organization's stream. Read with
    # XRANGE (the stream's storage format is the event codec's: decoded by its own function).
    stream = redis.Redis.from_url(worker_settings.redis_url, decode_responses=True)
    for organization, scored_ids in ((org, [ids[i] for i in (0, 1, 4, 5)]), (other_org, other_ids)):
        key = redis_client.keys.events(organization)
        entries = [decode_event(entry_id, fields) for entry_id, fields in stream.xrange(key)]
        analyzed = [e for e in entries if e.type == "sentiment.analyzed"]
        assert sorted(e.interaction_id for e in analyzed) == sorted(str(i) for i in scored_ids)
        assert {e.payload["label"] for e in analyzed} <= {"negative", "neutral", "positive"}
    stream.close()


class Recording:
    """The real backend, recording which texts each worker sent (to prove none is scored twice)."""

    def __init__(self, inner: EmbeddedBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.texts: list[str] = []

    @property
    def model_version(self) -> str | None:
        return self.inner.model_version

    @property
    def versions(self) -> tuple[str, ...]:
        return self.inner.versions

    async def start(self) -> None: ...

    async def predict(
        self, texts: list[str], *, timeout_s: float | None = None, background: bool = False,
        version: str | None = None,
    ) -> list[Prediction]:
        self.texts += texts
        return await self.inner.predict(texts, timeout_s=timeout_s, background=background, version=version)

    async def close(self) -> None: ...


async def test_concurrent_workers_never_score_a_row_twice(
    worker_settings: Settings, db: Database, backend: EmbeddedBackend, owner: psycopg.Connection,
) -> None:
    contents = [f"message {i}: the service was {'great' if i % 2 else 'slow'}" for i in range(96)]
    _, ids = seed(owner, contents, customers=5)
    first, second = Recording(backend), Recording(backend)
    # Each worker has its own pool, as two processes would.
    other_db = Database(worker_settings)
    await other_db.open()
    try:
        await asyncio.gather(drain(AnalysisWorker(worker_settings.worker, db, first)),
                             drain(AnalysisWorker(worker_settings.worker, other_db, second)))
    finally:
        await other_db.close()
    assert pending(owner, ids) == 0
    assert first.texts and second.texts, "both workers took part"
    assert not set(first.texts) & set(second.texts)
    assert sorted(first.texts + second.texts) == sorted(contents)


def claimed(owner: psycopg.Connection, ids: list[UUID]) -> int:
    """How many of the rows a worker holds a live lease on."""
    row = owner.execute("SELECT count(*) FROM customer_interactions WHERE id = ANY(%s) AND claimed_until > now()",
                        (ids,)).fetchone()
    return int(row[0]) if row else -1


def claimable(owner: psycopg.Connection, ids: list[UUID]) -> set[UUID]:
    """Which of the rows a worker's claim would take now (the claim is rolled back: nothing is taken)."""
    with owner.transaction(force_rollback=True):
        return {row[0] for row in owner.execute("SELECT id FROM worker_claim_pending(1000, 60)")} & set(ids)


def kill_worker_mid_batch(settings: Settings, owner: psycopg.Connection, ids: list[UUID], log: Path) -> None:
    """Runs ``insights worker`` against a model tier that accepts connections and never answers, and
    SIGKILLs it once it holds the rows' batch: claimed (a committed lease of 3 s), model call pending."""
    with socket.socket() as silent_tier, log.open("wb") as output:
        silent_tier.bind(("127.0.0.1", 0))
        silent_tier.listen()
        env = {k: v for k, v in os.environ.items() if not k.startswith("INSIGHTS_")}
        env.update(DATABASE_URL=settings.database_url, REDIS_URL=settings.redis_url,
                   TRITON_URL=f"127.0.0.1:{silent_tier.getsockname()[1]}", INSIGHTS_WORKER__BATCH_SIZE="1000",
                   INSIGHTS_WORKER__INFERENCE_TIMEOUT_S="600", INSIGHTS_INFERENCE__TRITON_ATTEMPT_TIMEOUT_S="600",
                   INSIGHTS_WORKER__LEASE_S="3", INSIGHTS_DB__MIGRATE_ON_START="false")
        worker = subprocess.Popen([sys.executable, "-m", "insights", "worker"], env=env, stdout=output,
                                  stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: claimed(owner, ids) == len(ids), 60, "the worker to claim the batch")
            assert pending(owner, ids) == len(ids)
            # Background work: the process yields the CPU to API servers on the same host.
            assert os.getpriority(os.PRIO_PROCESS, worker.pid) == max(os.getpriority(os.PRIO_PROCESS, 0),
                                                                     settings.worker.nice)
            assert not claimable(owner, ids), "another worker skips a leased batch instead of waiting on it"
            # No row lock is held across the model call: an edit goes through at once.
            with owner.transaction():
                owner.execute("SET LOCAL lock_timeout = '2s'")
                owner.execute("UPDATE customer_interactions SET event_type = 'edited' WHERE id = %s", (ids[0],))
        finally:
            worker.kill()
            worker.wait(30)
    assert worker.returncode == -signal.SIGKILL, log.read_text(errors="replace")[-2000:]


async def test_worker_process_killed_mid_batch_loses_nothing(
    worker_settings: Settings, db: Database, backend: EmbeddedBackend, owner: psycopg.Connection, tmp_path: Path,
) -> None:
    """A real crash (SIGKILL of the worker process mid-batch): its leases expire, and every row is then
    claimed again and scored, once."""
    _, ids = seed(owner, [f"kill test {i}, I am happy" for i in range(8)])
    kill_worker_mid_batch(worker_settings, owner, ids, tmp_path / "worker.log")
    assert pending(owner, ids) == len(ids), "the unfinished batch left every row pending"
    wait_until(lambda: claimable(owner, ids) == set(ids), 30, "the dead worker's leases to expire")
    assert await drain(AnalysisWorker(worker_settings.worker, db, backend)) >= len(ids)
    assert pending(owner, ids) == 0


class EditingDuringInference(Recording):
    """The real backend; while it scores, someone edits one of the texts (a new version, a new job)."""

    def __init__(self, inner: EmbeddedBackend, owner: psycopg.Connection, edited: UUID) -> None:
        super().__init__(inner)
        self._owner, self._edited = owner, edited

    async def predict(
        self, texts: list[str], *, timeout_s: float | None = None, background: bool = False,
        version: str | None = None,
    ) -> list[Prediction]:
        if len(self.texts) == 0:
            self._owner.execute(
                "UPDATE customer_interactions SET content = 'edited: now I am furious', version = version + 1,"
                " claimed_until = NULL WHERE id = %s", (self._edited,))
        return await super().predict(texts, timeout_s=timeout_s, background=background, version=version)


async def test_an_edit_during_inference_is_not_overwritten_by_the_stale_score(
    worker_settings: Settings, db: Database, backend: EmbeddedBackend, owner: psycopg.Connection,
) -> None:
    _, ids = seed(owner, ["I am delighted with the new release", "Thanks a lot"])
    editing = EditingDuringInference(backend, owner, ids[0])
    first = await AnalysisWorker(worker_settings.worker, db, editing).run_once()
    assert (first.claimed, first.scored) == (2, 1), "the edited row's score was discarded"
    assert pending(owner, ids) == 1
    await drain(AnalysisWorker(worker_settings.worker, db, editing))
    scored = owner.execute("SELECT content, sentiment->>'label' FROM customer_interactions WHERE id = %s",
                           (ids[0],)).fetchone()
    assert scored is not None and scored[0].startswith("edited:") and scored[1] is not None
    assert editing.texts.count("edited: now I am furious") == 1


async def test_model_tier_down_leaves_rows_pending_for_the_model(
    worker_settings: Settings, db: Database, backend: EmbeddedBackend, owner: psycopg.Connection,
) -> None:
    _, ids = seed(owner, ["I am very unhappy with this", "Lovely!"])
    # A real fault: Triton is not running on this port (connection refused, after the documented retries).
    down = TritonBackend(f"127.0.0.1:{free_port()}", MODEL_FILES)
    try:
        with pytest.raises(InferenceUnavailable):
            await AnalysisWorker(worker_settings.worker, db, down).run_once()
    finally:
        await down.close()
    assert pending(owner, ids) == 2, "no rule-based scores are stored: the rows wait for the model"
    assert claimable(owner, ids) == set(ids), "the failed batch handed its claims back at once"
    await drain(AnalysisWorker(worker_settings.worker, db, backend))
    models = owner.execute("SELECT sentiment->>'model', sentiment->>'version' FROM customer_interactions"
                           " WHERE id = ANY(%s)", (ids,)).fetchall()
    assert models == [("sentiment", backend.model_version)] * 2




async def test_the_running_worker_scores_the_backlog_oldest_first_and_reports_it(
    worker_settings: Settings, db: Database, backend: EmbeddedBackend, owner: psycopg.Connection,
) -> None:
    """``run`` (the loop that writes one batch back while the next is scored) drains a backlog in claim
    order, oldest first, batch by batch; the backlog read behind the gauges sees it and then sees none."""
    from prometheus_client import REGISTRY

    contents = [f"backlog {i}: {'a lovely' if i % 3 else 'an awful'} experience" for i in range(40)]
    _, ids = seed(owner, contents)  # one INSERT each: created_at ascending in this order
    recording = Recording(backend)
    worker = AnalysisWorker(worker_settings.worker, db, recording)
    pending_rows, oldest_age_s = await worker.read_backlog()
    assert pending_rows >= len(ids) and oldest_age_s > 0
    worker.start()
    try:
        async def drained() -> bool:
            return pending(owner, ids) == 0

        await eventually(drained, 120, "the running worker to score the backlog")
        assert REGISTRY.get_sample_value("insights_worker_pending_rows") is not None
    finally:
        await worker.stop()
    size = worker_settings.worker.batch_size
    batches = [recording.texts[i : i + size] for i in range(0, len(recording.texts), size)]
    assert [set(b) for b in batches] == [set(contents[i : i + size]) for i in range(0, len(contents), size)]
    assert await worker.read_backlog() == (0, 0.0)
