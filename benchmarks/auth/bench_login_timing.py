"""No user enumeration by timing: latency of sign-in (unknown email vs a known email with a wrong password),
sign-up (a new email vs one that has an account) and password-reset requests (unknown vs known email).

Starts a real server + Envoy (against the PostgreSQL/Redis of TEST_DATABASE_ADMIN_URL / TEST_REDIS_URL),
sends N calls of each kind from distinct loopback addresses (so rate limits don't interfere) in
alternation, and prints the medians side by side with their ratio. The per-email sign-in delay is lifted
(its threshold raised) so that every wrong password is really checked: with the delay in force, unknown and
known emails are refused alike, without a check (tests/integration/test_lockout.py).

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
    stack = Stack(urlsplit(ADMIN_URL)._replace(path=f"/{name}").geturl(), REDIS_URL, Path(tempfile.mkdtemp()),
                  extra_env={"INSIGHTS_AUTH__THROTTLE_THRESHOLD": "1000000", "INSIGHTS_WORKER__ENABLED": "false"})
    try:
        stack.start()
        with stack.client() as http:
            known = register(http)["user"]["email"]
        timings: dict[str, dict[str, list[float]]] = {
            "sign-in": {"unknown email": [], "wrong password": []},
            "sign-up": {"new email": [], "known email": []},
            "reset": {"unknown email": [], "known email": []},
        }

        def timed(section: str, kind: str, path: str, body: dict[str, str], expected: int) -> None:
            with stack.client() as http:
                started = time.perf_counter()
                response = http.post(path, json=body)
                timings[section][kind].append((time.perf_counter() - started) * 1000)
                assert response.status_code == expected, response.text

        for i in range(n):
            wrong = f"Wrong-{i}-Pass!"
            timed("sign-in", "unknown email", "/api/auth/login", {"email": unique_email("ghost"), "password": wrong},
                  401)
            timed("sign-in", "wrong password", "/api/auth/login", {"email": known, "password": wrong}, 401)
            for kind, email in (("new email", unique_email("new")), ("known email", known)):
                timed("sign-up", kind, "/api/auth/register", {"email": email, "password": STRONG_PASSWORD,
                      "firstName": "B", "lastName": "Ench", "organizationName": "Bench"}, 200)
            timed("reset", "unknown email", "/api/auth/password-reset", {"email": unique_email("ghost")}, 200)
            timed("reset", "known email", "/api/auth/password-reset", {"email": known}, 200)
        print(f"{'call':<10}{'case':<16}{'median ms':>10}{'p90 ms':>10}")
        for section, kinds in timings.items():
            medians = {k: statistics.median(v) for k, v in kinds.items()}
            for kind, values in kinds.items():
                print(f"{section:<10}{kind:<16}{medians[kind]:>10.1f}{statistics.quantiles(values, n=10)[-1]:>10.1f}")
            first, second = kinds
            print(f"{section:<10}ratio {first}/{second} medians: {medians[first] / medians[second]:.3f}")
    finally:
        stack.stop()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
