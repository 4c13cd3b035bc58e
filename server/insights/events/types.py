"""What an event is, and which events a subscriber wants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from types import MappingProxyType
from typing import Any, NamedTuple
from uuid import UUID

from insights.errors import ResourceExhaustedError

INTERACTION_CREATED = "interaction.created"
INTERACTION_UPDATED = "interaction.updated"
SENTIMENT_ANALYZED = "sentiment.analyzed"
PATTERN_DETECTED = "pattern.detected"
EVENT_TYPES = frozenset({INTERACTION_CREATED, INTERACTION_UPDATED, SENTIMENT_ANALYZED, PATTERN_DETECTED})
HEARTBEAT = "heartbeat"
RESYNC = "resync"
SIGNALS = frozenset({HEARTBEAT, RESYNC})


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
    external_customer_id: str = ""
    channel: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def position(self) -> tuple[int, int]:
        # Cached: one event is compared by every local subscriber.
        return parse_event_id(self.id) if self.id else (0, 0)


class NewEvent(NamedTuple):
    """An event to publish. A named tuple, not a dataclass: ingestion creates one per stored event,
    and a tuple is built several times faster."""

    type: str
    interaction_id: UUID | str | None = None
    customer_id: UUID | str | None = None
    channel: str = ""
    payload: Mapping[str, Any] = MappingProxyType({})
    external_customer_id: str = ""


@dataclass(frozen=True)
class EventFilter:
    """Empty fields match everything. Heartbeats and resyncs always pass.

    ``customer`` matches an event's customer by our UUID or by the organization's external id, so a
    subscriber can wait for the first events of a customer who does not exist yet."""

    channels: frozenset[str] = frozenset()
    customer: str = ""
    event_types: frozenset[str] = frozenset()

    def matches(self, event: Event) -> bool:
        if event.type in SIGNALS:
            return True
        return (
            (not self.event_types or event.type in self.event_types)
            and (not self.channels or event.channel in self.channels)
            and (not self.customer or self.customer in (event.customer_id, event.external_customer_id))
        )


class SubscriberTooSlow(ResourceExhaustedError):
    """The subscriber fell more than its queue's size behind and was dropped; it may reconnect with its
    last event id."""

    def __init__(self) -> None:
        super().__init__("Subscriber too slow; reconnect with lastEventId")
