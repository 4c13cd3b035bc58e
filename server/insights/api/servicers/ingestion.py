from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from insights.api import data_converters as convert
from insights.context import current_call
from insights.errors import FieldViolation
from insights.ingestion.service import IngestionService, InteractionChanges, ItemResult
from insights.ingestion.validation import InteractionInput
from insights.v1 import common_pb2, ingestion_pb2, ingestion_pb2_grpc

# IngestStream stores what arrives in chunks of this size, so that a long stream is durable as it
# goes rather than only when the client closes it.
STREAM_CHUNK = 500


class IngestionServicer(ingestion_pb2_grpc.IngestionServiceServicer):
    def __init__(self, ingestion: IngestionService, max_stream_events: int) -> None:
        self._ingestion = ingestion
        self._max_stream_events = max_stream_events

    async def Ingest(
        self, request: ingestion_pb2.IngestRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ingestion_pb2.IngestResponse:
        result = await self._ingestion.ingest(current_call.get(), convert.interaction_input(request))
        return ingestion_pb2.IngestResponse(interaction_id=str(result.interaction_id), duplicate=result.duplicate)

    async def BatchIngest(
        self, request: ingestion_pb2.BatchIngestRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ingestion_pb2.BatchIngestResponse:
        items = [convert.interaction_input(r) for r in request.interactions]
        result = await self._ingestion.ingest_batch(current_call.get(), items, idempotency_key=request.idempotency_key)
        return convert.batch_response(result.results)

    async def IngestStream(
        self, request_iterator: AsyncIterator[ingestion_pb2.IngestRequest], context: grpc.aio.ServicerContext[Any, Any]
    ) -> ingestion_pb2.BatchIngestResponse:
        call = current_call.get()
        results: list[ItemResult] = []
        chunk: list[InteractionInput] = []
        received = 0

        async def flush() -> None:
            if chunk:
                batch = await self._ingestion.ingest_batch(call, chunk, index_offset=received - len(chunk))
                results.extend(batch.results)
                chunk.clear()

        async for request in request_iterator:
            if received >= self._max_stream_events:
                # Past the limit each event is answered as rejected (nothing silently dropped).
                await flush()
                field = f"interactions[{received}]"
                limit = f"a stream carries at most {self._max_stream_events} events; open a new one"
                results.append(ItemResult(received, violations=[FieldViolation(field, limit)]))
                received += 1
                continue
            chunk.append(convert.interaction_input(request))
            received += 1
            if len(chunk) >= STREAM_CHUNK:
                await flush()
        await flush()
        return convert.batch_response(results)

    async def UpdateInteraction(
        self, request: ingestion_pb2.UpdateInteractionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> common_pb2.Interaction:
        # An empty mask means "the fields that are set"; names may be proto or JSON style.
        paths = {p.replace("eventType", "event_type") for p in request.update_mask.paths}
        has_metadata = request.HasField("metadata")
        changes = InteractionChanges(
            event_type=request.event_type if ("event_type" in paths or (not paths and request.event_type)) else None,
            content=request.content if ("content" in paths or (not paths and request.content)) else None,
            metadata=convert.plain(request.metadata) if has_metadata else None,
            metadata_set="metadata" in paths or (not paths and has_metadata),
        )
        row = await self._ingestion.update_interaction(
            current_call.get(), interaction_id=request.id, version=request.version, changes=changes
        )
        return convert.interaction(row)
