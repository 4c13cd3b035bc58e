"""Session fixtures: a fresh database on the machine's PostgreSQL, Redis, one server and one Envoy.

PostgreSQL and Redis come from ``TEST_DATABASE_ADMIN_URL`` / ``TEST_REDIS_URL`` (defaults: the
local services CI provides). Fault tests start private instances of their own (see test_faults.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from psycopg import sql

from tests.support import Stack

ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/11")


def _with_dbname(url: str, dbname: str) -> str:
    return urlsplit(url)._replace(path=f"/{dbname}").geturl()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    name = f"insights_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield _with_dbname(ADMIN_URL, name)
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def redis_url() -> str:
    # Not flushed: several test runs may share this Redis. Every key a test creates is its own
    # (fresh users, sessions, and a random block of client addresses per run, see support.py).
    client = redis.Redis.from_url(REDIS_URL)
    # Plain gRPC clients cannot pick their source address: they all share the machine's default one
    # (not always 127.0.0.1 in a sandbox). Give the addresses that tests did not choose themselves a
    # fresh rate-limit budget per run, so that runs within one minute don't starve each other.
    for key in client.scan_iter("rl:LIMITER/*ip/*"):
        address = key.decode().split("/")[2]
        if address == "127.0.0.1" or not address.startswith("127."):
            client.delete(key)
    return REDIS_URL


@pytest.fixture(scope="session")
def stack(database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # The analysis worker is off here so that tests can see rows while they are still pending;
    # tests/test_worker.py runs it explicitly.
    running = Stack(
        database_url, redis_url, Path(tmp_path_factory.mktemp("stack")), extra_env={"INSIGHTS_WORKER_ENABLED": "false"}
    ).start()
    yield running
    running.stop()


@pytest.fixture
def owner_db(database_url: str) -> Iterator[psycopg.Connection]:
    """The owner's connection (bypasses row-level security): for checking what was stored."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn
