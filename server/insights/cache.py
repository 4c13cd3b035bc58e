"""Redis: shared cache, revocation list and rate-limit store, used with a breaker.

Redis is never the only copy of anything that matters: when it is down, callers get
``RedisUnavailable`` at once (no per-call timeout after the first failure) and use their fallback
(PostgreSQL for revocation checks, per-instance memory for rate limits).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from insights.logging import get_logger
from insights.settings import Settings

log = get_logger(__name__)
T = TypeVar("T")


class RedisUnavailable(Exception):
    """Redis cannot be used right now; take the fallback path."""


class RedisClient:
    def __init__(self, settings: Settings) -> None:
        self.url = settings.redis_url
        self._retry_after_s = settings.redis_retry_after_s
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
            decode_responses=True,
        )
        self._down_until = 0.0

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def mark_down(self, error: BaseException) -> None:
        if self.available:
            log.warning("redis.unavailable", error=str(error), retry_in_s=self._retry_after_s)
        self._down_until = time.monotonic() + self._retry_after_s

    async def run(self, operation: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        if not self.available:
            raise RedisUnavailable
        try:
            return await operation(self.client)
        except (RedisError, OSError, TimeoutError) as exc:
            self.mark_down(exc)
            raise RedisUnavailable from exc

    async def ping(self) -> None:
        # Health checks always try, so that recovery is noticed even inside the back-off window.
        try:
            await self.client.ping()
        except (RedisError, OSError, TimeoutError) as exc:
            self.mark_down(exc)
            raise RedisUnavailable from exc
        self._down_until = 0.0

    async def close(self) -> None:
        await self.client.aclose()
