"""The synthetic loader against a real PostgreSQL: a fresh database with the migrations applied, a small
history loaded twice (two organizations, same seed), then counts, counters and rows compared."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql
from yoyo import get_backend, read_migrations

from insights.dev.synthetic import SyntheticConfig, _skip_reference_triggers, load

ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MIGRATIONS = Path(__file__).resolve().parents[2] / "db" / "migrations"
END = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)
CONFIG = SyntheticConfig(customers=200, interactions=5_000, end=END, months=3, seed=1, pending_share=0.1)


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A database of its own, with the schema the migrations create; dropped afterwards."""
    name = f"insights_synthetic_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlsplit(ADMIN_URL)._replace(path=f"/{name}").geturl()
    try:
        backend = get_backend(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with backend.lock():
            backend.apply_migrations(backend.to_apply(read_migrations(str(MIGRATIONS))))
        backend.connection.close()
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def loaded(database_url: str) -> tuple[uuid.UUID, uuid.UUID]:
    first = load(database_url, "Synthetic A", CONFIG, say=lambda _: None)
    second = load(database_url, "Synthetic B", CONFIG, say=lambda _: None)
    assert (first.customers, first.interactions) == (200, 5_000)
    return first.organization_id, second.organization_id


def rows(conn: psycopg.Connection[Any], query: str, *params: object) -> list[tuple[Any, ...]]:
    return conn.execute(query, params).fetchall()


def test_counts_and_partitions(database_url: str, loaded: tuple[uuid.UUID, uuid.UUID]) -> None:
    org, _ = loaded
    with psycopg.connect(database_url) as conn:
        assert rows(conn, "SELECT count(*) FROM customers WHERE organization_id = %s", org) == [(200,)]
        assert rows(conn, "SELECT count(*) FROM customer_interactions WHERE organization_id = %s", org) == [(5_000,)]
        # Every row went to its monthly partition, none to the default one.
        assert rows(conn, "SELECT count(*) FROM customer_interactions_default") == [(0,)]
        assert rows(conn, "SELECT min(timestamp) >= %s, max(timestamp) <= %s FROM customer_interactions",
                    CONFIG.start, CONFIG.end) == [(True, True)]


def test_customer_counters_match_their_interactions(database_url: str, loaded: tuple[uuid.UUID, uuid.UUID]) -> None:
    org, _ = loaded
    with psycopg.connect(database_url) as conn:
        mismatches = rows(conn, """
            SELECT c.external_id FROM customers c
            JOIN LATERAL (
              SELECT count(*) AS n, min(i.timestamp) AS first, max(i.timestamp) AS last,
                     round(avg((i.sentiment->>'positive')::numeric - (i.sentiment->>'negative')::numeric)
                           FILTER (WHERE i.sentiment ? 'positive'), 4) AS average
              FROM customer_interactions i WHERE i.customer_id = c.id
            ) s ON true
            WHERE c.organization_id = %s
              AND ((c.interaction_count, c.first_seen_at, c.last_seen_at) IS DISTINCT FROM (s.n, s.first, s.last)
                   OR c.average_sentiment IS DISTINCT FROM s.average)
        """, org)
        assert mismatches == []
        assert rows(conn, "SELECT count(*) FROM customers WHERE organization_id = %s AND average_sentiment IS NULL"
                    " AND interaction_count > 5", org)[0][0] < 20


def test_sentiment_and_processing_state_are_consistent(database_url: str, loaded: tuple[uuid.UUID, uuid.UUID]) -> None:
    org, _ = loaded
    with psycopg.connect(database_url) as conn:
        (total, text, scored, pending, unprocessed_without_text, bad_confidence, bad_label), = rows(conn, """
            SELECT count(*), count(content), count(sentiment),
                   count(*) FILTER (WHERE content IS NOT NULL AND processed_at IS NULL),
                   count(*) FILTER (WHERE content IS NULL AND processed_at IS NULL),
                   count(*) FILTER (WHERE sentiment_confidence <> round(greatest(
                       (sentiment->>'negative')::numeric, (sentiment->>'neutral')::numeric,
                       (sentiment->>'positive')::numeric), 4)),
                   count(*) FILTER (WHERE sentiment IS NOT NULL AND NOT sentiment->>'label' IN
                       ('negative', 'neutral', 'positive'))
            FROM customer_interactions WHERE organization_id = %s
        """, org)
        assert total == 5_000 and 0 < text < total
        assert pending == text - scored and 0.05 * text < pending < 0.15 * text  # pending_share 0.1
        assert unprocessed_without_text == 0 and bad_confidence == 0 and bad_label == 0
        (channels,) = rows(conn, "SELECT count(DISTINCT channel) FROM customer_interactions WHERE organization_id = %s",
                           org)[0]
        assert channels == 5


def test_patterns_are_stored_for_their_customers(database_url: str, loaded: tuple[uuid.UUID, uuid.UUID]) -> None:
    org, _ = loaded
    with psycopg.connect(database_url) as conn:
        patterns = rows(conn, """
            SELECT p.pattern_type, p.confidence, p.frequency, p.detected_at, p.valid_until, c.organization_id
            FROM behavior_patterns p JOIN customers c ON c.id = p.customer_id WHERE p.organization_id = %s
        """, org)
        assert len(patterns) > 20
        assert all(0.7 <= float(conf) <= 1 and freq > 0 and detected == END and until > detected and owner == org
                   for _, conf, freq, detected, until, owner in patterns)
        assert {t for t, *_ in patterns} >= {"high_engagement", "temporal_pattern"}


def test_same_seed_loads_the_same_rows(database_url: str, loaded: tuple[uuid.UUID, uuid.UUID]) -> None:
    def content(org: uuid.UUID) -> tuple[list[tuple[Any, ...]], ...]:
        with psycopg.connect(database_url) as conn:
            return (
                rows(conn, """
                    SELECT c.external_id, i.timestamp, i.channel, i.event_type, i.content, i.sentiment,
                           i.sentiment_confidence, i.metadata, i.processed_at, i.created_at
                    FROM customer_interactions i JOIN customers c ON c.id = i.customer_id
                    WHERE i.organization_id = %s ORDER BY 1, 2, 3, 4, 5""", org),
                rows(conn, """
                    SELECT external_id, email, first_name, last_name, segment, metadata, first_seen_at, last_seen_at,
                           interaction_count, average_sentiment
                    FROM customers WHERE organization_id = %s ORDER BY external_id""", org),
                rows(conn, """
                    SELECT c.external_id, p.pattern_type, p.confidence, p.frequency, p.description, p.metadata
                    FROM behavior_patterns p JOIN customers c ON c.id = p.customer_id
                    WHERE p.organization_id = %s ORDER BY 1, 2""", org),
            )

    first, second = loaded
    assert content(first) == content(second)


def test_the_command_line_loads_and_reports(database_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "insights.dev.synthetic", "load", "--database-url", database_url,
         "--organization-name", "Synthetic CLI", "--customers", "20", "--interactions", "300", "--months", "2",
         "--seed", "2", "--end", "2026-03-04T18:00:00Z", "--no-patterns"],
        capture_output=True, text=True, check=True, timeout=120,
    )
    assert "20 customers, 300 interactions, 0 patterns" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "insights.dev.synthetic", "load", "--database-url", database_url,
                          "--organization-name", "x", "--customers", "10", "--interactions", "5"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "interactions: must be at least 3 per customer" in bad.stderr
    future = subprocess.run([sys.executable, "-m", "insights.dev.synthetic", "load", "--database-url", database_url,
                             "--organization-name", "x", "--end", "2999-01-01T00:00:00Z"],
                            capture_output=True, text=True, timeout=120)
    assert future.returncode == 2 and "--end: must not be in the future" in future.stderr


def test_a_role_that_may_not_skip_reference_checks_keeps_them(database_url: str) -> None:
    role = f"synthetic_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} NOSUPERUSER NOLOGIN").format(sql.Identifier(role)))
    try:
        with psycopg.connect(database_url) as conn:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            assert _skip_reference_triggers(conn) is False
            # The refusal was contained in a savepoint: the load's transaction carries on.
            assert conn.execute("SHOW session_replication_role").fetchone() == ("origin",)
            conn.execute("RESET ROLE")
            assert _skip_reference_triggers(conn) is True  # the superuser may
            assert conn.execute("SHOW session_replication_role").fetchone() == ("replica",)
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
