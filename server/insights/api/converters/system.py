"""Protobuf <-> domain for SystemService."""

from __future__ import annotations

import insights
from insights.infra.health import HealthReport
from insights.v1 import system_pb2


def health(report: HealthReport) -> system_pb2.GetHealthResponse:
    return system_pb2.GetHealthResponse(
        status=report.status,
        version=insights.__version__,
        dependencies={
            name: system_pb2.DependencyHealth(status=d.status, detail=d.detail, latency_ms=round(d.latency_ms, 2))
            for name, d in report.dependencies.items()
        },
    )
