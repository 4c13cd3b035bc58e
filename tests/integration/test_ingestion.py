"""Ingestion through Envoy (REST, gRPC, gRPC-Web) over real PostgreSQL and Redis: validation per field,
one transaction per call (nothing half-stored), idempotency keys, optimistic concurrency on edits."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import psycopg
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from insights.v1 import common_pb2, ingestion_pb2, ingestion_pb2_grpc
from tests.ingest_support import Org, batch, error_info, event, ingest, new_org
from tests.support import Stack, field_violations, free_port, grpc_web_call


@pytest.fixture(scope="module")
def org(stack: Stack) -> Org:
    return new_org(stack)


def _count(owner_db: psycopg.Connection, sql: str, *params: object) -> int:
    row = owner_db.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


def test_ingest_stores_interaction_customer_and_pending_job(stack: Stack, org: Org,
                                                            owner_db: psycopg.Connection) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    with stack.client() as http:
        first = ingest(http, org, event(customer, ago=timedelta(hours=2)))
        assert first.status_code == 200, first.text
        second = ingest(http, org, event(customer, ago=timedelta(hours=1), channel="web", content=""))
        assert second.status_code == 200, second.text
    interaction_id = first.json()["interactionId"]
    assert first.json().get("duplicate", False) is False

    row = owner_db.execute(
        "SELECT i.organization_id::text, i.processed_at IS NULL OR i.sentiment IS NOT NULL, i.version, i.metadata,"
        " c.external_id, c.interaction_count,"
        " c.first_seen_at < c.last_seen_at, c.segment, c.metadata"
        " FROM customer_interactions i JOIN customers c ON c.id = i.customer_id WHERE i.id = %s",
        (interaction_id,),
    ).fetchone()
    assert row is not None
    org_id, queued, version, metadata, external_id, count, ordered, segment, profile = row
    assert org_id == org.id and external_id == customer
    # The row is its own analysis job: pending (processed_at NULL), or already scored by the worker,
    # which picks up nothing but pending rows.
    assert queued
    assert version == 1 and count == 2 and ordered
    # Enrichment: original metadata kept, normalized device/geo derived, segment on the customer.
    assert metadata["device"] == "iPhone" and metadata["_enriched"]["device"] == {"type": "mobile", "os": "ios"}
    assert metadata["_enriched"]["geo"] == {"country": "DE"}
    assert segment == "premium" and profile["device"]["os"] == "ios"


def test_customer_id_may_be_our_uuid(stack: Stack, org: Org, owner_db: psycopg.Connection) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    with stack.client() as http:
        first = ingest(http, org, event(customer)).json()["interactionId"]
        row = owner_db.execute("SELECT customer_id FROM customer_interactions WHERE id = %s", (first,)).fetchone()
        assert row is not None
        our_id = row[0]
        again = ingest(http, org, event(str(our_id)))
        assert again.status_code == 200, again.text
    assert _count(owner_db, "SELECT interaction_count FROM customers WHERE id = %s", our_id) == 2
    assert _count(owner_db, "SELECT count(*) FROM customers WHERE external_id = %s", str(our_id)) == 0


def test_invalid_event_is_rejected_per_field(stack: Stack, org: Org, owner_db: psycopg.Connection) -> None:
    bad = event(
        customerId="", channel="email", content="   ", eventType="",
        timestamp=(datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    )
    with stack.client() as http:
        response = ingest(http, org, bad)
        assert response.status_code == 400, response.text
        assert set(field_violations(response)) == {"customerId", "timestamp", "eventType", "content"}
        assert ingest(http, org, event(channel="fax")).status_code == 400
        too_long = ingest(http, org, event(content="x" * 10_001))
        assert field_violations(too_long) == {"content": "must be at most 10000 characters"}
        big = ingest(http, org, event(metadata={"blob": "y" * 17_000}))
        assert "metadata" in field_violations(big)
        # Malformed JSON types never reach the server as a 500.
        assert ingest(http, org, event(metadata="not an object")).status_code == 400
        assert ingest(http, org, event(timestamp="yesterday")).status_code == 400


def test_batch_reports_each_item_in_order(stack: Stack, org: Org, owner_db: psycopg.Connection) -> None:
    items = [event(), event(channel="carrier-pigeon"), event(), event(content="", channel="phone"), event()]
    with stack.client() as http:
        response = batch(http, org, items)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["successful"] == 3 and body["failed"] == 2
    results = body["results"]
    assert [r.get("index", 0) for r in results] == [0, 1, 2, 3, 4]
    assert [bool(r.get("interactionId")) for r in results] == [True, False, True, False, True]
    assert results[1]["error"]["fieldViolations"][0]["field"] == "interactions[1].channel"
    assert results[3]["error"]["fieldViolations"][0]["field"] == "interactions[3].content"
    stored = [r["interactionId"] for r in results if r.get("interactionId")]
    assert _count(owner_db, "SELECT count(*) FROM customer_interactions WHERE id = ANY(%s::uuid[])", stored) == 3


def test_one_key_for_two_events_in_one_batch_is_a_per_item_conflict(stack: Stack, org: Org,
                                                                     owner_db: psycopg.Connection) -> None:
    """The second event with a key already used in the batch for different content is reported as a
    conflict (ABORTED), never as stored; the same event again under its key is a duplicate of the first."""
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    key = f"dup-{uuid.uuid4()}"
    first = event(customer, idempotencyKey=key, content="The parcel never came")
    other = {**first, "content": "Something else entirely"}
    with stack.client() as http:
        response = batch(http, org, [first, other, dict(first)])
    assert response.status_code == 200, response.text
    body = response.json()
    results = body["results"]
    assert body["successful"] == 2 and body["failed"] == 1
    assert results[0]["interactionId"] and not results[0].get("duplicate", False)
    assert "interactionId" not in results[1] or not results[1]["interactionId"]
    assert results[1]["error"]["status"]["code"] == 10  # ABORTED
    assert [v["field"] for v in results[1]["error"]["fieldViolations"]] == ["interactions[1].idempotencyKey"]
    assert results[2] == {"index": 2, "interactionId": results[0]["interactionId"], "duplicate": True}
    assert _count(owner_db, "SELECT count(*) FROM customer_interactions i JOIN customers c ON c.id = i.customer_id"
                  " WHERE c.external_id = %s AND i.content = %s", customer, "The parcel never came") == 1
    assert _count(owner_db, "SELECT count(*) FROM customer_interactions i JOIN customers c ON c.id = i.customer_id"
                  " WHERE c.external_id = %s", customer) == 1


def test_batch_limits(stack: Stack, org: Org) -> None:
    with stack.client() as http:
        empty = batch(http, org, [])
        assert empty.status_code == 400 and "interactions" in field_violations(empty)
        too_many = batch(http, org, [event("c")] * 10_001)
        assert too_many.status_code == 400
        assert field_violations(too_many) == {"interactions": "must contain at most 10000 interactions"}


def test_retried_event_is_stored_once(stack: Stack, org: Org, owner_db: psycopg.Connection) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    body = event(customer, idempotencyKey=f"evt-{uuid.uuid4()}")
    with stack.client() as http:
        first = ingest(http, org, body).json()
        retry = ingest(http, org, body).json()
    assert retry == {"interactionId": first["interactionId"], "duplicate": True}
    assert _count(owner_db, "SELECT count(*) FROM customer_interactions i JOIN customers c ON c.id = i.customer_id"
                  " WHERE c.external_id = %s", customer) == 1
    assert _count(owner_db, "SELECT interaction_count FROM customers WHERE external_id = %s", customer) == 1


def test_retried_batch_is_stored_once(stack: Stack, org: Org, owner_db: psycopg.Connection) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    key = f"batch-{uuid.uuid4()}"
    own_key = f"own-{uuid.uuid4()}"
    items = [event(customer) for _ in range(50)]
    items[7]["idempotencyKey"] = own_key
    items[8] = dict(items[7])  # the same event twice in one batch, with its key: stored once
    with stack.client() as http:
        first = batch(http, org, items, key).json()
        # A retry after a timeout, and one racing it from another client: nothing stored twice.
        with ThreadPoolExecutor(4) as pool:
            retries = list(pool.map(lambda _: batch(http, org, items, key).json(), range(4)))
    assert first["successful"] == 50
    ids = [r["interactionId"] for r in first["results"]]
    assert ids[8] == ids[7] and first["results"][8]["duplicate"] is True
    for retry in retries:
        assert [r["interactionId"] for r in retry["results"]] == ids
        assert all(r["duplicate"] for r in retry["results"])
    assert _count(owner_db, "SELECT count(*) FROM customer_interactions i JOIN customers c ON c.id = i.customer_id"
                  " WHERE c.external_id = %s", customer) == 49
    assert _count(owner_db, "SELECT interaction_count FROM customers WHERE external_id = %s", customer) == 49


def test_retried_batch_stores_items_fixed_since_the_first_attempt(stack: Stack, org: Org,
                                                                  owner_db: psycopg.Connection) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    key = f"batch-{uuid.uuid4()}"
    items = [event(customer) for _ in range(5)]
    rejected = {**items[3], "channel": "fax"}
    with stack.client() as http:
        first = batch(http, org, [*items[:3], rejected, items[4]], key).json()
        fixed = batch(http, org, items, key).json()
        again = batch(http, org, items, key).json()
    assert (first["successful"], first["failed"]) == (4, 1)
    assert [r.get("duplicate", False) for r in fixed["results"]] == [True, True, True, False, True]
    assert fixed["results"][3]["interactionId"] and all(r["duplicate"] for r in again["results"])
    assert [r["interactionId"] for r in again["results"]] == [r["interactionId"] for r in fixed["results"]]
    assert _count(owner_db, "SELECT interaction_count FROM customers WHERE external_id = %s", customer) == 5


def test_concurrent_first_attempts_with_one_key_store_once(stack: Stack, org: Org,
                                                           owner_db: psycopg.Connection) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    body = event(customer, idempotencyKey=f"race-{uuid.uuid4()}")
    with stack.client() as http, ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: ingest(http, org, body).json(), range(6)))
    assert len({a["interactionId"] for a in answers}) == 1
    assert sum(1 for a in answers if not a.get("duplicate")) == 1
    assert _count(owner_db, "SELECT interaction_count FROM customers WHERE external_id = %s", customer) == 1


def test_timestamps_anywhere_in_range_are_stored(stack: Stack, org: Org, owner_db: psycopg.Connection) -> None:
    # Older than every monthly partition (the default partition takes it), and a little in the future
    # (allowed clock skew: 5 minutes).
    items = [event(ago=timedelta(days=365 * 9)), event(ago=-timedelta(minutes=3)), event(ago=-timedelta(minutes=30))]
    with stack.client() as http:
        body = batch(http, org, items).json()
    assert body["successful"] == 2
    violation = body["results"][2]["error"]["fieldViolations"][0]
    assert (violation["field"], violation["description"]) == ("interactions[2].timestamp", "must not be in the future")


def test_update_with_stale_version_gets_409_with_current_version(stack: Stack, org: Org,
                                                                  owner_db: psycopg.Connection) -> None:
    with stack.client() as http:
        created = ingest(http, org, event()).json()["interactionId"]
        path = f"/api/data/interactions/{created}"
        updated = http.put(path, headers=org.headers, json={"version": 1, "content": "Actually it arrived"})
        assert updated.status_code == 200, updated.text
        assert updated.json()["interaction"]["version"] == "2"
        assert updated.json()["interaction"]["content"] == "Actually it arrived"
        stale = http.put(path, headers=org.headers, json={"version": 1, "eventType": "edited"})
        assert stale.status_code == 409, stale.text
        assert stale.json()["message"] == "Record was modified by another request"
        assert error_info(stale)["currentVersion"] == "2"
        missing = http.put(f"/api/data/interactions/{uuid.uuid4()}", headers=org.headers,
                           json={"version": 1, "eventType": "x"})
        assert missing.status_code == 404
        assert http.put("/api/data/interactions/not-a-uuid", headers=org.headers,
                        json={"version": 1, "eventType": "x"}).status_code == 400
        # Emptying the content of a chat message is invalid; the version is left alone.
        emptied = http.put(f"{path}?updateMask=content", headers=org.headers, json={"version": 2, "content": ""})
        assert field_violations(emptied) == {"content": "is required on the chat channel"}
    # New content is a new analysis job: pending again (or already re-scored by the worker).
    assert owner_db.execute(
        "SELECT processed_at IS NULL OR (sentiment IS NOT NULL AND processed_at > created_at), version"
        " FROM customer_interactions WHERE id = %s", (created,)).fetchone() == (True, 2)


def _trigger(owner_db: psycopg.Connection, table: str, when: str, marker: str) -> Iterator[None]:
    name = f"inject_{uuid.uuid4().hex[:8]}"
    owner_db.execute(f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'injected failure'; END $$;
        CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW
          WHEN (to_jsonb(NEW) ->> 'external_id' = '{marker}' OR to_jsonb(NEW) ->> 'content' = '{marker}')
          EXECUTE FUNCTION {name}();
    """)
    try:
        yield
    finally:
        owner_db.execute(f"DROP TRIGGER {name} ON {table}; DROP FUNCTION {name}();")


