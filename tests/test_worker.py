"""The analysis worker, in process, on a private database (no server's worker competes for its rows).

Real PostgreSQL, Redis and model. Workers are run batch by batch (``run_once``) so each test
decides when a batch happens; two workers run concurrently for the no-double-scoring check.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from uuid import UUID

import psycopg
import pytest
import redis

from insights.db.migrate import apply_migrations
from insights.db.pool import Database
from insights.events import EventBus, stream_key
from insights.events import _decode as decode_event
from insights.inference.embedded import EmbeddedBackend
from insights.inference.triton import TritonBackend
from insights.inference.types import InferenceUnavailable, Prediction
from insights.settings import Settings
from insights.worker import AnalysisWorker
from tests.conftest import ADMIN_URL
from tests.inference_support import (
    MODEL_FILES,
    create_database,
    drop_database,
    inference_settings,
    requires_model,
)
from tests.support import free_port

pytestmark = requires_model


@pytest.fixture(scope="module")
def worker_settings(redis_url: str) -> Iterator[Settings]:
    name = create_database(ADMIN_URL)
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    settings = inference_settings(url, redis_url, worker_batch_size=16)
    apply_migrations(settings)
    yield settings
    drop_database(ADMIN_URL, name)


@pytest.fixture(scope="module")
async def db(worker_settings: Settings) -> AsyncIterator[Database]:
    database = Database(worker_settings)
    await database.open()
    yield database
    await database.close()


@pytest.fixture(scope="module")
async def backend() -> AsyncIterator[EmbeddedBackend]:
    embedded = EmbeddedBackend(MODEL_FILES)
    await embedded.start()
    yield embedded
    await embedded.close()


@pytest.fixture(scope="module")
async def events(worker_settings: Settings) -> AsyncIterator[EventBus]:
    bus = EventBus(worker_settings)
    yield bus
    await bus.close()


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
    worker_settings: Settings, db: Database, backend: EmbeddedBackend, events: EventBus, owner: psycopg.Connection,
) -> None:
    contents = ["I love this, thank you!", "Terrible service, I want a refund.", None, "   ",
                "The parcel arrived on Tuesday.", "Best support team ever"]
    org, ids = seed(owner, contents)
    other_org, other_ids = seed(owner, ["Worst app I have used", "Great update"], customers=1)
    worker = AnalysisWorker(worker_settings, db, backend, events)
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
        assert set(sentiment) == {"label", "negative", "neutral", "positive", "model"}
        assert sentiment["label"] == p.label and sentiment["model"] == f"sentiment:{p.model_version}"
        assert abs(sum(sentiment[k] for k in ("negative", "neutral", "positive")) - 1) < 0.01
        assert float(confidence) == pytest.approx(p.confidence, abs=1e-4)

    # Average sentiment = mean of (positive - negative) over the customer's scored interactions.
    for customer_id, average in owner.execute(
        "SELECT id, average_sentiment FROM customers WHERE organization_id IN (%s, %s)", (org, other_org)
    ).fetchall():
        polarities = [s["positive"] - s["negative"] for _, s, _, c in rows.values() if c == customer_id and s]
        assert average == pytest.approx(Decimal(str(round(sum(polarities) / len(polarities), 4))), abs=Decimal("1e-4"))

    # One sentiment.analyzed event per scored interaction, on its own organization's stream. Read with
    # XRANGE (the stream's storage format is the event bus's: decoded by its own function).
    stream = redis.Redis.from_url(worker_settings.redis_url, decode_responses=True)
    for organization, scored_ids in ((org, [ids[i] for i in (0, 1, 4, 5)]), (other_org, other_ids)):
        entries = [decode_event(entry_id, fields) for entry_id, fields in stream.xrange(stream_key(organization))]
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

    async def start(self) -> None: ...

    async def predict(
        self, texts: list[str], *, timeout_s: float | None = None, background: bool = False
    ) -> list[Prediction]:
        self.texts += texts
        return await self.inner.predict(texts, timeout_s=timeout_s, background=background)

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
        await asyncio.gather(drain(AnalysisWorker(worker_settings, db, first)),
                             drain(AnalysisWorker(worker_settings, other_db, second)))
    finally:
        await other_db.close()
    assert pending(owner, ids) == 0
    assert first.texts and second.texts, "both workers took part"
    assert not set(first.texts) & set(second.texts)
    assert sorted(first.texts + second.texts) == sorted(contents)


class Gated(Recording):
    """Holds the batch inside its transaction until released: a worker stopped mid-batch."""

    def __init__(self, inner: EmbeddedBackend) -> None:
        super().__init__(inner)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def predict(
        self, texts: list[str], *, timeout_s: float | None = None, background: bool = False
    ) -> list[Prediction]:
        self.entered.set()
        await self.release.wait()
        return await super().predict(texts, timeout_s=timeout_s, background=background)


async def test_crash_mid_batch_loses_nothing_and_locked_rows_are_skipped(
    worker_settings: Settings, db: Database, backend: EmbeddedBackend, owner: psycopg.Connection,
) -> None:
    _, ids = seed(owner, [f"crash test {i}, I am happy" for i in range(8)])
    gated = Gated(backend)
    crashing = asyncio.create_task(AnalysisWorker(worker_settings, db, gated).run_once())
    await asyncio.wait_for(gated.entered.wait(), 30)
    # While the first worker holds its batch, another one skips those rows instead of waiting on them.
    assert (await AnalysisWorker(worker_settings, db, backend).run_once()).claimed == 0
    crashing.cancel()  # the worker dies mid-batch: its transaction rolls back
    with pytest.raises(asyncio.CancelledError):
        await crashing
    assert pending(owner, ids) == 8, "an unfinished batch leaves every row pending"
    assert await drain(AnalysisWorker(worker_settings, db, backend)) == 8
    assert pending(owner, ids) == 0


async def test_model_tier_down_leaves_rows_pending_for_the_model(
    worker_settings: Settings, db: Database, backend: EmbeddedBackend, owner: psycopg.Connection,
) -> None:
    _, ids = seed(owner, ["I am very unhappy with this", "Lovely!"])
    # A real fault: Triton is not running on this port (connection refused, after the seed's retries).
    down = TritonBackend(f"127.0.0.1:{free_port()}", MODEL_FILES)
    try:
        with pytest.raises(InferenceUnavailable):
            await AnalysisWorker(worker_settings, db, down).run_once()
    finally:
        await down.close()
    assert pending(owner, ids) == 2, "no rule-based scores are stored: the rows wait for the model"
    await drain(AnalysisWorker(worker_settings, db, backend))
    models = owner.execute("SELECT sentiment->>'model' FROM customer_interactions WHERE id = ANY(%s)",
                           (ids,)).fetchall()
    assert [m for (m,) in models] == [f"sentiment:{backend.model_version}"] * 2


