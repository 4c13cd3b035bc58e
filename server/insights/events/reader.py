"""Subscribing: one XREAD loop per organization and instance, fanning out to local subscribers.

Each organization has one Redis Stream (ordered, shared by every server instance, trimmed to about
``stream.maxlen`` entries). An instance runs at most one reader task per organization (``XREAD
BLOCK`` from the last id it saw) and hands each entry to its local subscribers, so a thousand
subscribers cost one Redis connection, not a thousand. Events never cross organizations: the key is
the organization, and a subscriber only ever reads its own key.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any
from uuid import UUID

import redis.asyncio as aioredis
from prometheus_client import Gauge
from redis.exceptions import RedisError

from insights.errors import FieldViolation, UnavailableError, ValidationError
from insights.events.codec import decode
from insights.events.subscription import Subscription, signal
from insights.events.types import EVENT_TYPES, RESYNC, Event, EventFilter, parse_event_id
from insights.infra.logging import get_logger
from insights.infra.redis import Redis, RedisUnavailable
from insights.settings import StreamSettings

log = get_logger(__name__)

SUBSCRIBERS = Gauge("insights_stream_subscribers", "Live subscribers on this instance")


def _decoded(entry_id: str, fields: dict[str, str], key: str) -> Event | None:
    """An entry as an event; a malformed one (written by something else) is logged and skipped."""
    try:
        return decode(entry_id, fields)
    except (ValueError, TypeError, AttributeError):
        log.warning("events.malformed_entry", key=key, entry_id=entry_id)
        return None


class _OrgReader:
    """The one XREAD loop of an organization on this instance."""

    def __init__(self, streams: EventStreams, key: str, start_id: str) -> None:
        self._streams = streams
        self._key = key
        self.last_id = start_id
        self.subscribers: set[Subscription] = set()
        self.task: asyncio.Task[None] = asyncio.create_task(self._run(), name=f"events-reader-{key}")
        self.ticker: asyncio.Task[None] = asyncio.create_task(self._tick(), name=f"events-ticker-{key}")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._streams.heartbeat_s)
            for subscriber in list(self.subscribers):
                subscriber.tick()

    def cancel(self) -> None:
        self.task.cancel()
        self.ticker.cancel()

    async def _run(self) -> None:
        backoff = 0.1
        outage = False
        client = self._streams.redis.blocking
        while True:
            try:
                # At most half a subscriber queue per read: a subscriber that keeps up between reads
                # is never dropped for a burst.
                response: Any = await client.xread(
                    {self._key: self.last_id}, count=self._streams.read_count, block=self._streams.block_ms
                )
            except (RedisError, OSError) as exc:
                if not outage:
                    log.warning("events.reader_failed", key=self._key, error=str(exc))
                outage = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if outage:
                # Events published while Redis was away were dropped: tell everyone to refetch.
                outage, backoff = False, 0.1
                self._fan_out(signal(RESYNC, self.last_id, {"reason": "event stream was unavailable"}))
            for _key, entries in response or ():
                for entry_id, fields in entries:
                    self.last_id = entry_id
                    event = _decoded(entry_id, fields, self._key)
                    if event is not None:
                        self._fan_out(event)

    def _fan_out(self, event: Event) -> None:
        for subscriber in list(self.subscribers):
            if not subscriber.deliver(event):
                self.subscribers.discard(subscriber)


def event_filter(
    *, channels: Sequence[str], customer: str, event_types: Sequence[str], known_channels: frozenset[str],
    last_event_id: str,
) -> EventFilter:
    """The subscriber's filter; ``ValidationError`` naming every bad field (and a bad ``lastEventId``)."""
    violations = [
        FieldViolation(f"channels[{i}]", f"must be one of {', '.join(sorted(known_channels))}")
        for i, c in enumerate(channels) if c not in known_channels
    ] + [
        FieldViolation(f"eventTypes[{i}]", f"must be one of {', '.join(sorted(EVENT_TYPES))}")
        for i, t in enumerate(event_types) if t not in EVENT_TYPES
    ]
    if len(customer) > 255:
        violations.append(FieldViolation("customerId", "must be at most 255 characters"))
    if last_event_id:
        try:
            parse_event_id(last_event_id)
        except ValueError:
            violations.append(FieldViolation("lastEventId", "must be an event id as sent in Event.id"))
    if violations:
        raise ValidationError(violations)
    return EventFilter(channels=frozenset(channels), customer=customer.strip(), event_types=frozenset(event_types))