@pytest.mark.parametrize(
    ("table", "when"),
    [("customer_interactions", "AFTER INSERT"), ("customers", "BEFORE UPDATE")],
    ids=["after-interaction-insert", "at-customer-update"],
)
def test_failure_between_steps_leaves_nothing_half_done(
    stack: Stack, org: Org, owner_db: psycopg.Connection, table: str, when: str
) -> None:
    """Property 2, with a real failure injected by a trigger: either the interaction, the customer's
    counters and the pending job all exist, or none of them do."""
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    marker = f"boom-{uuid.uuid4().hex[:8]}"
    key = f"atomic-{uuid.uuid4()}"
    with stack.client() as http:
        assert ingest(http, org, event(customer)).status_code == 200  # the customer exists: an UPDATE
        before = owner_db.execute("SELECT interaction_count, last_seen_at FROM customers WHERE external_id = %s",
                                  (customer,)).fetchone()
        doomed = event(customer if table == "customer_interactions" else marker, ago=timedelta(seconds=1),
                       content=marker if table == "customer_interactions" else "fine", idempotencyKey=key)
        if table == "customers":
            # The failure fires when the (existing) customer is updated: create it first.
            assert ingest(http, org, event(marker)).status_code == 200
            before = owner_db.execute("SELECT interaction_count, last_seen_at FROM customers WHERE external_id = %s",
                                      (marker,)).fetchone()
        failing = iter(_trigger(owner_db, table, when, marker))
        next(failing)
        try:
            failed = ingest(http, org, doomed)
            assert failed.status_code == 500, failed.text
            failed_batch = batch(http, org, [event(customer), doomed])
            assert failed_batch.status_code == 500
        finally:
            next(failing, None)
        owner = doomed["customerId"]
        after = owner_db.execute("SELECT interaction_count, last_seen_at FROM customers WHERE external_id = %s",
                                 (owner,)).fetchone()
        assert after == before, "the customer's counters moved without the interaction"
        assert _count(owner_db, "SELECT count(*) FROM customer_interactions WHERE content = %s", marker) == 0
        assert _count(owner_db, "SELECT count(*) FROM ingest_idempotency WHERE idempotency_key = %s", key) == 0
        # Every stored interaction of the customer is counted and queued (pending, or scored by the
        # worker, which only takes pending rows): no job without its row, no row without its job.
        count, stored, pending = owner_db.execute(
            "SELECT c.interaction_count, count(i.id),"
            " count(i.id) FILTER (WHERE i.processed_at IS NULL OR i.sentiment IS NOT NULL)"
            " FROM customers c LEFT JOIN customer_interactions i ON i.customer_id = c.id"
            " WHERE c.external_id = %s GROUP BY c.interaction_count", (owner,)).fetchone() or (0, 0, 0)
        assert count == stored == pending
        # The failure gone, the client's retry with the same key stores the event exactly once.
        retried = ingest(http, org, doomed)
        assert retried.status_code == 200 and not retried.json().get("duplicate")
        assert ingest(http, org, doomed).json()["duplicate"] is True
    assert _count(owner_db, "SELECT interaction_count FROM customers WHERE external_id = %s", owner) == count + 1


