from __future__ import annotations

from collections.abc import AsyncIterator

from insights.api.converters.stream import SharedConversions
from insights.api.types import Context
from insights.context import current_call
from insights.events.reader import EventStreams, event_filter
from insights.ingestion.validation import CHANNELS
from insights.v1 import stream_pb2, stream_pb2_grpc


class StreamServicer(stream_pb2_grpc.StreamServiceServicer):
    def __init__(self, streams: EventStreams) -> None:
        self._streams = streams
        self._converted = SharedConversions()

    async def Subscribe(
        self, request: stream_pb2.SubscribeRequest, context: Context
    ) -> AsyncIterator[stream_pb2.SubscribeResponse]:
        organization_id = current_call.get().require_principal().organization_id
        # REST/SSE clients may send the standard Last-Event-ID header instead of the query field.
        headers = dict(context.invocation_metadata() or ())
        last_event_id = request.last_event_id or str(headers.get("last-event-id", ""))
        wanted = event_filter(
            channels=list(request.channels), customer=request.customer_id, event_types=list(request.event_types),
            known_channels=CHANNELS, last_event_id=last_event_id,
        )
        async with self._streams.subscribe(organization_id, wanted, last_event_id=last_event_id) as events:
            async for event in events:
                yield self._converted(event)
