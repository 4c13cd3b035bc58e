"""StreamService conversions (api/converters/stream.py): events as protobuf, converted once per event for
all local subscribers."""

from __future__ import annotations

from datetime import UTC, datetime

from insights.api.converters.common import plain, to_datetime
from insights.api.converters.stream import SharedConversions, event
from insights.events.subscription import signal
from insights.events.types import HEARTBEAT, SENTIMENT_ANALYZED, Event

AT = datetime(2026, 5, 1, 12, 30, 0, 250000, tzinfo=UTC)


def make_event(position: int, **payload: object) -> Event:
    return Event(id=f"1700000000000-{position}", type=SENTIMENT_ANALYZED, occurred_at=AT, interaction_id="i-1",
                 customer_id="c-1", external_customer_id="ext-1", channel="chat", payload=payload)


def test_event_carries_every_field() -> None:
    """Every field of an event reaches the message, the payload as a Struct."""
    message = event(make_event(1, label="negative", score=-0.5, final=True)).event
    assert (message.id, message.type, message.interaction_id, message.customer_id, message.external_customer_id,
            message.channel) == ("1700000000000-1", SENTIMENT_ANALYZED, "i-1", "c-1", "ext-1", "chat")
    assert to_datetime(message.occurred_at) == AT
    assert plain(message.payload) == {"label": "negative", "score": -0.5, "final": True}


def test_an_event_without_payload_has_none() -> None:
    """No payload: the field is unset rather than an empty object."""
    assert not event(make_event(2)).event.HasField("payload")


def test_one_conversion_per_event_shared_by_subscribers() -> None:
    """The same event id is converted once; the message is shared."""
    convert = SharedConversions(size=2)
    first = convert(make_event(1, n=1))
    assert convert(make_event(1, n=1)) is first
    assert convert(make_event(2)) is not first


def test_the_cache_forgets_the_oldest_event_first() -> None:
    """The shared cache is bounded and evicts the oldest conversion first."""
    convert = SharedConversions(size=2)
    one, two = convert(make_event(1)), convert(make_event(2))
    convert(make_event(3))
    assert convert(make_event(2)) is two
    assert convert(make_event(1)) is not one


def test_signals_are_never_shared() -> None:
    """Heartbeats carry the subscriber's own position: one subscriber's must not be served to another."""
    convert = SharedConversions()
    beat = signal(HEARTBEAT, "1700000000000-5", {"subscribed": True})
    assert convert(beat) is not convert(beat)
    assert convert(beat).event.type == HEARTBEAT
