"""One subscriber's state machine (events/subscription.py, with the filter of events/types.py), driven with
asyncio directly: no Redis, no reader. The tests play the reader (``deliver``, ``tick``, ``end``) and the
stream servicer (iterating the subscription)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from insights.errors import UnavailableError
from insights.events.subscription import Subscription, signal
from insights.events.types import (
    HEARTBEAT,
    INTERACTION_CREATED,
    PATTERN_DETECTED,
    RESYNC,
    SENTIMENT_ANALYZED,
    Event,
    EventFilter,
    SubscriberTooSlow,
    parse_event_id,
)

CUSTOMER = str(uuid.uuid4())
AT = datetime(2026, 5, 1, tzinfo=UTC)


def event(position: int, *, type: str = INTERACTION_CREATED, channel: str = "chat", customer: str = CUSTOMER,
          external: str = "ext-1") -> Event:
    return Event(id=f"1700000000000-{position}", type=type, occurred_at=AT, interaction_id=str(uuid.uuid4()),
                 customer_id=customer, external_customer_id=external, channel=channel)


async def next_of(stream: AsyncIterator[Event]) -> Event:
    # The timeout only turns a hang (a bug) into a failure; nothing here waits on the clock.
    return await asyncio.wait_for(anext(stream), timeout=10)


async def nothing_yet(stream: AsyncIterator[Event]) -> asyncio.Task[Event]:
    """Asserts the subscription is waiting (has nothing to hand out); returns the pending read."""
    read = asyncio.ensure_future(anext(stream))
    for _ in range(10):  # let it run until it blocks on its wake-up event
        await asyncio.sleep(0)
    assert not read.done(), f"unexpected {read.result() if not read.exception() else read.exception()!r}"
    return read


async def subscribed(sub: Subscription) -> AsyncIterator[Event]:
    """The iteration, past its first message (the "subscribed" heartbeat)."""
    stream = aiter(sub)
    first = await next_of(stream)
    assert (first.type, first.payload) == (HEARTBEAT, {"subscribed": True})
    return stream


# --- order of delivery -----------------------------------------------------------------------------


async def test_subscribed_heartbeat_then_replay_then_live_in_order() -> None:
    """Registered first (heartbeat), then what was missed, then live events, each in order."""
    sub = Subscription(EventFilter(), queue_size=10)
    sub.set_replay([event(1), event(2)])
    sub.deliver(event(3))  # arrived while the replay was being read
    stream = aiter(sub)
    first = await next_of(stream)
    assert (first.type, first.id, first.payload) == (HEARTBEAT, "0-0", {"subscribed": True})
    assert [(await next_of(stream)).id for _ in range(3)] == [event(n).id for n in (1, 2, 3)]
    sub.deliver(event(4))
    assert (await next_of(stream)).id == event(4).id
    assert sub.position == event(4).id


async def test_the_subscribed_heartbeat_carries_the_resume_position() -> None:
    """The first heartbeat's id is where the client resumed from."""
    sub = Subscription(EventFilter(), queue_size=10)
    sub.position = "1700000000000-9"
    first = await next_of(aiter(sub))
    assert first.id == "1700000000000-9"


async def test_live_events_already_replayed_are_delivered_once() -> None:
    """The replay races the live feed: what it already delivered (by position) is skipped, even out of order."""
    sub = Subscription(EventFilter(), queue_size=10)
    sub.set_replay([event(1), event(2)])
    for n in (1, 2, 3, 2, 4):
        sub.deliver(event(n))
    stream = await subscribed(sub)
    assert [(await next_of(stream)).id for _ in range(4)] == [event(n).id for n in (1, 2, 3, 4)]
    await nothing_yet(stream)


async def test_a_waiting_subscriber_wakes_for_a_live_event() -> None:
    """A subscriber with nothing to read waits, and wakes when an event is delivered."""
    sub = Subscription(EventFilter(), queue_size=10)
    stream = await subscribed(sub)
    read = await nothing_yet(stream)
    assert sub.deliver(event(1)) is True
    assert (await asyncio.wait_for(read, timeout=10)).id == event(1).id


