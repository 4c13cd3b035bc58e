"""Conversions several services share: timestamps, Struct values, and the customer-data objects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from insights.customers.models import BehaviorPattern, Customer, Interaction, StoredSentiment
from insights.v1 import common_pb2

MAX_EXACT_INT = 2**53
"""Struct numbers are doubles: integers beyond this are not exact, so they stay floats."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def to_datetime(value: Timestamp) -> datetime:
    """An aware UTC datetime. Timestamp.ToDatetime is pure Python and shows up in 10,000-event
    batches; this is exact too (to the microsecond).

    A gRPC client may send any seconds value: one beyond what datetime holds (years 1 to 9999) comes
    back as the latest or earliest datetime, which validation then names as a bad timestamp (rather
    than the call failing with INTERNAL)."""
    try:
        return _EPOCH + timedelta(seconds=value.seconds, microseconds=value.nanos // 1000)
    except OverflowError:
        return (datetime.max if value.seconds > 0 else datetime.min).replace(tzinfo=UTC)


def plain(value: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as plain JSON values (integral numbers back to int).

    Reads the fields directly rather than through the well-known-type helpers (``Struct.items``),
    which cost twice as much: every ingested event with metadata comes through here."""
    return {key: _plain_value(item) for key, item in value.fields.items()}


def _plain_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() and abs(number) < MAX_EXACT_INT else number
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return plain(value.struct_value)
    if kind == "list_value":
        return [_plain_value(item) for item in value.list_value.values]
    return None


def struct(value: Mapping[str, Any] | None) -> struct_pb2.Struct | None:
    if value is None:
        return None
    message = struct_pb2.Struct()
    message.update(value)
    return message


def sentiment(value: StoredSentiment | None) -> common_pb2.Sentiment | None:
    if value is None:
        return None
    return common_pb2.Sentiment(
        label=value.label,
        scores=common_pb2.SentimentScores(negative=value.negative, neutral=value.neutral, positive=value.positive),
        confidence=value.confidence, model=value.model, model_version=value.model_version, score=value.score,
    )


def interaction(value: Interaction) -> common_pb2.Interaction:
    return common_pb2.Interaction(
        id=str(value.id), customer_id=str(value.customer_id), external_customer_id=value.external_customer_id,
        timestamp=timestamp(value.timestamp), channel=value.channel, event_type=value.event_type,
        content=value.content or "", metadata=struct(value.metadata), sentiment=sentiment(value.sentiment),
        processed_at=timestamp(value.processed_at), created_at=timestamp(value.created_at), version=value.version,
        segment=value.segment or "",
    )


def customer(value: Customer) -> common_pb2.Customer:
    return common_pb2.Customer(
        id=str(value.id), external_id=value.external_id, email=value.email or "", first_name=value.first_name or "",
        last_name=value.last_name or "", segment=value.segment or "", metadata=struct(value.metadata),
        first_seen_at=timestamp(value.first_seen_at), last_seen_at=timestamp(value.last_seen_at),
        interaction_count=value.interaction_count, average_sentiment=value.average_sentiment,
        created_at=timestamp(value.created_at), updated_at=timestamp(value.updated_at),
        pattern_types=list(value.pattern_types),
    )


def pattern(value: BehaviorPattern) -> common_pb2.BehaviorPattern:
    return common_pb2.BehaviorPattern(
        id=str(value.id), customer_id=str(value.customer_id), pattern_type=value.pattern_type,
        confidence=value.confidence, frequency=value.frequency, description=value.description,
        metadata=struct(value.metadata), detected_at=timestamp(value.detected_at),
        valid_until=timestamp(value.valid_until), evidence=struct(value.evidence),
    )
