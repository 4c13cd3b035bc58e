"""A server killed with SIGKILL in the middle of a stream of batches, followed
by client retries with the same idempotency keys, ends with every accepted event stored exactly once."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import psycopg
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from insights.v1 import common_pb2, ingestion_pb2, ingestion_pb2_grpc
from tests.ingest_support import new_org
from tests.support import Stack, wait_until

BATCHES = 40
BATCH_SIZE = 250
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
             grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}


@pytest.fixture
def own_stack(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(database_url, redis_url, tmp_path / "crash").start()
    yield running
    running.stop()


def _batch(run: str, number: int) -> ingestion_pb2.BatchIngestRequest:
    now = datetime.now(UTC)
    items = []
    for n in range(BATCH_SIZE):
        ts = Timestamp()
        ts.FromDatetime(now - timedelta(seconds=n))
        items.append(common_pb2.InteractionInput(
            customer_id=f"{run}-c{(number * BATCH_SIZE + n) % 97}", timestamp=ts, channel="chat",
            event_type="support_chat", content=f"message {number}/{n}",
        ))
    return ingestion_pb2.BatchIngestRequest(interactions=items, idempotency_key=f"{run}-batch-{number}")


def test_sigkill_mid_stream_then_retries_store_every_event_once(own_stack: Stack,
                                                                 owner_db: psycopg.Connection) -> None:
    org = new_org(own_stack, "Crash")
    run = f"crash-{uuid.uuid4().hex[:8]}"
    acknowledged: dict[int, list[str]] = {}
    attempts = {"failed": 0}
    done = threading.Event()
    errors: list[BaseException] = []

    def client() -> None:
        try:
            with grpc.insecure_channel(own_stack.grpc_target) as channel:
                stub = ingestion_pb2_grpc.IngestionServiceStub(channel)
                for number in range(BATCHES):
                    request = _batch(run, number)  # the same request, key included, on every retry
                    while True:
                        try:
                            response = stub.BatchIngest(request, metadata=org.metadata, timeout=30)
                        except grpc.RpcError as exc:
                            if exc.code() not in RETRYABLE:
                                raise
                            attempts["failed"] += 1
                            time.sleep(0.2)  # client back-off before its retry
                            continue
                        assert response.successful == BATCH_SIZE
                        acknowledged[number] = [r.interaction_id for r in response.results]
                        break
        except BaseException as exc:  # the test asserts there were none
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    wait_until(lambda: len(acknowledged) >= 5 or done.is_set(), 120, "the first batches")
    assert own_stack.server is not None
    own_stack.server.send_signal(signal.SIGKILL)  # batches keep coming: one is in flight
    own_stack.server.wait()
    own_stack.start_server()
    own_stack.wait_healthy()
    thread.join(300)
    assert not errors, errors
    assert done.is_set() and len(acknowledged) == BATCHES
    assert attempts["failed"] >= 1, "the kill did not interrupt any call"

    stored, distinct, keys, counted = owner_db.execute(
        """
        SELECT (SELECT count(*) FROM customer_interactions WHERE organization_id = %(org)s),
               (SELECT count(DISTINCT content) FROM customer_interactions WHERE organization_id = %(org)s),
               (SELECT sum(cardinality(array_remove(interaction_ids, NULL))) FROM ingest_batch_idempotency
                 WHERE organization_id = %(org)s),
               (SELECT sum(interaction_count) FROM customers WHERE organization_id = %(org)s)
        """,
        {"org": org.id},
    ).fetchone() or (0, 0, 0, 0)
    expected = BATCHES * BATCH_SIZE
    print(f"\nSIGKILL test: {expected} events sent, {attempts['failed']} failed attempts retried, "
          f"{stored} stored, {distinct} distinct, customer counters sum to {counted}")
    assert stored == distinct == keys == counted == expected
    acknowledged_ids = {i for ids in acknowledged.values() for i in ids}
    assert len(acknowledged_ids) == expected
    found = owner_db.execute("SELECT count(*) FROM customer_interactions WHERE id = ANY(%s::uuid[])",
                             (list(acknowledged_ids),)).fetchone()
    assert found == (expected,), "an acknowledged event is missing"
