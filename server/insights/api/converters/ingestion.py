"""Protobuf <-> domain for IngestionService."""

from __future__ import annotations

from google.rpc import code_pb2, error_details_pb2, status_pb2

from insights.api.converters.common import plain, to_datetime
from insights.ingestion.service import BatchResult, InteractionChanges, ItemResult
from insights.ingestion.validation import InteractionInput
from insights.v1 import common_pb2, ingestion_pb2


def interaction_input(message: common_pb2.InteractionInput) -> InteractionInput:
    return InteractionInput(
        customer_id=message.customer_id,
        timestamp=to_datetime(message.timestamp) if message.HasField("timestamp") else None,
        channel=message.channel,
        event_type=message.event_type,
        content=message.content,
        metadata=plain(message.metadata) if message.HasField("metadata") else None,
        idempotency_key=message.idempotency_key,
    )


def item_result(result: ItemResult) -> ingestion_pb2.BatchItemResult:
    if result.ok:
        return ingestion_pb2.BatchItemResult(
            index=result.index, interaction_id=str(result.interaction_id), duplicate=result.duplicate
        )
    message = "; ".join(f"{v.field}: {v.description}" for v in result.violations)
    code = code_pb2.ABORTED if result.conflict else code_pb2.INVALID_ARGUMENT
    return ingestion_pb2.BatchItemResult(
        index=result.index,
        error=common_pb2.ItemError(
            status=status_pb2.Status(code=code, message=message),
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in result.violations
            ],
        ),
    )


def batch_response(batch: BatchResult) -> ingestion_pb2.BatchIngestResponse:
    return ingestion_pb2.BatchIngestResponse(
        successful=batch.successful, failed=batch.failed, results=[item_result(r) for r in batch.results]
    )


def stream_response(batch: BatchResult) -> ingestion_pb2.IngestStreamResponse:
    return ingestion_pb2.IngestStreamResponse(
        successful=batch.successful, failed=batch.failed, results=[item_result(r) for r in batch.results]
    )


def interaction_changes(request: ingestion_pb2.UpdateInteractionRequest) -> InteractionChanges:
    new = request.interaction
    return InteractionChanges(
        interaction_id=new.id,
        version=new.version,
        event_type=new.event_type,
        content=new.content,
        metadata=plain(new.metadata) if new.HasField("metadata") else None,
        mask=tuple(request.update_mask.paths),
    )
