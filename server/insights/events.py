"""Organization event streams: published after commit, delivered live, replayable after a reconnect.

Each organization has one Redis Stream, ``events:{organization_id}``: ordered, shared by every server
instance, trimmed to about ``stream_maxlen`` entries. An instance runs at most one reader task per
organization (``XREAD BLOCK`` from the last id it saw) and fans each entry out to its local
subscribers, so a thousand subscribers cost one Redis connection, not a thousand. Events never cross
organizations: the key is the organization, and a subscriber only ever reads its own key.

Publishing is best effort. PostgreSQL is the record; the stream is the notification. Ingestion
publishes in the background after its commit and tries again for a few seconds; when Redis stays
down the events are dropped (logged, counted in ``insights_events_dropped_total``), and the write that
triggered them has committed all the same. ``publish`` (one event, awaited) returns None then. A
reader that lost Redis sends its subscribers a ``resync`` event once Redis is back, because events
may have been dropped meanwhile.

Delivery per subscriber: a "heartbeat" as soon as it is registered (anything published after that
reaches it), then the replay of what it missed (``last_event_id``), then live events; a heartbeat
after ``stream_heartbeat_s`` to twice that of silence. A subscriber whose buffer overflows is dropped
(``SubscriberTooSlow``) instead of slowing the reader and everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from json.encoder import encode_basestring_ascii as _quote
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar
from uuid import UUID

import redis.asyncio as aioredis
from prometheus_client import Counter, Gauge
from redis.exceptions import RedisError

from insights.cache import RedisUnavailable
from insights.errors import UnavailableError, ValidationError
from insights.logging import get_logger
from insights.settings import Settings

log = get_logger(__name__)
T = TypeVar("T")

INTERACTION_CREATED = "interaction.created"
INTERACTION_UPDATED = "interaction.updated"
SENTIMENT_ANALYZED = "sentiment.analyzed"
PATTERN_DETECTED = "pattern.detected"
EVENT_TYPES = frozenset({INTERACTION_CREATED, INTERACTION_UPDATED, SENTIMENT_ANALYZED, PATTERN_DETECTED})
HEARTBEAT = "heartbeat"
RESYNC = "resync"
_MAX_PENDING = 1000
"""Event batches waiting for Redis at most; beyond it (a long outage) new ones are dropped at once."""

EVENTS_PUBLISHED = Counter("insights_events_published_total", "Events appended to organization streams")
EVENTS_DROPPED = Counter("insights_events_dropped_total", "Events not published because Redis was unavailable")
SUBSCRIBERS = Gauge("insights_stream_subscribers", "Live subscribers on this instance")
SLOW_DROPS = Counter("insights_stream_slow_subscribers_total", "Subscribers dropped for falling behind")


def stream_key(organization_id: UUID | str) -> str:
    return f"events:{organization_id}"


def parse_event_id(value: str) -> tuple[int, int]:
    """A Redis stream id ("1700000000000-3") as a comparable pair; ValueError if malformed."""
    ms, _, seq = value.partition("-")
    if not ms.isdigit() or (seq and not seq.isdigit()):
        raise ValueError(value)
    return int(ms), int(seq or 0)


@dataclass(frozen=True)
class Event:
    id: str
    """Stream position; a client passes the last one it saw back as ``last_event_id``."""
    type: str
    occurred_at: datetime
    interaction_id: str = ""
    customer_id: str = ""
    channel: str = ""
    payload: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def position(self) -> tuple[int, int]:
        # Cached: one event is compared by every local subscriber.
        return parse_event_id(self.id) if self.id else (0, 0)


class NewEvent(NamedTuple):
    """An event to publish; ``publish_many`` takes a list of these. A named tuple, not a dataclass:
    ingestion creates one per stored event, and a tuple is built several times faster."""

    type: str
    interaction_id: UUID | str | None = None
    customer_id: UUID | str | None = None
    channel: str = ""
    payload: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class EventFilter:
    """Empty fields match everything. Heartbeats and resyncs always pass."""

    channels: frozenset[str] = frozenset()
    customer_id: str = ""
    event_types: frozenset[str] = frozenset()

    def matches(self, event: Event) -> bool:
        if event.type in (HEARTBEAT, RESYNC):
            return True
        return (
            (not self.event_types or event.type in self.event_types)
            and (not self.channels or event.channel in self.channels)
            and (not self.customer_id or event.customer_id == self.customer_id)
        )


class SubscriberTooSlow(Exception):
    """The subscriber fell more than ``stream_subscriber_queue`` events behind and was dropped."""


def _encode(event: NewEvent, now_ms: int) -> str:
    """An entry's one field: compact JSON (never a raw newline, so a batch can be newline-joined).
    Assembled by hand: it runs once per ingested event, and json.dumps of a dict is three times slower."""
    parts = ['{"t":', _quote(event.type), ',"at":', str(now_ms)]
    if event.interaction_id:
        parts += [',"iid":', _quote(str(event.interaction_id))]
    if event.customer_id:
        parts += [',"cid":', _quote(str(event.customer_id))]
    if event.channel:
        parts += [',"ch":', _quote(event.channel)]
    payload = event.payload
    if payload and all(type(value) is str for value in payload.values()):
        # The common case (ingestion's eventType and timestamp): flat strings, quoted by the C encoder.
        parts += [',"p":{', ",".join(_quote(k) + ":" + _quote(v) for k, v in payload.items()), "}"]
    elif payload:
        parts += [',"p":', json.dumps(payload, separators=(",", ":"))]
    parts.append("}")
    return "".join(parts)


# KEYS[1]: the stream; ARGV: maxlen, ttl seconds, newline-separated entries. Returns how many.
_APPEND_SCRIPT = """
local n = 0
for entry in string.gmatch(ARGV[3], "[^\\n]+") do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', entry)
  n = n + 1
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return n
"""


def _decode(entry_id: str, fields: dict[str, str]) -> Event:
    body = json.loads(fields.get("e") or "{}")
    return Event(
        id=entry_id,
        type=str(body.get("t", "")),
        occurred_at=datetime.fromtimestamp(int(body.get("at") or 0) / 1000, UTC),
        interaction_id=str(body.get("iid", "")),
        customer_id=str(body.get("cid", "")),
        channel=str(body.get("ch", "")),
        payload=body.get("p") or {},
    )


def _signal(kind: str, position: str, payload: dict[str, Any] | None = None) -> Event:
    # Heartbeats and resyncs carry the last position delivered, so that a client that stores the id
    # of every event it sees always holds a valid resume point.
    return Event(id=position, type=kind, occurred_at=datetime.now(UTC), payload=payload or {})


class Subscription:
    """One subscriber's buffer. Iterate it; leave with the ``EventBus.subscribe`` context manager."""

    def __init__(self, event_filter: EventFilter, queue_size: int) -> None:
        self.filter = event_filter
        self._queue_size = queue_size
        self._buffer: deque[Event] = deque()
        self._wake = asyncio.Event()
        self.overflowed = False
        self._position = "0-0"
        self._at = (0, 0)
        self._replay: list[Event] = []
        self._passed = ""
        """Id of the last event filtered out: heartbeats move the position past it."""
        self._quiet = False
        self._heartbeat_due = False
        self._ending = False

    @property
    def position(self) -> str:
        """Id of the last event handed to the client (replayed, live or signalled)."""
        return self._position

    @position.setter
    def position(self, value: str) -> None:
        self._position, self._at = value, parse_event_id(value)

    def deliver(self, event: Event) -> bool:
        """Called by the reader for every event; never blocks. False once the subscriber is dropped."""
        if self.overflowed:
            return False
        if not self.filter.matches(event):
            self._passed = event.id or self._passed
            return True
        if len(self._buffer) >= self._queue_size:
            self.overflowed = True
            self._buffer.clear()
            self._wake.set()
            SLOW_DROPS.inc()
            return False
        self._buffer.append(event)
        self._wake.set()
        return True

    def tick(self) -> None:
        """Called every heartbeat interval: a subscriber that was sent nothing since the last tick
        gets a heartbeat (one timer per organization, not one per subscriber and event)."""
        if self._quiet:
            self._heartbeat_due = True
            self._wake.set()
        self._quiet = True

    def end(self) -> None:
        """The instance is shutting down: the iteration stops with ``UnavailableError`` at once."""
        self._ending = True
        self._wake.set()

    def set_replay(self, events: list[Event]) -> None:
        self._replay = events

    def _advance(self, event: Event) -> Event:
        if event.id:
            self.position = event.id
        self._quiet = False
        return event

    async def __aiter__(self) -> AsyncIterator[Event]:
        yield _signal(HEARTBEAT, self.position, {"subscribed": True})
        for event in self._replay:
            yield self._advance(event)
        self._replay = []
        while True:
            if self.overflowed:
                raise SubscriberTooSlow("subscriber too slow")
            if self._ending:
                # Instead of holding the shutdown for its whole grace period: the client reconnects
                # (to another instance) with its last event id and misses nothing.
                raise UnavailableError("Server is shutting down; reconnect with lastEventId", retry_after_s=1)
            if self._buffer:
                event = self._buffer.popleft()
                # Live events that the replay already delivered are skipped (the replay raced them).
                if event.type not in (HEARTBEAT, RESYNC) and event.position <= self._at:
                    continue
                yield self._advance(event)
                continue
            if self._heartbeat_due:
                self._heartbeat_due = False
                # Nothing is buffered, so everything up to the last filtered-out event was handled:
                # resuming from there replays nothing twice and skips nothing.
                if self._passed and parse_event_id(self._passed) > self._at:
                    self.position = self._passed
                yield _signal(HEARTBEAT, self.position)
                continue
            self._wake.clear()
            await self._wake.wait()


