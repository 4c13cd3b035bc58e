"""Tenant isolation of every query and of the cache; cache invalidation on writes; lossless keyset pages
under concurrent inserts; export through Envoy; fuzzy customer look-up; debounced pattern detection."""

from __future__ import annotations

import csv
import io
import json
import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from insights.events.types import PATTERN_DETECTED
from insights.infra.db import Database
from insights.patterns.service import Job, PatternService
from insights.settings import PatternSettings, Settings
from tests.ingest_support import Org, new_org
from tests.query_support import load, random_events, rows, score_some, unique_tag
from tests.support import Stack

END = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
START = END - timedelta(days=20)
READS = [
    ("/api/data/interactions", {}), ("/api/insights", {}), ("/api/insights/trends", {"breakdown": "channel"}),
    ("/api/insights/metrics", {}), ("/api/insights/heatmap", {}), ("/api/customers", {}),
]


@pytest.fixture(scope="module")
def two(stack: Stack, database_url: str) -> tuple[Org, Org]:
    a, b = new_org(stack, "Iso A"), new_org(stack, "Iso B")
    rng = random.Random(2)
    with stack.client() as http:
        load(http, a, random_events(rng, 300, start=START, end=END, tag="same-"))
        load(http, b, random_events(rng, 200, start=START, end=END, tag="same-"))  # same external ids
    with psycopg.connect(database_url, autocommit=True) as owner:
        score_some(owner, a.id, rng)
    return a, b


def _get(http: Any, org: Org, path: str, params: dict[str, Any]) -> dict[str, Any]:
    filtering = ("/api/data/interactions", "/api/insights", "/api/insights/trends", "/api/insights/metrics",
                 "/api/insights/heatmap")
    dated = {"startDate": START.isoformat()} if path in filtering else {}
    response = http.get(path, headers=org.headers, params={**dated, **params})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_no_query_of_one_organization_sees_another_organizations_rows(
    stack: Stack, two: tuple[Org, Org], database_url: str
) -> None:
    a, b = two
    with psycopg.connect(database_url, autocommit=True) as owner:
        ids_b = {r.id for r in rows(owner, b.id)}
        customers_b = {str(r[0]) for r in owner.execute("SELECT id FROM customers WHERE organization_id = %s",
                                                        (b.id,)).fetchall()}
    with stack.client() as http:
        for path, params in READS:
            for _ in range(2):  # computed, then cached: neither may leak
                text = json.dumps(_get(http, a, path, params))
                assert not any(i in text for i in ids_b | customers_b), path
        listed = _get(http, a, "/api/data/interactions", {"pageSize": "100"})
        assert int(listed["total"]) == 300
        # B's customer by B's UUID is unknown to A; by the shared external id it is A's own customer.
        some_b = next(iter(customers_b))
        assert http.get(f"/api/customers/{some_b}", headers=a.headers).status_code == 404
        assert _get(http, a, "/api/insights/patterns", {"customerId": "same-c1"}) is not None
        exported = http.get("/api/data/interactions:export", headers=a.headers,
                            params={"startDate": START.isoformat()}).text
        assert not any(i in exported for i in ids_b)


def test_cached_answers_are_invalidated_by_the_organizations_writes(stack: Stack, two: tuple[Org, Org]) -> None:
    a, b = two
    with stack.client() as http:
        before_a = _get(http, a, "/api/insights/metrics", {})
        before_b = _get(http, b, "/api/insights/metrics", {})
        assert _get(http, a, "/api/insights/metrics", {}) == before_a  # cached, identical
        load(http, a, random_events(random.Random(9), 7, start=START, end=END, tag=unique_tag()))
        after_a = _get(http, a, "/api/insights/metrics", {})
        assert int(after_a["totalInteractions"]["value"]) == int(before_a["totalInteractions"]["value"]) + 7
        assert _get(http, b, "/api/insights/metrics", {}) == before_b  # another organization's write: no change


def test_keyset_pages_are_lossless_under_concurrent_inserts(stack: Stack, two: tuple[Org, Org]) -> None:
    a, _ = two
    with stack.client() as http:
        existing = {i["id"] for i in _walk(http, a, {})}
    stop = threading.Event()

    def insert() -> None:
        rng = random.Random(4)
        with stack.client() as writer:
            while not stop.is_set():
                load(writer, a, random_events(rng, 20, start=START, end=END, tag="new-"))

    writer = threading.Thread(target=insert)
    writer.start()
    try:
        with stack.client() as http:
            seen = [i["id"] for i in _walk(http, a, {"pageSize": "25"})]
    finally:
        stop.set()
        writer.join()
    assert len(seen) == len(set(seen))  # nothing twice
    assert existing <= set(seen)  # nothing that existed throughout was skipped


def _walk(http: Any, org: Org, params: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    token = ""
    fixed = {"startDate": START.isoformat(), "endDate": END.isoformat()}
    while True:
        response = http.get("/api/data/interactions", headers=org.headers,
                            params={**fixed, "pageSize": "100", **params, "pageToken": token})
        assert response.status_code == 200, response.text
        body = response.json()
        out += body.get("data", [])
        token = body.get("nextPageToken", "")
        if not token:
            return out


def test_export_streams_every_row_of_the_filter_as_ndjson_and_csv(stack: Stack, two: tuple[Org, Org],
                                                                  database_url: str) -> None:
    a, _ = two
    with psycopg.connect(database_url, autocommit=True) as owner:
        chat = {r.id for r in rows(owner, a.id) if r.channel == "chat" and r.timestamp >= START}
    params = {"startDate": START.isoformat(), "channels": "chat"}
    with stack.client() as http:
        ndjson = http.get("/api/data/interactions:export", headers=a.headers, params=params)
        assert ndjson.status_code == 200, ndjson.text
        assert ndjson.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in ndjson.text.splitlines() if line]
        assert {line["id"] for line in lines} == chat and len(lines) == len(chat)
        assert [line["timestamp"] for line in lines] == sorted(line["timestamp"] for line in lines)
        as_csv = http.get("/api/data/interactions:export", headers=a.headers, params={**params, "format": "csv"})
        assert as_csv.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert {r["id"] for r in table} == chat
        bad = http.get("/api/data/interactions:export", headers=a.headers, params={"format": "xml"})
        assert bad.status_code == 400


