from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import grpc

from insights.api import data_converters as convert
from insights.context import current_call
from insights.db.pool import Database
from insights.errors import FieldViolation, NotFoundError, ValidationError
from insights.events import EVENT_TYPES, HEARTBEAT, RESYNC, Event, EventBus, EventFilter, SubscriberTooSlow
from insights.ingestion.validation import CHANNELS
from insights.v1 import stream_pb2, stream_pb2_grpc


class _Converted:
    """Protobuf of recent events, shared by every local subscriber of an event: one conversion per
    event rather than one per subscriber (a thousand subscribers, a thousand conversions otherwise)."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._cache: OrderedDict[str, stream_pb2.Event] = OrderedDict()

    def __call__(self, event: Event) -> stream_pb2.Event:
        if event.type in (HEARTBEAT, RESYNC) or not event.id:
            return convert.event(event)
        message = self._cache.get(event.id)
        if message is None:
            message = self._cache[event.id] = convert.event(event)
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return message


class StreamServicer(stream_pb2_grpc.StreamServiceServicer):
    def __init__(self, events: EventBus, db: Database) -> None:
        self._events = events
        self._db = db
        self._converted = _Converted()

    async def _customer_uuid(self, organization_id: UUID, ref: str) -> str:
        """Events name customers by our UUID; a filter may also use the organization's own id."""
        if not ref:
            return ""
        try:
            return str(UUID(ref))
        except ValueError:
            pass
        async with self._db.tenant_tx(organization_id) as conn:
            cur = await conn.execute("SELECT id FROM customers WHERE external_id = %s", (ref,))
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError("Customer not found")
        return str(row["id"])

    async def Subscribe(
        self, request: stream_pb2.SubscribeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[stream_pb2.Event]:
        call = current_call.get()
        organization_id = call.require_principal().organization_id
        violations = [
            FieldViolation(f"channels[{i}]", f"must be one of {', '.join(sorted(CHANNELS))}")
            for i, c in enumerate(request.channels) if c not in CHANNELS
        ] + [
            FieldViolation(f"eventTypes[{i}]", f"must be one of {', '.join(sorted(EVENT_TYPES))}")
            for i, t in enumerate(request.event_types) if t not in EVENT_TYPES
        ]
        if violations:
            raise ValidationError(violations)
        # REST/SSE clients may send the standard Last-Event-ID header instead of the query field.
        headers = dict(context.invocation_metadata() or ())
        last_event_id = request.last_event_id or str(headers.get("last-event-id", ""))
        event_filter = EventFilter(
            channels=frozenset(request.channels),
            customer_id=await self._customer_uuid(organization_id, request.customer_id),
            event_types=frozenset(request.event_types),
        )
        async with self._events.subscribe(organization_id, event_filter, last_event_id=last_event_id) as events:
            try:
                async for event in events:
                    yield self._converted(event)
            except SubscriberTooSlow:
                # Dropped so that it cannot slow the others; it may reconnect with its last event id.
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "subscriber too slow")