class _OrgReader:
    """The one XREAD loop of an organization on this instance, fanning out to local subscribers."""

    def __init__(self, bus: EventBus, organization_id: UUID, start_id: str) -> None:
        self._bus = bus
        self._key = stream_key(organization_id)
        self.last_id = start_id
        self.subscribers: set[Subscription] = set()
        self.task: asyncio.Task[None] = asyncio.create_task(self._run(), name=f"events-reader-{organization_id}")
        self.ticker: asyncio.Task[None] = asyncio.create_task(self._tick(), name=f"events-ticker-{organization_id}")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._bus.heartbeat_s)
            for subscriber in list(self.subscribers):
                subscriber.tick()

    def cancel(self) -> None:
        self.task.cancel()
        self.ticker.cancel()

    async def _run(self) -> None:
        backoff = 0.1
        outage = False
        while True:
            try:
                # At most half a subscriber queue per read: a subscriber that keeps up between reads
                # is never dropped for a burst.
                response: Any = await self._bus.reader_client.xread(
                    {self._key: self.last_id}, count=self._bus.read_count, block=self._bus.block_ms
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
                self._fan_out(_signal(RESYNC, self.last_id, {"reason": "event stream was unavailable"}))
            for _key, entries in response or ():
                for entry_id, fields in entries:
                    self.last_id = entry_id
                    try:
                        event = _decode(entry_id, fields)
                    except (ValueError, TypeError, AttributeError):
                        log.warning("events.malformed_entry", key=self._key, entry_id=entry_id)
                        continue
                    self._fan_out(event)

    def _fan_out(self, event: Event) -> None:
        for subscriber in list(self.subscribers):
            if not subscriber.deliver(event):
                self.subscribers.discard(subscriber)


class EventBus:
    """``platform.events``: publish from any component, subscribe from the stream servicer."""

    def __init__(self, settings: Settings) -> None:
        # Commands get a client of their own, outside the shared breaker of ``RedisClient``: a burst of
        # calls that makes some other component time out must not drop or delay events. A failure of
        # Redis itself still surfaces as ``RedisUnavailable`` (here, after four times ``redis_timeout_s``).
        self._client: aioredis.Redis = aioredis.Redis.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_timeout=settings.redis_timeout_s * 4,
            socket_connect_timeout=settings.redis_timeout_s,
        )
        self._maxlen = settings.stream_maxlen
        self._ttl_s = settings.stream_ttl_s
        self._replay_max = settings.stream_replay_max
        self._queue_size = settings.stream_subscriber_queue
        self.heartbeat_s = settings.stream_heartbeat_s
        self.block_ms = settings.stream_block_ms
        self.read_count = max(1, settings.stream_subscriber_queue // 2)
        # Blocking reads hold their connection for up to block_ms: a client of their own, with a
        # socket timeout longer than the block, so that they never share the short-timeout pool.
        self.reader_client: aioredis.Redis = aioredis.Redis.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_timeout=settings.stream_block_ms / 1000 + 5,
            socket_connect_timeout=settings.redis_timeout_s,
        )
        self._readers: dict[UUID, _OrgReader] = {}
        self._retry_after_s = settings.redis_retry_after_s
        self._pending: set[asyncio.Task[int]] = set()
        self._append_script = self._client.register_script(_APPEND_SCRIPT)

    async def _run(self, operation: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        try:
            return await operation(self._client)
        except (RedisError, OSError, TimeoutError) as exc:
            raise RedisUnavailable from exc

    # --- publishing ------------------------------------------------------------------------------

    async def publish(
        self,
        organization_id: UUID,
        event_type: str,
        *,
        interaction_id: UUID | str | None = None,
        customer_id: UUID | str | None = None,
        channel: str = "",
        payload: dict[str, Any] | None = None,
    ) -> str | None:
        """Appends one event; its stream id, or None when Redis is unavailable (the event is dropped)."""
        key = stream_key(organization_id)
        fields = _encode(NewEvent(event_type, interaction_id, customer_id, channel, payload or {}),
                         int(time.time() * 1000))

        async def append(client: aioredis.Redis) -> str:
            async with client.pipeline(transaction=False) as pipe:
                pipe.xadd(key, {"e": fields}, maxlen=self._maxlen, approximate=True)
                pipe.expire(key, self._ttl_s)
                event_id, _ = await pipe.execute()
            return str(event_id)

        try:
            event_id = await self._run(append)
        except RedisUnavailable:
            EVENTS_DROPPED.inc()
            log.warning("events.dropped", organization_id=str(organization_id), count=1)
            return None
        EVENTS_PUBLISHED.inc()
        return event_id

    async def publish_many(self, organization_id: UUID, events: Sequence[NewEvent], *, attempts: int = 1) -> int:
        """Appends events in order, in one round trip; how many (0 when Redis stayed unavailable).

        A server-side script appends them one by one: each event keeps its own stream entry (and id),
        but the client sends one command instead of thousands, which is what a 10,000-event batch
        would otherwise spend most of its time on. With ``attempts`` > 1, an unavailable Redis (often
        a moment's overload that opened the breaker) is tried again after the breaker's back-off.
        """
        if not events:
            return 0
        now_ms = int(time.time() * 1000)
        body = "\n".join(_encode(event, now_ms) for event in events)
        key = stream_key(organization_id)
        for attempt in range(1, attempts + 1):
            try:
                count = await self._run(
                    lambda r: self._append_script(keys=[key], args=[self._maxlen, self._ttl_s, body], client=r)
                )
            except RedisUnavailable:
                if attempt < attempts:
                    await asyncio.sleep(self._retry_after_s)
                    continue
                EVENTS_DROPPED.inc(len(events))
                log.warning("events.dropped", organization_id=str(organization_id), count=len(events))
                return 0
            EVENTS_PUBLISHED.inc(int(count))
            return int(count)
        return 0

    def publish_soon(self, organization_id: UUID, events: Sequence[NewEvent]) -> None:
        """``publish_many`` without waiting for it: the caller's response does not wait on Redis, and
        the appending overlaps with the next request's database work. Tried up to three times (a few
        seconds) before the events are dropped; at most ``_MAX_PENDING`` batches wait. Flushed by
        ``close``."""
        if not events:
            return
        if len(self._pending) >= _MAX_PENDING:
            EVENTS_DROPPED.inc(len(events))
            log.warning("events.dropped", organization_id=str(organization_id), count=len(events), reason="backlog")
            return
        task = asyncio.create_task(self.publish_many(organization_id, events, attempts=3))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def forget(self, organization_id: UUID, *, customer_id: str) -> int:
        """Deletes every entry of the organization's stream that mentions a customer (its id as the event's
        customer or anywhere in the payload): erasure. Returns how many."""
        key = stream_key(organization_id)

        async def purge(client: aioredis.Redis) -> int:
            entries: Any = await client.xrange(key, "-", "+")
            doomed = [entry_id for entry_id, fields in entries if customer_id in fields.get("e", "")]
            return int(await client.xdel(key, *doomed)) if doomed else 0

        return await self._run(purge)

    # --- subscribing -----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(
        self, organization_id: UUID, event_filter: EventFilter | None = None, *, last_event_id: str = ""
    ) -> AsyncIterator[Subscription]:
        """A registered subscription of one organization's events; unregistered on exit.

        Raises ``ValidationError`` for a malformed ``last_event_id`` and ``UnavailableError`` when the
        stream cannot be read right now.
        """
        if last_event_id:
            try:
                parse_event_id(last_event_id)
            except ValueError:
                raise ValidationError.single("lastEventId", "must be an event id as sent in Event.id") from None
        subscription = Subscription(event_filter or EventFilter(), self._queue_size)
        key = stream_key(organization_id)
        try:
            reader = self._readers.get(organization_id)
            if reader is None or reader.task.done():
                tail: Any = await self._run(lambda r: r.xrevrange(key, "+", "-", count=1))
                reader = self._readers.get(organization_id)  # another subscriber may have won the race
                if reader is None or reader.task.done():
                    reader = _OrgReader(self, organization_id, str(tail[0][0]) if tail else "0-0")
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

        info, missed = await self._run(read)
        # Redis 7 knows the newest id it ever trimmed or deleted; older servers: the oldest entry kept.
        first: Any = info.get("first-entry")
        if not info:
            gap = since > (0, 0)  # the stream expired (or never existed) after the client's position
        elif "max-deleted-entry-id" in info:
            gap = since < parse_event_id(str(info["max-deleted-entry-id"]))
        else:
            gap = bool(first) and since != (0, 0) and since < parse_event_id(str(first[0]))
        if gap or len(missed) > self._replay_max:
            # Too old to replay completely: the client must refetch state; live events follow.
            subscription.set_replay([_signal(RESYNC, subscription.position, {"reason": "events were missed"})])
            return
        subscription.position = since_id
        subscription.set_replay([e for e in (_decode(i, f) for i, f in missed) if subscription.filter.matches(e)])

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
        if self._pending:
            _, late = await asyncio.wait(set(self._pending), timeout=5)
            for task in late:
                task.cancel()
        for reader in self._readers.values():
            reader.cancel()
        await asyncio.gather(*(t for r in self._readers.values() for t in (r.task, r.ticker)), return_exceptions=True)
        self._readers.clear()
        await self.reader_client.aclose()
        await self._client.aclose()