def test_fuzzy_customer_look_up_by_external_id_email_or_name(stack: Stack, two: tuple[Org, Org],
                                                             database_url: str) -> None:
    a, _ = two
    with psycopg.connect(database_url, autocommit=True) as owner:
        owner.execute("UPDATE customers SET email = 'ada.lovelace@example.com', first_name = 'Ada',"
                      " last_name = 'Lovelace' WHERE organization_id = %s AND external_id = 'same-c3'", (a.id,))
    with stack.client() as http:
        for q in ("lovelace", "Lovlace", "ada.lovelace@exa", "same-c3"):
            response = http.get("/api/customers", headers=a.headers, params={"q": q})
            assert response.status_code == 200, response.text
            found = [c["externalId"] for c in response.json().get("customers", [])]
            assert found and found[0] == "same-c3", (q, found)


def test_an_id_looking_customer_query_answers_the_ids_that_start_with_it_exact_first(
    stack: Stack, two: tuple[Org, Org], database_url: str
) -> None:
    a, _ = two
    with psycopg.connect(database_url, autocommit=True) as owner:
        mine = {str(r[0]) for r in owner.execute("SELECT id FROM customers WHERE organization_id = %s", (a.id,))}
        ids = sorted(r[0] for r in owner.execute("SELECT external_id FROM customers WHERE organization_id = %s",
                                                 (a.id,)))
    with stack.client() as http:
        for q in ("same-c1", "SAME-C2"):
            body = http.get("/api/customers", headers=a.headers, params={"q": q, "pageSize": 100}).json()
            found = [c["externalId"] for c in body.get("customers", [])]
            expected = [i for i in ids if i.startswith(q.lower())]
            # Every id with the prefix (the other organization has the same ids: none of its customers), the
            # exact id first, and nothing else: a prefix look-up is not padded with trigram neighbours.
            assert found[0] == q.lower() and sorted(found) == expected, (q, found)
            assert {c["id"] for c in body["customers"]} <= mine
            assert int(body["total"]) == len(expected)
        # Nothing starts with it (a typo, or the middle of an id): the trigram look-up answers instead.
        body = http.get("/api/customers", headers=a.headers, params={"q": "ame-c3"}).json()
        found = [c["externalId"] for c in body.get("customers", [])]
        assert found and found[0] == "same-c3", found
        assert {c["id"] for c in body["customers"]} <= mine


async def test_a_burst_of_scores_for_one_customer_costs_one_detection(
    two: tuple[Org, Org], database_url: str, redis_url: str
) -> None:
    a, _ = two
    settings = Settings(database_url=database_url, redis_url=redis_url)
    db = Database(settings)
    await db.open()
    published: list[Any] = []

    class Sink:
        async def publish_many(self, organization_id: Any, events: Any) -> int:
            published.extend(events)
            return len(events)

    # No quiet period: the 1,000 enqueues below are one job (one row) whatever the timing; due at once.
    service = PatternService(PatternSettings(quiet_s=0.0, max_delay_s=30), db, Sink())  # type: ignore[arg-type]
    try:
        while await service.run_once():  # jobs other tests left in the shared database: not this test's
            pass
        with psycopg.connect(database_url, autocommit=True) as owner:
            customer = owner.execute("SELECT id FROM customers WHERE organization_id = %s AND external_id = 'same-c2'",
                                     (a.id,)).fetchone()
        assert customer is not None
        from uuid import UUID
        org = UUID(a.id)
        for _ in range(1000):
            await service.enqueue(org, [customer[0]])
        with psycopg.connect(database_url, autocommit=True) as owner:
            jobs = owner.execute("SELECT count(*) FROM pattern_jobs WHERE customer_id = %s", (customer[0],)).fetchone()
        assert jobs == (1,)
        detected = 0
        for _ in range(3):
            detected += await service.run_once()
        assert detected == 1
        # A recent, consistently negative history makes a detractor, announced once.
        await _history(database_url, a.id, customer[0])
        found = await service.detect(Job(org, customer[0], datetime.now(UTC)))
        assert "detractor" in {p.pattern_type for p in found}
        assert any(e.type == PATTERN_DETECTED and e.payload["patternType"] == "detractor" for e in published)
    finally:
        await db.close()


async def _history(database_url: str, org: str, customer: Any) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(database_url, autocommit=True) as owner:
        for n in range(8):
            owner.execute(
                "INSERT INTO customer_interactions (customer_id, organization_id, timestamp, channel, event_type,"
                " content, sentiment, processed_at) VALUES (%s, %s, %s, 'chat', 'support_message', 'awful', %s, now())",
                (customer, org, now - timedelta(days=n, hours=1),
                 json.dumps({"label": "negative", "negative": 0.9, "neutral": 0.05, "positive": 0.05})))