def _ts(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts


def test_grpc_ingest_stream_and_grpc_web(stack: Stack, org: Org, owner_db: psycopg.Connection) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)

    def requests() -> Iterator[ingestion_pb2.IngestStreamRequest]:
        for n in range(1200):
            yield ingestion_pb2.IngestStreamRequest(interaction=common_pb2.InteractionInput(
                customer_id=customer, timestamp=_ts(now - timedelta(seconds=n)), channel="web",
                event_type="page_view" if n != 5 else "", idempotency_key=f"{customer}-{n}",
            ))

    with grpc.insecure_channel(stack.grpc_target) as channel:
        stub = ingestion_pb2_grpc.IngestionServiceStub(channel)
        response = stub.IngestStream(requests(), metadata=org.metadata)
        assert (response.successful, response.failed) == (1199, 1)
        assert response.results[5].error.field_violations[0].field == "interactions[5].eventType"
        assert [r.index for r in response.results] == list(range(1200))
        again = stub.IngestStream(requests(), metadata=org.metadata)
        assert sum(r.duplicate for r in again.results) == 1199
    with stack.client() as http:
        single, trailers = grpc_web_call(
            http, "/insights.v1.IngestionService/Ingest",
            ingestion_pb2.IngestRequest(interaction=common_pb2.InteractionInput(
                customer_id=customer, timestamp=_ts(now), channel="mobile", event_type="app_open")),
            ingestion_pb2.IngestResponse, headers=org.headers,
        )
    assert trailers.get("grpc-status") == "0" and single is not None and single.interaction_id
    assert _count(owner_db, "SELECT interaction_count FROM customers WHERE external_id = %s", customer) == 1200


