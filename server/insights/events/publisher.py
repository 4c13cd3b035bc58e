"""Publishing after commit: best effort, PostgreSQL is the record and the stream the notification.

Ingestion publishes in the background after its commit and tries again for a few seconds; when Redis
stays down the events are dropped (logged, counted in ``insights_events_dropped_total``), and the
write that triggered them has committed all the same. Readers that lost Redis send their subscribers
a ``resync`` event once it is back, because events may have been dropped meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import redis.asyncio as aioredis
from prometheus_client import Counter

from insights.events.codec import APPEND_SCRIPT, encode
from insights.events.types import NewEvent
from insights.infra.logging import get_logger
from insights.infra.redis import Redis, RedisUnavailable
from insights.settings import StreamSettings

log = get_logger(__name__)

_MAX_PENDING = 1000
"""Event batches waiting for Redis at most; beyond it (a long outage) new ones are dropped at once."""
_ATTEMPTS = 3

EVENTS_PUBLISHED = Counter("insights_events_published_total", "Events appended to organization streams")
EVENTS_DROPPED = Counter("insights_events_dropped_total", "Events not published because Redis was unavailable")


class EventPublisher:
    def __init__(self, settings: StreamSettings, redis: Redis, *, retry_after_s: float) -> None:
        self._redis = redis
        self._maxlen = settings.maxlen
        self._ttl_s = settings.ttl_s
        self._retry_after_s = retry_after_s
        self._pending: set[asyncio.Task[int]] = set()
        self._append = redis.commands.register_script(APPEND_SCRIPT)

    async def publish(self, organization_id: UUID, event: NewEvent) -> str | None:
        """Appends one event; its stream id, or None when Redis is unavailable (the event is dropped)."""
        key = self._redis.keys.events(organization_id)
        fields = encode(event, int(time.time() * 1000))

        async def append(client: aioredis.Redis) -> str:
            async with client.pipeline(transaction=False) as pipe:
                pipe.xadd(key, {"e": fields}, maxlen=self._maxlen, approximate=True)
                pipe.expire(key, self._ttl_s)
                event_id, _ = await pipe.execute()
            return str(event_id)

        try:
            event_id = await self._redis.run(append)
        except RedisUnavailable:
            EVENTS_DROPPED.inc()
            log.warning("events.dropped", organization_id=str(organization_id), count=1)
            return None
        EVENTS_PUBLISHED.inc()
        return event_id

    async def publish_many(self, organization_id: UUID, events: Sequence[NewEvent], *, attempts: int = 1) -> int:
        """Appends events in order, in one round trip; how many (0 when Redis stayed unavailable).

        A server-side script appends them one by one: each event keeps its own stream entry (and id),
        but the client sends one command instead of thousands. With ``attempts`` > 1, an unavailable
        Redis (often a moment's overload that opened the breaker) is tried again after its back-off.
        """
        if not events:
            return 0
        now_ms = int(time.time() * 1000)
        body = "\n".join(encode(event, now_ms) for event in events)
        key = self._redis.keys.events(organization_id)
        for attempt in range(1, attempts + 1):
            try:
                count: Any = await self._redis.run(
                    lambda r: self._append(keys=[key], args=[self._maxlen, self._ttl_s, body], client=r)
                )
            except RedisUnavailable:
                if attempt < attempts:
                    await asyncio.sleep(self._retry_after_s)
                    continue
                break
            EVENTS_PUBLISHED.inc(int(count))
            return int(count)
        EVENTS_DROPPED.inc(len(events))
        log.warning("events.dropped", organization_id=str(organization_id), count=len(events))
        return 0

    def publish_soon(self, organization_id: UUID, events: Sequence[NewEvent]) -> None:
        """``publish_many`` without waiting for it: the caller's response does not wait on Redis, and
        the appending overlaps with the next request's database work. Tried a few times (seconds)
        before the events are dropped; at most ``_MAX_PENDING`` batches wait. Flushed by ``close``."""
        if not events:
            return
        if len(self._pending) >= _MAX_PENDING:
            EVENTS_DROPPED.inc(len(events))
            log.warning("events.dropped", organization_id=str(organization_id), count=len(events), reason="backlog")
            return
        task = asyncio.create_task(self.publish_many(organization_id, events, attempts=_ATTEMPTS))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def forget(self, organization_id: UUID, *, customer_id: str) -> int:
        """Deletes every entry of the organization's stream that mentions a customer (its id as the
        event's customer or anywhere in the payload): erasure. Returns how many."""
        key = self._redis.keys.events(organization_id)

        async def purge(client: aioredis.Redis) -> int:
            entries: Any = await client.xrange(key, "-", "+")
            doomed = [entry_id for entry_id, fields in entries if customer_id in fields.get("e", "")]
            return int(await client.xdel(key, *doomed)) if doomed else 0

        return await self._redis.run(purge)

    async def close(self) -> None:
        """Waits (a few seconds at most) for background appends still in flight."""
        if self._pending:
            _, late = await asyncio.wait(set(self._pending), timeout=5)
            for task in late:
                task.cancel()
