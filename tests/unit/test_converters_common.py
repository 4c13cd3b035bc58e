"""Shared conversions (api/converters/common.py): Struct values, timestamps, and the customer-data objects
of customers/models.py as protobuf."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from google.protobuf import struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from insights.api.converters.common import (
    MAX_EXACT_INT,
    customer,
    interaction,
    pattern,
    plain,
    sentiment,
    struct,
    timestamp,
    to_datetime,
)
from insights.customers.models import BehaviorPattern
from tests.unit.factories import SENTIMENT, WHEN, make_customer, make_interaction

MIN_TIMESTAMP = datetime(1, 1, 1, tzinfo=UTC)
MAX_TIMESTAMP = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
MIN_SECONDS, MAX_SECONDS = -62135596800, 253402300799
"""Timestamp's valid range (0001-01-01 to 9999-12-31), in seconds since the epoch."""

# --- Struct ---------------------------------------------------------------------------------------

exact_ints = st.integers(-(MAX_EXACT_INT - 1), MAX_EXACT_INT - 1)
json_leaves = st.one_of(st.none(), st.booleans(), exact_ints, st.floats(allow_nan=False, allow_infinity=False),
                        st.text(max_size=20))
json_values = st.recursive(
    json_leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=6)


def _as_read_back(value: Any) -> Any:
    """What a value becomes through a Struct: integral numbers below 2**53 are ints, other numbers floats."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        number = float(value)
        return int(number) if number.is_integer() and abs(number) < MAX_EXACT_INT else number
    if isinstance(value, list):
        return [_as_read_back(v) for v in value]
    return {k: _as_read_back(v) for k, v in value.items()}


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (True == 1 in Python; not here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


@settings(max_examples=50)
@given(json_objects)
def test_struct_round_trip_keeps_values_and_their_types(value: dict[str, Any]) -> None:
    """plain(struct(v)) gives v back, bools as bools, exact integers as ints, nested lists and objects."""
    message = struct(value)
    assert message is not None
    assert _same(plain(message), _as_read_back(value))


@settings(max_examples=50)
@given(json_objects)
def test_plain_agrees_with_the_protobuf_helpers(value: dict[str, Any]) -> None:
    """The hand-written reader sees what the well-known-type helpers see (up to int/float of whole numbers)."""
    message = struct(value)
    assert message is not None
    assert plain(message) == _to_builtin(message)


def _to_builtin(value: Any) -> Any:
    if isinstance(value, struct_pb2.Struct):
        return {k: _to_builtin(v) for k, v in value.items()}
    if isinstance(value, struct_pb2.ListValue):
        return [_to_builtin(v) for v in value]
    return value


@pytest.mark.parametrize(
    ("number", "read_back"),
    [
        (0, 0),
        (MAX_EXACT_INT - 1, MAX_EXACT_INT - 1),
        (-(MAX_EXACT_INT - 1), -(MAX_EXACT_INT - 1)),
        (MAX_EXACT_INT, float(MAX_EXACT_INT)),
        (MAX_EXACT_INT + 1, float(MAX_EXACT_INT)),  # not representable as a double: rounded, and a float
        (-MAX_EXACT_INT, -float(MAX_EXACT_INT)),
        (2**64, float(2**64)),
        (3.0, 3),
        (2.5, 2.5),
        (-0.0, 0),
    ],
)
def test_integers_are_exact_below_two_to_the_53_and_floats_beyond(number: float, read_back: float) -> None:
    """Struct numbers are doubles: below 2**53 an integer reads back as an exact int, beyond as a float."""
    message = struct({"n": number})
    assert message is not None
    value = plain(message)["n"]
    assert value == read_back and type(value) is type(read_back)


def test_bools_stay_bools_and_null_stays_null() -> None:
    """True is not 1 and None is not absent."""
    message = struct({"yes": True, "no": False, "one": 1, "zero": 0, "nothing": None, "list": [True, 1, None]})
    assert message is not None
    assert _same(plain(message), {"yes": True, "no": False, "one": 1, "zero": 0, "nothing": None,
                                  "list": [True, 1, None]})


def test_absent_struct_is_none_and_empty_struct_is_empty() -> None:
    """No metadata stays unset; empty metadata is an empty object."""
    assert struct(None) is None
    empty = struct({})
    assert empty is not None and plain(empty) == {}
    assert plain(struct_pb2.Struct()) == {}


# --- timestamps ----------------------------------------------------------------------------------

utc_datetimes = st.datetimes(min_value=MIN_TIMESTAMP.replace(tzinfo=None), max_value=MAX_TIMESTAMP.replace(tzinfo=None),
                             timezones=st.just(UTC))
offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@given(utc_datetimes)
def test_timestamp_round_trip_is_exact_to_the_microsecond(value: datetime) -> None:
    """Any datetime of years 1 to 9999, before 1970 too, comes back exactly, aware and in UTC."""
    ts = timestamp(value)
    assert ts is not None
    back = to_datetime(ts)
    assert back == value and back.microsecond == value.microsecond
    assert back.tzinfo is UTC


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets))
def test_any_aware_datetime_comes_back_as_the_same_instant_in_utc(value: datetime) -> None:
    """Other offsets are converted: the same instant, expressed in UTC."""
    ts = timestamp(value)
    assert ts is not None
    back = to_datetime(ts)
    assert back == value and back.utcoffset() == timedelta(0)


@given(st.integers(MIN_SECONDS, MAX_SECONDS), st.integers(0, 999_999_999))
def test_to_datetime_truncates_nanos_like_the_protobuf_helper(seconds: int, nanos: int) -> None:
    """The fast conversion agrees with Timestamp.ToDatetime everywhere in the valid range."""
    ts = Timestamp(seconds=seconds, nanos=nanos)
    assert to_datetime(ts) == ts.ToDatetime(tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "nanos", "expected"),
    [
        (0, 0, datetime(1970, 1, 1, tzinfo=UTC)),
        (1, 999_999_999, datetime(1970, 1, 1, 0, 0, 1, 999_999, tzinfo=UTC)),  # truncated, not rounded up
        (0, 1_999, datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)),
        (-1, 500_000_000, datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)),
        (MIN_SECONDS, 0, MIN_TIMESTAMP),
        (MAX_SECONDS, 999_999_999, MAX_TIMESTAMP),
    ],
)
def test_to_datetime_edges(seconds: int, nanos: int, expected: datetime) -> None:
    """The epoch, truncation of nanos, before 1970, and the ends of the valid range."""
    assert to_datetime(Timestamp(seconds=seconds, nanos=nanos)) == expected


def test_naive_datetimes_are_taken_as_utc_and_none_is_unset() -> None:
    """A naive datetime is UTC (as the database returns them); None is no Timestamp."""
    ts = timestamp(datetime(2026, 1, 2, 3, 4, 5))
    assert ts is not None and to_datetime(ts) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert timestamp(None) is None


# --- customer-data objects -----------------------------------------------------------------------

def test_sentiment_carries_scores_and_the_derived_score() -> None:
    """score is positive minus negative."""
    message = sentiment(SENTIMENT)
    assert message is not None
    assert (message.label, message.confidence, message.model, message.model_version) == (
        "negative", 0.7, "sentiment", "3")
    assert (message.scores.negative, message.scores.neutral, message.scores.positive) == (0.7, 0.2, 0.1)
    assert message.score == pytest.approx(-0.6)
    assert sentiment(None) is None


def test_interaction_converts_every_field() -> None:
    """Every field of the domain object reaches the message."""
    value = make_interaction()
    message = interaction(value)
    assert (message.id, message.customer_id, message.external_customer_id) == (
        str(value.id), str(value.customer_id), "cust-1")
    assert (message.channel, message.event_type, message.content, message.version, message.segment) == (
        "chat", "message", "Where is my refund?", 2, "gold")
    assert to_datetime(message.timestamp) == WHEN
    assert to_datetime(message.created_at) == WHEN + timedelta(seconds=1)
    assert to_datetime(message.processed_at) == WHEN + timedelta(seconds=2)
    assert plain(message.metadata) == {"orderId": 1234, "tags": ["vip"]}
    assert message.sentiment.label == "negative"


def test_interaction_without_sentiment_leaves_optional_fields_unset() -> None:
    """Pending interactions: no sentiment, no processed_at; no content or segment reads as empty."""
    message = interaction(make_interaction(sentiment=None, processed_at=None, content=None, segment=None))
    assert not message.HasField("sentiment")
    assert not message.HasField("processed_at")
    assert (message.content, message.segment) == ("", "")
    assert message.HasField("metadata")


def test_customer_converts_every_field() -> None:
    """Every field of the domain object reaches the message."""
    value = make_customer()
    message = customer(value)
    assert (message.id, message.external_id, message.email, message.first_name, message.last_name) == (
        str(value.id), "cust-1", "a@example.com", "Ada", "Lovelace")
    assert (message.segment, message.interaction_count, list(message.pattern_types)) == (
        "gold", 12, ["churn_risk", "frequent_buyer"])
    assert message.HasField("average_sentiment") and message.average_sentiment == -0.25
    assert plain(message.metadata) == {"plan": "pro"}
    assert to_datetime(message.first_seen_at) == WHEN - timedelta(days=30)
    assert to_datetime(message.last_seen_at) == to_datetime(message.updated_at) == WHEN


def test_customer_without_average_sentiment_has_none_rather_than_zero() -> None:
    """No scored interaction yet: the optional field is absent (a 0.0 would read as 'neutral')."""
    message = customer(make_customer(average_sentiment=None, email=None, first_name=None, last_name=None,
                                     segment=None, pattern_types=()))
    assert not message.HasField("average_sentiment")
    assert (message.email, message.first_name, message.last_name, message.segment) == ("", "", "", "")
    assert list(message.pattern_types) == []


def test_customer_with_a_zero_average_keeps_it_present() -> None:
    """0.0 is a real average (neutral), not absence."""
    assert customer(make_customer(average_sentiment=0.0)).HasField("average_sentiment")


def test_pattern_converts_every_field_and_an_open_validity() -> None:
    """A pattern valid until further notice has no valid_until."""
    value = BehaviorPattern(
        id=uuid.uuid4(), customer_id=uuid.uuid4(), pattern_type="churn_risk", confidence=0.8, frequency=3,
        description="Three complaints in a week", metadata={"window": "7d"}, evidence={"interactions": ["a", "b"]},
        detected_at=WHEN, valid_until=None,
    )
    message = pattern(value)
    assert (message.id, message.customer_id, message.pattern_type, message.frequency, message.description) == (
        str(value.id), str(value.customer_id), "churn_risk", 3, "Three complaints in a week")
    assert message.confidence == pytest.approx(0.8)
    assert plain(message.metadata) == {"window": "7d"}
    assert plain(message.evidence) == {"interactions": ["a", "b"]}
    assert to_datetime(message.detected_at) == WHEN
    assert not message.HasField("valid_until")
    dated = pattern(BehaviorPattern(**{**{f: getattr(value, f) for f in value.__slots__},
                                       "valid_until": WHEN + timedelta(days=7)}))
    assert to_datetime(dated.valid_until) == WHEN + timedelta(days=7)
