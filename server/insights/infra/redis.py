"""The process's Redis: one client for commands and one for blocking stream reads, behind one breaker.

Redis is never the only copy of anything that matters: when it is down, callers get
``RedisUnavailable`` at once (no per-call timeout after the first failure, for ``retry_after_s``) and
use their fallback (PostgreSQL for revocation checks, per-instance memory for rate limits, no
cache, dropped notifications).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from insights.infra.keys import RedisKeys
from insights.infra.logging import get_logger
from insights.settings import Settings

log = get_logger(__name__)
T = TypeVar("T")


class RedisUnavailable(Exception):
    """Redis cannot be used right now; take the fallback path."""


class Redis:
    """``commands`` has short timeouts; ``blocking`` (XREAD BLOCK) holds its connections for up to
    ``block_s`` and so lives in a pool of its own, with a longer timeout. Both share the breaker."""

    def __init__(self, url: str, *, timeout_s: float, retry_after_s: float, block_s: float, keys: RedisKeys) -> None:
        self.url = url
        self.keys = keys
        self._retry_after_s = retry_after_s
        self.commands: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
        )
        self._timeout_s = timeout_s
        self._block_s = block_s
        self._blocking: aioredis.Redis | None = None
        self._down_until = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Redis:
        return cls(
            settings.redis_url, timeout_s=settings.redis.timeout_s, retry_after_s=settings.redis.retry_after_s,
            block_s=settings.stream.block_ms / 1000, keys=RedisKeys(settings.redis.key_prefix),
        )

    @property
    def blocking(self) -> aioredis.Redis:
        if self._blocking is None:
            self._blocking = aioredis.Redis.from_url(
                self.url, decode_responses=True, socket_timeout=self._block_s + 5,
                socket_connect_timeout=self._timeout_s,
            )
        return self._blocking

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def mark_down(self, error: BaseException) -> None:
        if self.available:
            log.warning("redis.unavailable", error=str(error), retry_in_s=self._retry_after_s)
        self._down_until = time.monotonic() + self._retry_after_s

    async def run(self, operation: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        """Runs a command (or pipeline) on the command client; ``RedisUnavailable`` on any failure."""
        if not self.available:
            raise RedisUnavailable
        try:
            return await operation(self.commands)
        except (RedisError, OSError, TimeoutError) as exc:
            self.mark_down(exc)
            raise RedisUnavailable from exc

    async def ping(self) -> None:
        # Health checks always try, so that recovery is noticed even inside the back-off window.
        try:
            await self.commands.ping()
        except (RedisError, OSError, TimeoutError) as exc:
            self.mark_down(exc)
            raise RedisUnavailable from exc
        self._down_until = 0.0

    async def close(self) -> None:
        await self.commands.aclose()
        if self._blocking is not None:
            await self._blocking.aclose()
