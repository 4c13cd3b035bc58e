"""EXPLAIN of every query shape over realistic statistics: no sequential scan of customer_interactions.

A database of its own: five organizations, 240,000 interactions over 24 months (the largest with 100,000),
vacuumed and analysed, then each statement the read side issues is explained as the application role
inside a tenant transaction (row-level security on), with the parameters it would get.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql

from insights.infra.migrate import apply_migrations
from insights.query import analytics, interactions
from insights.query.filters import InteractionQuery
from insights.query.rollups import aggregate_sql
from insights.query.sql import raw_conditions, where
from insights.settings import Settings
from tests.fixtures.databases import create_database, drop_database

END = datetime(2026, 11, 1, tzinfo=UTC)
LOAD = """
INSERT INTO customer_interactions (customer_id, organization_id, timestamp, channel, event_type, content, segment,
                                   sentiment, processed_at)
SELECT c.id, c.organization_id, %(end)s - (g * %(step)s * interval '1 second') - (random() * interval '200 seconds'),
       (ARRAY['web','mobile','email','chat','phone'])[1 + g %% 5],
       (ARRAY['page_view','support_message','purchase','review','refund_request','login','signup'])[1 + g %% 7],
       CASE WHEN g %% 5 >= 2 THEN (ARRAY['late delivery again','great support thanks','refund please',
            'the app is slow','love the new price'])[1 + g %% 5] END,
       (ARRAY['enterprise','smb','consumer',NULL])[1 + g %% 4],
       CASE WHEN g %% 5 >= 2 AND g %% 10 <> 0 THEN jsonb_build_object('label',
            (ARRAY['negative','neutral','positive'])[1 + g %% 3], 'negative', 0.2, 'neutral', 0.3, 'positive', 0.5) END,
       CASE WHEN g %% 10 <> 0 THEN %(end)s END
FROM generate_series(1, %(n)s) g
JOIN LATERAL (SELECT id, organization_id FROM customers WHERE organization_id = %(org)s
              OFFSET (g * 7919) %% %(customers)s LIMIT 1) c ON true
