"""The rollups stay exactly equal to a recomputation from raw rows through every kind of change."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from insights.customers.retention import run_retention
from insights.settings import Settings
from tests.ingest_support import Org, new_org
from tests.query_support import load, random_events, score_some, unique_tag
from tests.support import Stack, bearer

RECOMPUTED = """
SELECT i.organization_id, {key} AS k, {dims},
       count(*) FILTER (WHERE i.sentiment_label = 'negative') AS negative,
       count(*) FILTER (WHERE i.sentiment_label = 'neutral') AS neutral,
       count(*) FILTER (WHERE i.sentiment_label = 'positive') AS positive,
       count(*) FILTER (WHERE i.sentiment_label = 'pending') AS pending,
       count(*) FILTER (WHERE i.sentiment_label = 'none') AS unscored,
       coalesce(sum(i.sentiment_score) FILTER (WHERE i.sentiment_label = 'negative'), 0) AS negative_score,
       coalesce(sum(i.sentiment_score) FILTER (WHERE i.sentiment_label = 'neutral'), 0) AS neutral_score,
       coalesce(sum(i.sentiment_score) FILTER (WHERE i.sentiment_label = 'positive'), 0) AS positive_score
FROM customer_interactions i JOIN organizations o ON o.id = i.organization_id
GROUP BY 1, 2, 3, 4, 5
"""
DIMENSIONS = "i.channel, coalesce(i.segment, '') AS segment, i.event_type"
NONE = "''::text, ''::text, ''::text"
STORED = """
SELECT organization_id, {col} AS k, channel, segment, event_type, negative, neutral, positive, pending, unscored,
       negative_score, neutral_score, positive_score FROM {table}
"""


def assert_rollups_exact(owner: psycopg.Connection) -> None:
    for table, col, key, dims in (
        ("interaction_rollup_hourly", "hour", "date_trunc('hour', i.timestamp, 'UTC')", DIMENSIONS),
        ("interaction_rollup_daily", "day", "(i.timestamp AT TIME ZONE o.time_zone)::date", DIMENSIONS),
        ("interaction_rollup_daily_totals", "day", "(i.timestamp AT TIME ZONE o.time_zone)::date", NONE),
        ("interaction_rollup_hourly_totals", "hour", "date_trunc('hour', i.timestamp, 'UTC')", NONE),
        ("interaction_rollup_quarter_totals", "quarter",
         "date_bin('15 minutes', i.timestamp, TIMESTAMPTZ '2000-01-01 00:00:00+00')", NONE),
    ):
        stored = set(owner.execute(STORED.format(col=col, table=table)).fetchall())
        recomputed = set(owner.execute(RECOMPUTED.format(key=key, dims=dims)).fetchall())
        assert stored == recomputed, (table, sorted(stored - recomputed)[:3], sorted(recomputed - stored)[:3])


@pytest.fixture(scope="module")
def orgs(stack: Stack) -> list[Org]:
    return [new_org(stack, "Rollup A"), new_org(stack, "Rollup B")]


def test_rollups_equal_a_recomputation_after_a_random_mix_of_changes(
    stack: Stack, orgs: list[Org], database_url: str
) -> None:
    rng = random.Random(3)
    now = datetime.now(UTC)
    old_month = (now - timedelta(days=800)).date().replace(day=1)
    with psycopg.connect(database_url, autocommit=True) as owner, stack.client() as http:
        owner.execute("UPDATE organizations SET time_zone = 'Asia/Kolkata' WHERE id = %s", (orgs[1].id,))
        # A month older than any retention, with its own partition, so that retention drops it whole.
        owner.execute("SELECT ensure_interaction_partitions(%s, 1)", (old_month,))
        for step in range(14):
            org = rng.choice(orgs)
            action = rng.choice(("ingest", "ingest", "score", "update", "erase", "old"))
            if action == "ingest":
                load(http, org, random_events(rng, rng.randint(1, 300), start=now - timedelta(days=40),
                                              end=now - timedelta(minutes=5), tag=f"s{step}-"))
            elif action == "old":
                start = datetime.combine(old_month, datetime.min.time(), tzinfo=UTC) + timedelta(days=2)
                load(http, org, random_events(rng, 40, start=start, end=start + timedelta(days=10), tag=unique_tag()))
            elif action == "score":
                score_some(owner, org.id, rng, share=0.5)
            elif action == "update":
                rows = owner.execute(
                    "SELECT id, version FROM customer_interactions WHERE organization_id = %s AND content IS NOT NULL"
                    " ORDER BY random() LIMIT 5", (org.id,)).fetchall()
                for rid, version in rows:
                    body = {"version": version, "eventType": rng.choice(("review", "complaint")),
                            "content": "edited text", "updateMask": "eventType,content"}
                    response = http.put(f"/api/data/interactions/{rid}", headers=org.headers, json=body)
                    assert response.status_code == 200, response.text
            elif action == "erase":
                row = owner.execute("SELECT external_id FROM customers WHERE organization_id = %s ORDER BY random()"
                                    " LIMIT 1", (org.id,)).fetchone()
                if row:
                    response = http.delete(f"/api/customers/{row[0]}", headers=bearer(org.admin_token))
                    assert response.status_code == 200, response.text
            assert_rollups_exact(owner)
        # Retention: a short retention for one organization (row deletes), and the old month's partition drop.
        owner.execute("UPDATE organizations SET retention_days = 20 WHERE id = %s", (orgs[0].id,))
        report = run_retention(Settings(database_url=database_url), now=now)
        assert report.deleted_by_organization.get(orgs[0].id, 0) > 0 or report.partitions_dropped
        assert_rollups_exact(owner)
        # A new organization time zone re-buckets the daily rollup.
        owner.execute("UPDATE organizations SET time_zone = 'America/St_Johns' WHERE id = %s", (orgs[1].id,))
        assert_rollups_exact(owner)
        assert date.today()  # the test ran to the end
