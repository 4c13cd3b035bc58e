"""Protobuf ⇄ domain for ingestion, streams and privacy. Servicers call these and nothing else does."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import code_pb2, error_details_pb2, status_pb2

from insights.api.converters import timestamp
from insights.events import Event
from insights.ingestion.service import BatchResult, ItemResult
from insights.ingestion.validation import InteractionInput
from insights.v1 import common_pb2, ingestion_pb2, stream_pb2

_MAX_EXACT_INT = 2**53
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
        return int(number) if number.is_integer() and abs(number) < _MAX_EXACT_INT else number
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


def _datetime(value: Timestamp) -> datetime:
    # Timestamp.ToDatetime is pure Python and shows up in 10,000-event batches; this is exact too.
    return _EPOCH + timedelta(seconds=value.seconds, microseconds=value.nanos // 1000)


def interaction_input(request: ingestion_pb2.IngestRequest) -> InteractionInput:
    return InteractionInput(
        customer_id=request.customer_id,
        timestamp=_datetime(request.timestamp) if request.HasField("timestamp") else None,
        channel=request.channel,
        event_type=request.event_type,
        content=request.content,
        metadata=plain(request.metadata) if request.HasField("metadata") else None,
        idempotency_key=request.idempotency_key,
    )


def item_result(result: ItemResult) -> ingestion_pb2.BatchItemResult:
    if result.ok:
        return ingestion_pb2.BatchItemResult(
            index=result.index, interaction_id=str(result.interaction_id), duplicate=result.duplicate
        )
    message = "; ".join(f"{v.field}: {v.description}" for v in result.violations)
    return ingestion_pb2.BatchItemResult(
        index=result.index,
        error=common_pb2.ItemError(
            status=status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message),
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in result.violations
            ],
        ),
    )


def batch_response(results: list[ItemResult]) -> ingestion_pb2.BatchIngestResponse:
    batch = BatchResult(results)
    return ingestion_pb2.BatchIngestResponse(
        successful=batch.successful, failed=batch.failed, results=[item_result(r) for r in results]
    )


def _sentiment(value: Any, confidence: Any) -> common_pb2.Sentiment | None:
    """The worker stores ``{"label", "negative", "neutral", "positive", "model"}``; confidence is its own column."""
    if not isinstance(value, dict):
        return None
    return common_pb2.Sentiment(
        label=str(value.get("label", "")),
        scores=common_pb2.SentimentScores(
            negative=float(value.get("negative", 0)), neutral=float(value.get("neutral", 0)),
            positive=float(value.get("positive", 0)),
        ),
        confidence=float(confidence or 0),
        model=str(value.get("model", "")),
    )


def interaction(row: Mapping[str, Any]) -> common_pb2.Interaction:
    return common_pb2.Interaction(
        id=str(row["id"]),
        customer_id=str(row["customer_id"]),
        external_customer_id=row.get("external_customer_id") or "",
        timestamp=timestamp(row["timestamp"]),
        channel=row["channel"],
        event_type=row["event_type"],
        content=row["content"] or "",
        metadata=struct(row["metadata"]),
        sentiment=_sentiment(row.get("sentiment"), row.get("sentiment_confidence")),
        processed_at=timestamp(row.get("processed_at")),
        created_at=timestamp(row.get("created_at")),
        version=row["version"],
    )


def customer(row: Mapping[str, Any]) -> common_pb2.Customer:
    average = row.get("average_sentiment")
    return common_pb2.Customer(
        id=str(row["id"]),
        external_id=row["external_id"],
        email=row.get("email") or "",
        first_name=row.get("first_name") or "",
        last_name=row.get("last_name") or "",
        segment=row.get("segment") or "",
        metadata=struct(row.get("metadata") or {}),
        first_seen_at=timestamp(row.get("first_seen_at")),
        last_seen_at=timestamp(row.get("last_seen_at")),
        interaction_count=row.get("interaction_count") or 0,
        average_sentiment=float(average) if average is not None else None,
        created_at=timestamp(row.get("created_at")),
        updated_at=timestamp(row.get("updated_at")),
    )


def pattern(row: Mapping[str, Any]) -> common_pb2.BehaviorPattern:
    return common_pb2.BehaviorPattern(
        id=str(row["id"]),
        customer_id=str(row["customer_id"]),
        pattern_type=row["pattern_type"],
        confidence=float(row["confidence"]),
        frequency=row["frequency"],
        description=row.get("description") or "",
        metadata=struct(row.get("metadata") or {}),
        detected_at=timestamp(row.get("detected_at")),
        valid_until=timestamp(row.get("valid_until")),
    )


def event(value: Event) -> stream_pb2.Event:
    return stream_pb2.Event(
        id=value.id,
        type=value.type,
        occurred_at=timestamp(value.occurred_at),
        interaction_id=value.interaction_id,
        customer_id=value.customer_id,
        channel=value.channel,
        payload=struct(value.payload) if value.payload else None,
    )
