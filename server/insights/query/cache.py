"""Redis cache of read-side answers, per organization, invalidated by the organization's writes.

A key is ``cache:{organizationId}:q:{endpoint}:{sha256 of the canonical request}``; its value is the
organization's *cache generation* at the time the answer was computed, then the answer. Every write of
the organization (ingestion, scoring, edits, erasure, retention, new patterns) increments the
generation after its commit, so an answer computed before a write is never served after it: one
``MGET`` reads the generation and the entry together, and a stale entry simply misses. The generation
is read *before* the database is: an answer computed from a snapshot older than a concurrent write
carries the older generation and is never served once that write has bumped it.

An organization's entries are only ever read under its own id (the principal's), so one tenant never
sees another's. Redis down: every call computes its answer (nothing is served stale).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable
from uuid import UUID

import redis.asyncio as aioredis
from prometheus_client import Counter

from insights.infra.logging import get_logger
from insights.infra.redis import Redis, RedisUnavailable

log = get_logger(__name__)
CACHE_LOOKUPS = Counter("insights_query_cache_total", "Read-side cache look-ups", ["endpoint", "result"])


class QueryCache:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._keys = redis.keys

    def key(self, organization_id: UUID, endpoint: str, request: bytes | str) -> str:
        data = request.encode() if isinstance(request, str) else request
        return f"{self._keys.cache_prefix(organization_id)}q:{endpoint}:{hashlib.sha256(data).hexdigest()[:32]}"

    async def fetch(
        self, organization_id: UUID, endpoint: str, request: bytes | str, ttl_s: int,
        compute: Callable[[], Awaitable[bytes]],
    ) -> bytes:
        """The cached answer, or ``compute()``'s (then stored for ``ttl_s``)."""
        key = self.key(organization_id, endpoint, request)
        generation_key = self._keys.cache_generation(organization_id)
        generation: str | None = None
        try:
            found = await self._redis.run(lambda r: r.mget([generation_key, key]))
            generation = str(found[0] or "0")  # the client decodes responses: str
            entry = found[1] if isinstance(found[1], str) else None
            if entry is not None:
                stored_generation, _, payload = entry.partition("|")
                if stored_generation == generation:
                    CACHE_LOOKUPS.labels(endpoint, "hit").inc()
                    return base64.b64decode(payload)
        except RedisUnavailable:
            pass
        CACHE_LOOKUPS.labels(endpoint, "miss").inc()
        answer = await compute()
        if generation is not None and ttl_s > 0:
            value = f"{generation}|{base64.b64encode(answer).decode()}"
            try:
                await self._redis.run(lambda r: r.set(key, value, ex=ttl_s))
            except RedisUnavailable:
                pass
        return answer

    async def invalidate(self, organization_id: UUID) -> bool:
        """After a committed write: the organization's cached answers are stale. False if Redis was down
        (entries then expire by their TTL)."""
        try:
            await self._redis.run(lambda r: r.incr(self._keys.cache_generation(organization_id)))
        except RedisUnavailable:
            log.warning("query_cache.invalidate_skipped", organization_id=str(organization_id))
            return False
        return True

    async def purge(self, organization_id: UUID) -> None:
        """Deletes every cached answer of the organization (erasure: cached pages may hold the erased
        customer's interactions, so they go, not merely go stale)."""

        async def run(client: aioredis.Redis) -> None:
            pattern = f"{self._keys.cache_prefix(organization_id)}q:*"
            doomed = [key async for key in client.scan_iter(match=pattern, count=1000)]
            for i in range(0, len(doomed), 500):
                await client.delete(*doomed[i:i + 500])

        await self._redis.run(run)