# --- filters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_filter", "wanted"),
    [
        (EventFilter(channels=frozenset({"email", "phone"})), {"email", "other-external"}),
        (EventFilter(event_types=frozenset({SENTIMENT_ANALYZED})), {"scored"}),
        (EventFilter(customer=CUSTOMER), {"chat-a", "email", "scored", "other-external"}),
        (EventFilter(customer="ext-1"), {"chat-a", "email", "scored", "new-customer"}),
        (EventFilter(channels=frozenset({"chat"}), customer="ext-1"), {"chat-a", "scored", "new-customer"}),
        (EventFilter(channels=frozenset({"chat"}), customer="ext-1", event_types=frozenset({INTERACTION_CREATED})),
         {"chat-a", "new-customer"}),
        (EventFilter(), {"chat-a", "email", "web", "scored", "new-customer", "other-external", "pattern"}),
    ],
)
async def test_filter_by_channel_event_type_and_customer(event_filter: EventFilter, wanted: set[str]) -> None:
    """The customer filter matches our UUID or the organization's external id: a subscriber can wait for
    the first events of a customer who does not exist yet (no UUID on the event's side to compare)."""
    events = {
        "chat-a": event(1),
        "email": event(2, channel="email"),
        "web": event(3, channel="web", customer=str(uuid.uuid4()), external="ext-2"),
        "scored": event(4, type=SENTIMENT_ANALYZED),
        "new-customer": event(5, customer="", external="ext-1"),
        "other-external": event(6, external="ext-renamed", channel="phone"),
        "pattern": event(7, type=PATTERN_DETECTED, channel="", customer=str(uuid.uuid4()), external=""),
    }
    assert {name for name, e in events.items() if event_filter.matches(e)} == wanted
    sub = Subscription(event_filter, queue_size=10)
    for e in events.values():
        assert sub.deliver(e) is True
    stream = await subscribed(sub)
    received = [await next_of(stream) for _ in wanted]
    assert [e.id for e in received] == [e.id for name, e in events.items() if name in wanted]
    await nothing_yet(stream)


@pytest.mark.parametrize("kind", [HEARTBEAT, RESYNC])
def test_signals_pass_every_filter(kind: str) -> None:
    """Heartbeats and resyncs reach every subscriber, whatever its filter."""
    strict = EventFilter(channels=frozenset({"chat"}), customer="nobody", event_types=frozenset({PATTERN_DETECTED}))
    assert strict.matches(signal(kind, "0-0"))


# --- heartbeats ----------------------------------------------------------------------------------


async def test_a_heartbeat_only_after_a_whole_quiet_interval() -> None:
    """One tick starts an interval; a second tick with nothing sent in between sends a heartbeat."""
    sub = Subscription(EventFilter(), queue_size=10)
    stream = await subscribed(sub)
    sub.tick()
    read = await nothing_yet(stream)
    sub.tick()
    beat = await asyncio.wait_for(read, timeout=10)
    assert (beat.type, beat.id, beat.payload) == (HEARTBEAT, "0-0", {})


async def test_an_event_resets_the_quiet_interval() -> None:
    """A heartbeat follows a whole interval without events, and carries the last event's id."""
    sub = Subscription(EventFilter(), queue_size=10)
    stream = await subscribed(sub)
    sub.tick()
    sub.deliver(event(1))
    assert (await next_of(stream)).id == event(1).id
    sub.tick()  # not quiet: an event went out since the last tick
    read = await nothing_yet(stream)
    sub.tick()
    beat = await asyncio.wait_for(read, timeout=10)
    assert (beat.type, beat.id) == (HEARTBEAT, event(1).id)


async def test_heartbeats_move_the_position_past_filtered_out_events() -> None:
    """Resuming from a heartbeat's id must not replay events this subscriber filtered out anyway."""
    sub = Subscription(EventFilter(channels=frozenset({"chat"})), queue_size=10)
    stream = await subscribed(sub)
    sub.deliver(event(5))
    assert (await next_of(stream)).id == event(5).id
    for n in (6, 7):
        assert sub.deliver(event(n, channel="web")) is True
    sub.tick()
    sub.tick()
    beat = await next_of(stream)
    assert (beat.type, beat.id) == (HEARTBEAT, event(7).id)
    assert sub.position == event(7).id


async def test_heartbeats_never_move_the_position_back() -> None:
    """A filtered-out event older than what was delivered leaves the position where it is."""
    sub = Subscription(EventFilter(channels=frozenset({"chat"})), queue_size=10)
    sub.set_replay([event(9)])
    sub.deliver(event(3, channel="web"))  # filtered out, and older than what the replay delivered
    stream = await subscribed(sub)
    assert (await next_of(stream)).id == event(9).id
    sub.tick()
    sub.tick()
    assert (await next_of(stream)).id == event(9).id