@pytest.fixture
def redis_down_stack(database_url: str, tmp_path: Path) -> Iterator[Stack]:
    """An instance whose Redis is unreachable (a port nothing listens on): a real outage, not a mock."""
    running = Stack(database_url, f"redis://127.0.0.1:{free_port()}/0", tmp_path / "no-redis").start()
    yield running
    running.stop()


def test_ingestion_stores_everything_while_redis_is_down(redis_down_stack: Stack,
                                                         owner_db: psycopg.Connection) -> None:
    """Events are best effort, storage is not: with Redis down every accepted event is stored (and
    pending analysis); only live subscribers miss the notification, and subscribing answers 503."""
    org = new_org(redis_down_stack, "NoRedis")
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    with redis_down_stack.client() as http:
        single = ingest(http, org, event(customer, idempotencyKey=f"k-{uuid.uuid4()}"))
        assert single.status_code == 200, single.text
        many = batch(http, org, [event(customer) for _ in range(20)], key=f"b-{uuid.uuid4()}")
        assert many.status_code == 200 and many.json()["successful"] == 20
        subscribe = http.get("/api/stream", headers=org.headers)
        assert subscribe.json()["code"] == 14  # UNAVAILABLE (HTTP 503 once stream errors precede headers)
    assert _count(owner_db, "SELECT count(*) FROM customer_interactions i JOIN customers c ON c.id = i.customer_id"
                  " WHERE c.external_id = %s AND (i.processed_at IS NULL OR i.sentiment IS NOT NULL)", customer) == 21
