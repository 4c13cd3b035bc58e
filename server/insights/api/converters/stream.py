"""Protobuf <-> domain for StreamService."""

from __future__ import annotations

from collections import OrderedDict

from insights.api.converters.common import struct, timestamp
from insights.events.types import SIGNALS, Event
from insights.v1 import stream_pb2


def event(value: Event) -> stream_pb2.SubscribeResponse:
    return stream_pb2.SubscribeResponse(event=stream_pb2.Event(
        id=value.id, type=value.type, occurred_at=timestamp(value.occurred_at), interaction_id=value.interaction_id,
        customer_id=value.customer_id, external_customer_id=value.external_customer_id, channel=value.channel,
        payload=struct(value.payload) if value.payload else None,
    ))


class SharedConversions:
    """Protobuf of recent events, shared by every local subscriber of an event: one conversion per
    event rather than one per subscriber (a thousand subscribers, a thousand conversions otherwise)."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._cache: OrderedDict[str, stream_pb2.SubscribeResponse] = OrderedDict()

    def __call__(self, value: Event) -> stream_pb2.SubscribeResponse:
        if value.type in SIGNALS or not value.id:
            return event(value)
        message = self._cache.get(value.id)
        if message is None:
            message = self._cache[value.id] = event(value)
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return message