"""


@pytest.fixture(scope="module")
def planned() -> Iterator[tuple[str, UUID]]:
    url = create_database()
    try:
        settings = Settings(database_url=url)
        apply_migrations(settings)
        with psycopg.connect(url, autocommit=True) as owner:
            owner.execute("SELECT ensure_interaction_partitions(%s, 26)", ((END - timedelta(days=760)).date(),))
            orgs = []
            for n, size in enumerate((100_000, 50_000, 40_000, 30_000, 20_000)):
                org = owner.execute("INSERT INTO organizations (name) VALUES (%s) RETURNING id", (f"o{n}",)).fetchone()
                assert org is not None
                customers = size // 10
                owner.execute(
                    "INSERT INTO customers (organization_id, external_id, email, first_name, last_name, segment,"
                    " first_seen_at, last_seen_at, interaction_count)"
                    " SELECT %s, 'cust-' || g, 'c' || g || '@example.com', 'Ada' || g, 'Lovelace', 'smb',"
                    " %s, %s, 10 FROM generate_series(1, %s) g", (org[0], END - timedelta(days=700), END, customers))
                ids = [r[0] for r in owner.execute("SELECT id FROM customers WHERE organization_id = %s",
                                                   (org[0],)).fetchall()]
                owner.execute(LOAD, {"org": org[0], "n": size, "end": END, "customers": customers, "ids": ids,
                                     "step": 725 * 86_400 // size})  # spread over 24 months
                orgs.append(org[0])
            owner.execute("VACUUM ANALYZE")
        yield url, orgs[0]
    finally:
        drop_database(url)


def _app_url(url: str) -> str:
    from insights.infra.db import app_conninfo
    return app_conninfo(Settings(database_url=url))


def _scans(plan: Any) -> list[tuple[str, str]]:
    found = []
    if isinstance(plan, dict):
        if "Node Type" in plan:
            found.append((plan["Node Type"], plan.get("Relation Name", "")))
        for value in plan.values():
            found += _scans(value)
    elif isinstance(plan, list):
        for value in plan:
            found += _scans(value)
    return found


def explain(url: str, org: UUID, statement: sql.Composable, params: dict[str, Any], *, export: bool = False
            ) -> list[tuple[str, str]]:
    settings = Settings(database_url=url)
    with psycopg.connect(_app_url(url), options=f"-c random_page_cost={settings.db.random_page_cost}") as conn, \
            conn.transaction():
        conn.execute("SELECT set_config('app.organization_id', %s, true)", (str(org),))
        if export:
            conn.execute("SET LOCAL enable_seqscan = off")  # as interactions.export does
        row = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + statement, params).fetchone()
    assert row is not None
    plan = row[0] if not isinstance(row[0], str) else json.loads(row[0])
    return _scans(plan)


def _queries(org: UUID) -> dict[str, InteractionQuery]:
    utc, kolkata = ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata")
    month = InteractionQuery(start=END - timedelta(days=30), end=END, time_zone=utc)
    year = InteractionQuery(start=END - timedelta(days=365), end=END, time_zone=utc)
    return {
        "30 days": month,
        "24 months": InteractionQuery(start=END - timedelta(days=730), end=END, time_zone=utc),
        "channel+label": InteractionQuery(start=month.start, end=END, time_zone=utc, channels=("chat",),
                                          sentiments=("negative",)),
        "segment+event type": InteractionQuery(start=year.start, end=END, time_zone=utc, segments=("smb",),
                                               event_types=("refund_request",)),
        "score range": InteractionQuery(start=year.start, end=END, time_zone=utc, sentiment_min=0.2,
                                        sentiment_max=0.4),
        "customer": InteractionQuery(start=year.start, end=END, time_zone=utc, customer="cust-7",
                                     customer_id=UUID(int=7)),
        "text": InteractionQuery(start=year.start, end=END, time_zone=utc, q="refund"),
        "hours in Kolkata": InteractionQuery(start=month.start, end=END, time_zone=kolkata, hours=(9, 10),
                                             weekdays=(1, 2)),
    }


def _statements(org: UUID) -> Iterator[tuple[str, sql.Composable, dict[str, Any]]]:
    utc = ZoneInfo("UTC")
    for name, q in _queries(org).items():
        days = [(q.start + timedelta(days=d), min(q.end, q.start + timedelta(days=d + 1)))
                for d in range((q.end - q.start).days)]
        statement, params = aggregate_sql(q, org, days, None, utc)
        yield f"trend {name}", statement, params
        kolkata = ZoneInfo("Asia/Kolkata")  # days from :30 to :30 UTC: whole hours and quarter hours
        shifted = [(lo - timedelta(hours=5, minutes=30), hi - timedelta(hours=5, minutes=30)) for lo, hi in days]
        statement, params = aggregate_sql(replace(q, time_zone=kolkata), org, shifted, None, utc)
        yield f"trend in Kolkata {name}", statement, params
        statement, params = aggregate_sql(q, org, [(q.start, q.end)], "all", ZoneInfo("Asia/Kolkata"))
        yield f"metrics {name}", statement, params
        for by, desc in (("timestamp", True), ("timestamp", False), ("sentiment", True)):
            order = interactions._Order(by, desc, 50)
            statement, params, _ = interactions.page_statement(q, org, order, None, 0, 50)
            yield f"page {by} {name}", statement, params
            after = (["2026-06-01T00:00:00+00:00", str(UUID(int=1))] if by == "timestamp"
                     else [0, "0.3", "2026-06-01T00:00:00+00:00", str(UUID(int=1))])
            statement, params, _ = interactions.page_statement(q, org, order, after, 0, 50)
            yield f"keyset {by} {name}", statement, params
        if q.q:
            order = interactions._Order("relevance", True, 50)
            statement, params, _ = interactions.page_statement(q, org, order, None, 0, 50)
            yield f"relevance {name}", statement, params
        for sampled in (False, True):
            for lo, hi in ((q.start, q.end), (q.start - (q.end - q.start), q.start)):
                statement, params = analytics.distinct_statement(q, org, lo, hi, sampled)
                yield f"distinct {'sample ' if sampled else ''}{name}", statement, params
        params = {"limit": 2000}
        conds = raw_conditions(q, org, params)
        yield f"export {name}", sql.SQL(interactions._SELECT).format(extra=sql.SQL("")) + sql.SQL(
            " WHERE {} ORDER BY i.timestamp, i.id LIMIT %(limit)s").format(where(conds)), params
    assert analytics.SAMPLE_FACTOR == 16


def test_no_query_shape_scans_customer_interactions_sequentially(planned: tuple[str, UUID]) -> None:
    url, org = planned
    with psycopg.connect(url) as owner:
        # Partitions past the data's end hold nothing; scanning an empty partition reads no row.
        holding = {name for (name,) in owner.execute(
            "SELECT relname FROM pg_class WHERE relname LIKE 'customer_interactions%%' AND reltuples > 0").fetchall()}
    failures = []
    count = 0
    for name, statement, params in _statements(org):
        scans = explain(url, org, statement, params, export=name.startswith("export"))
        count += 1
        seq = [rel for node, rel in scans if node == "Seq Scan" and rel in holding]
        if seq:
            failures.append((name, seq[:3]))
    assert count > 80
    assert not failures, "\n".join(f"{name}: {seq}" for name, seq in failures)
