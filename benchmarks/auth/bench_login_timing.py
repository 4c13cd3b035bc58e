"""No user enumeration by timing: sign-in latency for an unknown email vs a known email with a wrong password.

Starts a real server + Envoy (against the PostgreSQL/Redis of TEST_DATABASE_ADMIN_URL / TEST_REDIS_URL),
sends N sign-ins of each kind from distinct loopback addresses (so rate limits don't interfere) in
alternation, and prints the medians side by side with their ratio.

    .venv/bin/python benchmarks/auth/bench_login_timing.py [N]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from tests.support import STRONG_PASSWORD, Stack, register, unique_email

ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/11")


def main(n: int) -> None:
    name = f"insights_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    stack = Stack(urlsplit(ADMIN_URL)._replace(path=f"/{name}").geturl(), REDIS_URL, Path(tempfile.mkdtemp()))
    try:
        stack.start()
        with stack.client() as http:
            known = register(http)["user"]["email"]
        timings: dict[str, list[float]] = {"unknown email": [], "wrong password": []}
        for i in range(n):
            for kind, email in (("unknown email", unique_email("ghost")), ("wrong password", known)):
                with stack.client() as http:
                    started = time.perf_counter()
                    response = http.post("/api/auth/login", json={"email": email, "password": f"Wrong-{i}-Pass!"})
                    timings[kind].append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 401
            if i % 8 == 7:  # stay below the lockout threshold for the known account
                with stack.client() as http:
                    http.post("/api/auth/login", json={"email": known, "password": STRONG_PASSWORD})
        medians = {k: statistics.median(v) for k, v in timings.items()}
        print(f"{'case':<16}{'median ms':>10}{'p90 ms':>10}")
        for kind, values in timings.items():
            print(f"{kind:<16}{medians[kind]:>10.1f}{statistics.quantiles(values, n=10)[-1]:>10.1f}")
        print(f"ratio unknown/wrong-password medians: {medians['unknown email'] / medians['wrong password']:.3f}")
    finally:
        stack.stop()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
