"""Ingestion and the analysis worker under load on the same customers: no deadlock, nothing lost.

Both lock customer rows (ingestion's upsert of counters, the worker's write-back of averages). They
take them in one documented order (ascending external id, customers before interactions), so that
PostgreSQL never has to break a cycle: ``pg_stat_database.deadlocks`` stays at zero, no client sees a
503, and the server log holds no "deadlock detected".
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.databases import create_database, drop_database
from tests.inference_support import MODEL_REPOSITORY, requires_model
from tests.ingest_support import Org, batch, event, new_org
from tests.support import Stack, wait_until

pytestmark = requires_model

CLIENTS = 2
BATCHES_PER_CLIENT = 25
BATCH_SIZE = 120
CUSTOMERS = 40


@pytest.fixture(scope="module")
def busy_stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A server whose worker scores as fast as it can, on a database of its own."""
    url = create_database()
    stack = Stack(url, redis_url, Path(tmp_path_factory.mktemp("lock-order")), extra_env={
        "INSIGHTS_INFERENCE__MODEL_REPOSITORY": str(MODEL_REPOSITORY),
        "INSIGHTS_WORKER__POLL_INTERVAL_S": "0.05",
        "INSIGHTS_WORKER__BATCH_SIZE": "64",
    }).start()
    yield stack
    stack.stop()
    drop_database(url)


def deadlocks(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").fetchone()
    return int(row[0]) if row else -1


def test_concurrent_batches_and_scoring_never_deadlock(busy_stack: Stack) -> None:
    org: Org = new_org(busy_stack, "Locks")
    customers = [f"shared-{uuid.uuid4().hex[:6]}-{n}" for n in range(CUSTOMERS)]
    before = deadlocks(busy_stack.database_url)

    def client(seed: int) -> list[int]:
        rng = random.Random(seed)
        statuses = []
        with busy_stack.client() as http:
            for number in range(BATCHES_PER_CLIENT):
                # Every batch touches most customers, in its own random order: the worst case for lock order.
                items = [event(rng.choice(customers), ago=timedelta(seconds=number),
                               content=f"{rng.choice(['love it', 'hate it', 'so-so'])} #{seed}-{number}-{i}")
                         for i in range(BATCH_SIZE)]
                statuses.append(batch(http, org, items).status_code)
        return statuses

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = [s for result in pool.map(client, range(CLIENTS)) for s in result]
    assert statuses == [200] * (CLIENTS * BATCHES_PER_CLIENT)

    stored = CLIENTS * BATCHES_PER_CLIENT * BATCH_SIZE

    def all_scored() -> bool:
        with psycopg.connect(busy_stack.database_url) as conn:
            row = conn.execute("SELECT count(*) FILTER (WHERE processed_at IS NOT NULL), count(*)"
                               " FROM customer_interactions WHERE organization_id = %s", (org.id,)).fetchone()
        assert row is not None and row[1] == stored
        return bool(row[0] == stored)

    wait_until(all_scored, 300, "the worker to score every interaction")
    with psycopg.connect(busy_stack.database_url) as conn:
        counted = conn.execute("SELECT sum(interaction_count) FROM customers WHERE organization_id = %s",
                               (org.id,)).fetchone()
    assert counted == (stored,), "every counter update committed exactly once"
    assert deadlocks(busy_stack.database_url) == before
    assert "deadlock detected" not in busy_stack.server_log()
