from __future__ import annotations

from insights.api.converters import system as convert
from insights.api.types import Context
from insights.infra.health import HealthMonitor
from insights.v1 import system_pb2, system_pb2_grpc


class SystemServicer(system_pb2_grpc.SystemServiceServicer):
    def __init__(self, health: HealthMonitor) -> None:
        self._health = health

    async def GetHealth(self, request: system_pb2.GetHealthRequest, context: Context) -> system_pb2.GetHealthResponse:
        return convert.health((await self._health.check()).require_ready())
