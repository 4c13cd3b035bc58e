from __future__ import annotations

from typing import Any

import grpc

from insights.api import data_converters as convert
from insights.context import current_call
from insights.privacy import PrivacyService
from insights.v1 import privacy_pb2, privacy_pb2_grpc


class PrivacyServicer(privacy_pb2_grpc.PrivacyServiceServicer):
    def __init__(self, privacy: PrivacyService) -> None:
        self._privacy = privacy

    async def ExportCustomer(
        self, request: privacy_pb2.ExportCustomerRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> privacy_pb2.CustomerExport:
        export = await self._privacy.export_customer(current_call.get(), request.id)
        return privacy_pb2.CustomerExport(
            customer=convert.customer(export.customer),
            interactions=[convert.interaction(row) for row in export.interactions],
            patterns=[convert.pattern(row) for row in export.patterns],
        )

    async def EraseCustomer(
        self, request: privacy_pb2.EraseCustomerRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> privacy_pb2.EraseCustomerResponse:
        erased = await self._privacy.erase_customer(current_call.get(), request.id)
        return privacy_pb2.EraseCustomerResponse(
            interactions_deleted=erased.interactions_deleted,
            patterns_deleted=erased.patterns_deleted,
            events_deleted=erased.events_deleted,
            caches_purged=erased.caches_purged,
        )
