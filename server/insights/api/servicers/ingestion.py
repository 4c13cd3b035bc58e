from __future__ import annotations

from collections.abc import AsyncIterator

from insights.api.converters import common
from insights.api.converters import ingestion as convert
from insights.api.types import Context
from insights.context import current_call
from insights.ingestion.service import IngestionService
from insights.ingestion.validation import InteractionInput
from insights.v1 import ingestion_pb2, ingestion_pb2_grpc


class IngestionServicer(ingestion_pb2_grpc.IngestionServiceServicer):
    def __init__(self, ingestion: IngestionService) -> None:
        self._ingestion = ingestion

    async def Ingest(self, request: ingestion_pb2.IngestRequest, context: Context) -> ingestion_pb2.IngestResponse:
        result = await self._ingestion.ingest(current_call.get(), convert.interaction_input(request.interaction))
        return ingestion_pb2.IngestResponse(interaction_id=str(result.interaction_id), duplicate=result.duplicate)

    async def BatchIngest(
        self, request: ingestion_pb2.BatchIngestRequest, context: Context
    ) -> ingestion_pb2.BatchIngestResponse:
        items = [convert.interaction_input(r) for r in request.interactions]
        result = await self._ingestion.ingest_batch(current_call.get(), items, idempotency_key=request.idempotency_key)
        return convert.batch_response(result)

    async def IngestStream(
        self, request_iterator: AsyncIterator[ingestion_pb2.IngestStreamRequest], context: Context
    ) -> ingestion_pb2.IngestStreamResponse:
        async def items() -> AsyncIterator[InteractionInput]:
            async for request in request_iterator:
                yield convert.interaction_input(request.interaction)

        return convert.stream_response(await self._ingestion.ingest_stream(current_call.get(), items()))

    async def UpdateInteraction(
        self, request: ingestion_pb2.UpdateInteractionRequest, context: Context
    ) -> ingestion_pb2.UpdateInteractionResponse:
        updated = await self._ingestion.update_interaction(current_call.get(), convert.interaction_changes(request))
        return ingestion_pb2.UpdateInteractionResponse(interaction=common.interaction(updated))