class EventStreams:
    """``subscribe`` for the stream servicer; ``end_subscriptions`` and ``close`` for shutdown."""

    def __init__(self, settings: StreamSettings, redis: Redis) -> None:
        self.redis = redis
        self._replay_max = settings.replay_max
        self._queue_size = settings.subscriber_queue
        self.heartbeat_s = settings.heartbeat_s
        self.block_ms = settings.block_ms
        self.read_count = max(1, settings.subscriber_queue // 2)
        self._readers: dict[UUID, _OrgReader] = {}

    @contextlib.asynccontextmanager
    async def subscribe(
        self, organization_id: UUID, event_filter: EventFilter, *, last_event_id: str = ""
    ) -> AsyncIterator[Subscription]:
        """A registered subscription of one organization's events; unregistered on exit.

        Raises ``UnavailableError`` when the stream cannot be read right now."""
        subscription = Subscription(event_filter, self._queue_size)
        key = self.redis.keys.events(organization_id)
        try:
            reader = self._readers.get(organization_id)
            if reader is None or reader.task.done():
                tail: Any = await self.redis.run(lambda r: r.xrevrange(key, "+", "-", count=1))
                reader = self._readers.get(organization_id)  # another subscriber may have won the race
                if reader is None or reader.task.done():
                    reader = _OrgReader(self, key, str(tail[0][0]) if tail else "0-0")
                    self._readers[organization_id] = reader
            # A running reader hands every event after its position to every registered subscriber, so
            # joining at its position needs no Redis round trip (a burst of 1,000 subscribers costs one).
            reader.subscribers.add(subscription)
            subscription.position = reader.last_id
            if last_event_id:
                # Registered before the replay is read, so that nothing published meanwhile is missed;
                # a live event that the replay also returns is delivered once (by position).
                await self._prepare_replay(subscription, key, last_event_id)
        except RedisUnavailable:
            self._leave(organization_id, subscription)
            raise UnavailableError("Event stream temporarily unavailable", retry_after_s=2) from None
        SUBSCRIBERS.inc()
        try:
            yield subscription
        finally:
            SUBSCRIBERS.dec()
            self._leave(organization_id, subscription)

    async def _prepare_replay(self, subscription: Subscription, key: str, since_id: str) -> None:
        """Loads what came after ``since_id``, or a resync when that is more than the stream can replay."""
        since = parse_event_id(since_id)

        async def read(client: aioredis.Redis) -> tuple[dict[str, Any], list[Any]]:
            if not await client.exists(key):
                return {}, []
            info: Any = await client.xinfo_stream(key)
            missed: Any = await client.xrange(key, f"({since_id}", "+", count=self._replay_max + 1)
            return info, missed

        info, missed = await self.redis.run(read)
        # Redis 7 knows the newest id it ever trimmed or deleted; older servers: the oldest entry kept.
        first: Any = info.get("first-entry")
        if not info:
            gap = since > (0, 0)  # the stream expired (or never existed) after the client's position
        elif "max-deleted-entry-id" in info:
            gap = since < parse_event_id(str(info["max-deleted-entry-id"]))
        else:
            gap = bool(first) and since != (0, 0) and since < parse_event_id(str(first[0]))
        if gap or len(missed) > self._replay_max:
            # Too old to replay completely: the client must refetch state, and live events follow from
            # the newest entry on, so no part of the backlog trickles in after the resync.
            newest = str(info.get("last-generated-id") or "0-0")
            if parse_event_id(newest) > parse_event_id(subscription.position):
                subscription.position = newest
            subscription.set_replay([signal(RESYNC, subscription.position, {"reason": "events were missed"})])
            return
        subscription.position = since_id
        replay = (_decoded(entry_id, fields, key) for entry_id, fields in missed)
        subscription.set_replay([e for e in replay if e is not None and subscription.filter.matches(e)])

    def _leave(self, organization_id: UUID, subscription: Subscription) -> None:
        reader = self._readers.get(organization_id)
        if reader is None:
            return
        reader.subscribers.discard(subscription)
        if not reader.subscribers:
            reader.cancel()
            del self._readers[organization_id]

    def end_subscriptions(self) -> None:
        """Ends every live subscription of this instance (shutdown: before the server stops)."""
        for reader in self._readers.values():
            for subscription in reader.subscribers:
                subscription.end()

    async def close(self) -> None:
        for reader in self._readers.values():
            reader.cancel()
        await asyncio.gather(*(t for r in self._readers.values() for t in (r.task, r.ticker)), return_exceptions=True)
        self._readers.clear()
