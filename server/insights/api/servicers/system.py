from __future__ import annotations

import insights
from insights.api.types import Context
from insights.errors import UnavailableError
from insights.health import HealthMonitor
from insights.v1 import system_pb2, system_pb2_grpc


class SystemServicer(system_pb2_grpc.SystemServiceServicer):
    def __init__(self, health: HealthMonitor) -> None:
        self._health = health

    async def GetHealth(
        self, request: system_pb2.GetHealthRequest, context: Context
    ) -> system_pb2.HealthResponse:
        report = await self._health.check()
        if not report.ready:
            # 503 with each dependency's state in the error details.
            error = UnavailableError(
                "Not ready: "
                + ", ".join(f"{name} {dep.status}" for name, dep in report.dependencies.items()),
                retry_after_s=1,
            )
            error.metadata = {name: dep.status for name, dep in report.dependencies.items()}
            raise error
        return system_pb2.HealthResponse(
            status=report.status,
            version=insights.__version__,
            dependencies={
                name: system_pb2.DependencyHealth(
                    status=d.status, detail=d.detail, latency_ms=round(d.latency_ms, 2)
                )
                for name, d in report.dependencies.items()
            },
        )
