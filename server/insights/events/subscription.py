"""One subscriber's state machine: a buffer the reader fills, iterated by the stream servicer.

Delivery: a "heartbeat" as soon as it is registered (anything published after that reaches it), then
the replay of what it missed (``last_event_id``), then live events; a heartbeat after one to two
heartbeat intervals of silence. A subscriber whose buffer overflows is dropped (``SubscriberTooSlow``)
instead of slowing the reader and everyone else. Pure asyncio state: no Redis here (unit-tested).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter

from insights.errors import UnavailableError
from insights.events.types import HEARTBEAT, SIGNALS, Event, EventFilter, SubscriberTooSlow, parse_event_id

SLOW_DROPS = Counter("insights_stream_slow_subscribers_total", "Subscribers dropped for falling behind")


def signal(kind: str, position: str, payload: Mapping[str, Any] | None = None) -> Event:
    """A heartbeat or resync. It carries the last position delivered, so that a client that stores the
    id of every event it sees always holds a valid resume point."""
    return Event(id=position, type=kind, occurred_at=datetime.now(UTC), payload=payload or {})


class Subscription:
    """One subscriber's buffer. Iterate it; leave with the ``EventStreams.subscribe`` context manager."""

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
        if event.type not in SIGNALS and event.position <= self._at:
            return True  # already replayed, or older than a resync: it would be skipped, so never buffered
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
        yield signal(HEARTBEAT, self.position, {"subscribed": True})
        for event in self._replay:
            yield self._advance(event)
        self._replay = []
        while True:
            if self.overflowed:
                raise SubscriberTooSlow
            if self._ending:
                # Instead of holding the shutdown for its whole grace period: the client reconnects
                # (to another instance) with its last event id and misses nothing.
                raise UnavailableError("Server is shutting down; reconnect with lastEventId", retry_after_s=1)
            if self._buffer:
                event = self._buffer.popleft()
                # Live events that the replay already delivered are skipped (the replay raced them).
                if event.type not in SIGNALS and event.position <= self._at:
                    continue
                yield self._advance(event)
                continue
            if self._heartbeat_due:
                self._heartbeat_due = False
                # Nothing is buffered, so everything up to the last filtered-out event was handled:
                # resuming from there replays nothing twice and skips nothing.
                if self._passed and parse_event_id(self._passed) > self._at:
                    self.position = self._passed
                yield signal(HEARTBEAT, self.position)
                continue
            self._wake.clear()
            await self._wake.wait()

