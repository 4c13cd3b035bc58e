from __future__ import annotations

from insights.api.converters import privacy as convert
from insights.api.types import Context
from insights.context import current_call
from insights.customers.privacy import PrivacyService
from insights.v1 import privacy_pb2, privacy_pb2_grpc


class PrivacyServicer(privacy_pb2_grpc.PrivacyServiceServicer):
    def __init__(self, privacy: PrivacyService) -> None:
        self._privacy = privacy

    async def ExportCustomer(
        self, request: privacy_pb2.ExportCustomerRequest, context: Context
    ) -> privacy_pb2.ExportCustomerResponse:
        return convert.export(await self._privacy.export_customer(current_call.get(), request.id))

    async def EraseCustomer(
        self, request: privacy_pb2.EraseCustomerRequest, context: Context
    ) -> privacy_pb2.EraseCustomerResponse:
        return convert.erasure(await self._privacy.erase_customer(current_call.get(), request.id))
