"""Readiness of each dependency, for ``GET /api/health`` and the gRPC health service."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from insights.errors import UnavailableError
from insights.infra.db import Database
from insights.infra.redis import Redis, RedisUnavailable


@dataclass(frozen=True)
class DependencyState:
    status: str  # "up" | "down"
    detail: str
    latency_ms: float


@dataclass(frozen=True)
class HealthReport:
    status: str  # "ok" | "degraded" | "down"
    dependencies: dict[str, DependencyState]

    @property
    def ready(self) -> bool:
        return self.status != "down"

    def require_ready(self) -> HealthReport:
        """This report, or ``UnavailableError`` (503) naming each dependency's state."""
        if not self.ready:
            error = UnavailableError(
                "Not ready: " + ", ".join(f"{name} {dep.status}" for name, dep in self.dependencies.items()),
                retry_after_s=1,
            )
            error.metadata = {name: dep.status for name, dep in self.dependencies.items()}
            raise error
        return self


async def _probe(check: Callable[[], Awaitable[None]], timeout_s: float) -> DependencyState:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), timeout_s)
    except (UnavailableError, RedisUnavailable, TimeoutError, OSError) as exc:
        return DependencyState("down", type(exc).__name__, (time.perf_counter() - started) * 1000)
    return DependencyState("up", "", (time.perf_counter() - started) * 1000)


class HealthMonitor:
    """PostgreSQL is essential (no PostgreSQL: not ready); Redis is not (degraded service)."""

    def __init__(self, db: Database, redis: Redis) -> None:
        self._db = db
        self._redis = redis

    async def check(self) -> HealthReport:
        postgres, redis = await asyncio.gather(_probe(self._db.ping, 2.0), _probe(self._redis.ping, 1.0))
        deps = {"postgres": postgres, "redis": redis}
        if postgres.status != "up":
            status = "down"
        elif redis.status != "up":
            status = "degraded"
        else:
            status = "ok"
        return HealthReport(status, deps)
