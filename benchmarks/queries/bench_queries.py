"""Read-side latency through gRPC, uncached and cached, at 1,000,000 and 10,000,000 interactions.

For each size: a database of its own with one organization of synthetic histories (insights.dev.synthetic:
size / 10 customers over 24 months, loaded with COPY, rollups built, VACUUM ANALYZE), a real server process
(worker off) and, per query shape, ``--rounds`` calls direct to the server over gRPC:

- uncached: the organization's cache generation is bumped before every call (what the first caller after
  a write pays: the cache miss, the database work, storing the answer);
- cached: the same call repeated with nothing written in between.

Shapes: insights (last 30 days, page 1), insights over 24 months at page 1 and at page 10,000 (a keyset
token 499,950 rows deep), trends (30 days by day; by channel with the previous period; Asia/Kolkata),
metrics (30 days, previous period), search (q over 30 days and 24 months), customers (list, fuzzy q,
one profile), patterns (one customer). Prints p50/p95 per shape and the 10M / 1M ratios; writes
results.json next to this file. Databases are kept for re-runs (--reuse) and dropped with --drop.

    PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/queries/bench_queries.py --sizes 1000000,10000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import psycopg
import redis
from psycopg import sql

from insights.auth.tokens import sha256_hex
from insights.dev.synthetic import SyntheticConfig, load
from insights.infra.keys import RedisKeys
from insights.infra.migrate import apply_migrations
from insights.infra.paging import encode_token
from insights.query.filters import RawFilter, parse_filter
from insights.settings import QuerySettings, Settings
from insights.v1 import query_pb2, query_pb2_grpc
from tests.support import Stack

ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
OUT = Path(__file__).with_name("results.json")
END = datetime(2026, 11, 30, tzinfo=UTC)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def db_url(name: str) -> str:
    return urlsplit(ADMIN_URL)._replace(path=f"/{name}").geturl()


def prepare(size: int, reuse: bool) -> tuple[str, str]:
    """The database for a size (loaded once; --reuse keeps it) and its organization id."""
    name = f"bench_queries_{size}"
    url = db_url(name)
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and not reuse:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
    if exists:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT id FROM organizations WHERE name = 'bench'").fetchone()
        if row:
            # A database loaded by an older checkout: newer migrations build their rollups from its rows.
            applied = apply_migrations(Settings(database_url=url))
            if applied:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("VACUUM ANALYZE")
                print(f"  reused, {applied} migration(s) applied", flush=True)
            return url, str(row[0])
    apply_migrations(Settings(database_url=url))
    started = time.monotonic()
    config = SyntheticConfig(customers=size // 10, interactions=size, end=END, months=24, seed=1)
    report = load(url, "bench", config, patterns=True, say=lambda m: print(f"  {m}", flush=True))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"  loaded {report.interactions:,} interactions in {time.monotonic() - started:.0f} s", flush=True)
    return url, str(report.organization_id)


def api_key(url: str, org: str) -> str:
    secret = f"ik_bench_{secrets.token_urlsafe(24)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO api_keys (organization_id, name, prefix, key_hash, permissions)"
                     " VALUES (%s, 'bench', 'ik_bench', %s, '[\"insights:read\"]')", (org, sha256_hex(secret)))
    return secret


def deep_token(url: str, org: str, start: datetime, end: datetime, offset: int) -> str:
    """The page token the API would hand out after ``offset`` rows of the 24-month listing (newest first)."""
    query = parse_filter(RawFilter(start_date=start.isoformat(), end_date=end.isoformat()), organization_zone="UTC",
                         now=END, settings=QuerySettings())
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT timestamp, id FROM customer_interactions WHERE organization_id = %s AND timestamp >= %s"
            " AND timestamp < %s ORDER BY timestamp DESC, id DESC OFFSET %s LIMIT 1", (org, start, end, offset - 1)
        ).fetchone()
    assert row is not None
    return encode_token(f"interactions|timestamp|True|{query.cache_key()}", [row[0].isoformat(), str(row[1])])


def shapes(url: str, org: str) -> dict[str, tuple[str, Any]]:
    month = (END - timedelta(days=30)).isoformat()
    two_years = (END - timedelta(days=730)).isoformat()
    end = END.isoformat()
    with psycopg.connect(url) as conn:
        customer = conn.execute(
            "SELECT external_id FROM customers WHERE organization_id = %s AND interaction_count > 20"
            " ORDER BY external_id LIMIT 1 OFFSET 100", (org,)).fetchone()
    assert customer is not None
    token = deep_token(url, org, END - timedelta(days=730), END, 9_999 * 50)
    r = query_pb2
    return {
        "insights 30 days, page 1": ("GetInsights", r.GetInsightsRequest(start_date=month, end_date=end, page_size=50)),
        "insights 24 months, page 1": ("GetInsights", r.GetInsightsRequest(start_date=two_years, end_date=end,
                                                                            page_size=50)),
        "insights 24 months, page 10,000": ("GetInsights", r.GetInsightsRequest(
            start_date=two_years, end_date=end, page_size=50, page_token=token)),
        "insights chat+negative 30 days": ("GetInsights", r.GetInsightsRequest(
            start_date=month, end_date=end, channels=["chat"], sentiments=["negative"], page_size=50)),
        "trends 30 days by day": ("GetSentimentTrends", r.GetSentimentTrendsRequest(
            start_date=month, end_date=end, group_by="day")),
        "trends by channel + previous": ("GetSentimentTrends", r.GetSentimentTrendsRequest(
            start_date=month, end_date=end, group_by="day", breakdown="channel", compare_previous=True)),
        "trends Asia/Kolkata by day": ("GetSentimentTrends", r.GetSentimentTrendsRequest(
            start_date=month, end_date=end, group_by="day", time_zone="Asia/Kolkata")),
        "trends 24 months by week": ("GetSentimentTrends", r.GetSentimentTrendsRequest(
            start_date=two_years, end_date=end, group_by="week")),
        "metrics 30 days": ("GetAggregatedMetrics", r.GetAggregatedMetricsRequest(start_date=month, end_date=end)),
        "search q=refund 30 days": ("GetInsights", r.GetInsightsRequest(start_date=month, end_date=end, q="refund",
                                                                         page_size=50)),
        "search \"late delivery\" 24 months": ("ListInteractions", r.ListInteractionsRequest(
            start_date=two_years, end_date=end, q='"late delivery"', page_size=50)),
        "customers list": ("ListCustomers", r.ListCustomersRequest(page_size=50)),
        "customers fuzzy q": ("ListCustomers", r.ListCustomersRequest(q=customer[0][:-1], page_size=20)),
        "customer profile": ("GetCustomer", r.GetCustomerRequest(id=customer[0])),
        "patterns of a customer": ("GetBehaviorPatterns", r.GetBehaviorPatternsRequest(customer_id=customer[0])),
    }


def measure(stub: Any, method: str, request: Any, key: str, rounds: int, bump: Callable[[], None]) -> dict[str, float]:
    call = getattr(stub, method)
    metadata = [("x-api-key", key)]
    call(request, metadata=metadata, timeout=120)  # warm the connection and the server's code paths
    uncached, cached = [], []
    for _ in range(rounds):
        bump()
        t = time.perf_counter()
        call(request, metadata=metadata, timeout=120)
        uncached.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        call(request, metadata=metadata, timeout=120)
        cached.append((time.perf_counter() - t) * 1000)
    return {"uncached_p50": pct(uncached, 50), "uncached_p95": pct(uncached, 95),
            "cached_p50": pct(cached, 50), "cached_p95": pct(cached, 95)}


def run_size(size: int, rounds: int, reuse: bool) -> dict[str, dict[str, float]]:
    url, org = prepare(size, reuse)
    key = api_key(url, org)
    prefix = f"bench-{secrets.token_hex(4)}:"
    generation = RedisKeys(prefix).cache_generation(org)
    client = redis.Redis.from_url(REDIS_URL)
    stack = Stack(url, REDIS_URL, Path(tempfile.mkdtemp(prefix="bench-q-")), key_prefix=prefix, extra_env={
        "INSIGHTS_WORKER__ENABLED": "false", "INSIGHTS_RATE_LIMIT__API_KEY_PER_MINUTE": "1000000",
        "INSIGHTS_RATE_LIMIT__IP_PER_MINUTE": "1000000", "INSIGHTS_DB__MIGRATE_ON_START": "false",
    }).start()
    results: dict[str, dict[str, float]] = {}
    try:
        with grpc.insecure_channel(f"127.0.0.1:{stack.grpc_port}") as channel:
            stub = query_pb2_grpc.QueryServiceStub(channel)
            for name, (method, request) in shapes(url, org).items():
                results[name] = measure(stub, method, request, key, rounds, lambda: client.incr(generation))
                m = results[name]
                print(f"  {name:38} uncached p50 {m['uncached_p50']:7.1f} p95 {m['uncached_p95']:7.1f} ms"
                      f" | cached p50 {m['cached_p50']:5.1f} p95 {m['cached_p95']:5.1f} ms", flush=True)
    finally:
        stack.stop()
        client.delete(generation)
    return results


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "load_average": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--reuse", action="store_true", help="keep and reuse loaded databases")
    parser.add_argument("--drop", action="store_true", help="drop the databases at the end")
    args = parser.parse_args()
    random.seed(1)
    started = machine()
    print(f"machine: {started}", flush=True)
    by_size: dict[str, dict[str, dict[str, float]]] = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        print(f"{size:,} interactions", flush=True)
        by_size[str(size)] = run_size(size, args.rounds, args.reuse)
    sizes = list(by_size)
    if len(sizes) > 1:
        small, large = by_size[sizes[0]], by_size[sizes[-1]]
        print(f"uncached p95 ratio {int(sizes[-1]):,} / {int(sizes[0]):,}:")
        for name in small:
            ratio = large[name]["uncached_p95"] / small[name]["uncached_p95"]
            print(f"  {name:38} {ratio:5.2f}x")
    finished = machine()
    OUT.write_text(json.dumps({"started": started, "finished": finished["load_average"], "rounds": args.rounds,
                               "at": datetime.now(UTC).isoformat(), "results": by_size}, indent=2))
    if args.drop:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            for size in sizes:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(f"bench_queries_{size}")))


if __name__ == "__main__":
    main()