def test_signals_carry_the_position_given() -> None:
    """A signal's id is the position it is given, and it is dated in UTC."""
    beat = signal(HEARTBEAT, "1700000000000-4", {"k": "v"})
    assert (beat.type, beat.id, beat.payload, beat.position) == (HEARTBEAT, "1700000000000-4", {"k": "v"},
                                                                 (1700000000000, 4))
    assert beat.occurred_at.tzinfo is UTC


# --- overflow and shutdown ------------------------------------------------------------------------


async def test_overflow_drops_the_subscriber_and_counts_it() -> None:
    """A subscriber that falls a whole queue behind is dropped (the reader never waits for it); it learns
    so with SubscriberTooSlow and may reconnect with its last event id."""
    drops = REGISTRY.get_sample_value("insights_stream_slow_subscribers_total") or 0.0
    sub = Subscription(EventFilter(), queue_size=2)
    assert [sub.deliver(event(n)) for n in (1, 2, 3)] == [True, True, False]
    assert sub.overflowed
    assert sub.deliver(event(4)) is False
    stream = await subscribed(sub)
    with pytest.raises(SubscriberTooSlow):
        await next_of(stream)
    assert REGISTRY.get_sample_value("insights_stream_slow_subscribers_total") == drops + 1


async def test_filtered_out_events_do_not_fill_the_queue() -> None:
    """Only events the subscriber wants take queue space."""
    sub = Subscription(EventFilter(channels=frozenset({"chat"})), queue_size=1)
    assert all(sub.deliver(event(n, channel="web")) for n in range(1, 50))
    assert not sub.overflowed


async def test_events_at_or_before_the_position_do_not_fill_the_queue() -> None:
    """After a resync the position is the stream's newest entry: the backlog the reader still hands over
    is neither delivered nor buffered, so it cannot drop the subscriber."""
    sub = Subscription(EventFilter(), queue_size=1)
    sub.position = event(50).id
    sub.set_replay([signal(RESYNC, sub.position, {"reason": "events were missed"})])
    assert all(sub.deliver(event(n)) for n in range(1, 51))
    assert not sub.overflowed
    sub.deliver(event(51))
    stream = await subscribed(sub)
    assert [(e.type, e.id) for e in (await next_of(stream), await next_of(stream))] == [
        (RESYNC, event(50).id), (INTERACTION_CREATED, event(51).id)]


async def test_a_waiting_subscriber_is_dropped_at_once_on_overflow() -> None:
    """Overflow wakes a waiting subscriber, which ends with SubscriberTooSlow."""
    sub = Subscription(EventFilter(), queue_size=1)
    stream = await subscribed(sub)
    read = await nothing_yet(stream)
    sub.deliver(event(1))
    sub.deliver(event(2))  # overflows before the reader task got to run
    with pytest.raises(SubscriberTooSlow):
        await asyncio.wait_for(read, timeout=10)


async def test_end_stops_the_iteration_with_unavailable() -> None:
    """At shutdown the stream ends at once with UNAVAILABLE (clients reconnect elsewhere with their last id)."""
    sub = Subscription(EventFilter(), queue_size=10)
    stream = await subscribed(sub)
    read = await nothing_yet(stream)
    sub.end()
    with pytest.raises(UnavailableError) as ended:
        await asyncio.wait_for(read, timeout=10)
    assert ended.value.retry_after_s == 1


# --- event ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "parsed"), [("1700000000000-3", (1700000000000, 3)), ("5", (5, 0)),
                                               ("0-0", (0, 0))])
def test_event_ids_parse_to_comparable_pairs(value: str, parsed: tuple[int, int]) -> None:
    """Stream ids become (milliseconds, sequence) pairs; a bare number has sequence 0."""
    assert parse_event_id(value) == parsed


@pytest.mark.parametrize("value", ["", "-", "abc", "1-x", "1.5-2", "-1-0", " 1-0"])
def test_malformed_event_ids_are_value_errors(value: str) -> None:
    """Anything else is a ValueError (the servicer turns it into a field violation)."""
    with pytest.raises(ValueError):
        parse_event_id(value)


def test_positions_order_numerically_not_as_text() -> None:
    """Position 10 comes after 9; an event without id is at the start."""
    assert event(10).position > event(9).position
    assert Event(id="", type=HEARTBEAT, occurred_at=AT).position == (0, 0)
