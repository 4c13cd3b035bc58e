"""Rate limits (moving window) shared by all instances through Redis.

While Redis is down each instance enforces the same limits from its own memory: the limit
holds per instance instead of cluster-wide, and nothing is blocked for lack of Redis.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from insights.errors import RateLimitedError, RateLimitInfo
from insights.infra.logging import get_logger
from insights.infra.redis import Redis
from insights.settings import RateLimitSettings

log = get_logger(__name__)


@dataclass(frozen=True)
class Limit:
    scope: str
    item: RateLimitItem


class RateLimiter:
    def __init__(self, settings: RateLimitSettings, redis: Redis) -> None:
        self._redis = redis
        # The process's command connection pool: no pool of the limiter's own.
        storage = RedisStorage(
            "async+redis://", wrap_exceptions=True, implementation="redispy",
            key_prefix=redis.keys.rate_limit_prefix,
            connection_pool=redis.commands.connection_pool,  # type: ignore[arg-type]  # typed too narrowly
        )
        self._shared = MovingWindowRateLimiter(storage)
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self.ip = Limit("ip", RateLimitItemPerMinute(settings.ip_per_minute))
        self.auth_ip = Limit("auth-ip", RateLimitItemPerMinute(settings.auth_ip_per_minute))
        self.user = Limit("user", RateLimitItemPerMinute(settings.user_per_minute))
        self.api_key = Limit("api-key", RateLimitItemPerMinute(settings.api_key_per_minute))

    async def hit(self, limit: Limit, key: str) -> RateLimitInfo:
        """Count one call; raise ``RateLimitedError`` when over. Returns the window's state."""
        limiter = self._shared if self._redis.available else self._local
        try:
            allowed = await limiter.hit(limit.item, limit.scope, key)
            stats = await limiter.get_window_stats(limit.item, limit.scope, key)
        except StorageError as exc:
            self._redis.mark_down(exc)
            limiter = self._local
            allowed = await limiter.hit(limit.item, limit.scope, key)
            stats = await limiter.get_window_stats(limit.item, limit.scope, key)
        info = RateLimitInfo(
            limit=limit.item.amount,
            remaining=max(0, stats.remaining),
            reset_s=max(1, math.ceil(stats.reset_time - time.time())),
            scope=limit.scope,
        )
        if not allowed:
            log.info("rate_limit.exceeded", scope=limit.scope, key=key)
            raise RateLimitedError(info)
        return info
