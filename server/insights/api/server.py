"""The gRPC server: interceptor, servicers, health, reflection, metrics, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from insights.api.access import load_access_rules, service_names
from insights.api.interceptor import Interceptor
from insights.api.servicers.analysis import AnalysisServicer
from insights.api.servicers.auth import AuthServicer
from insights.api.servicers.ingestion import IngestionServicer
from insights.api.servicers.privacy import PrivacyServicer
from insights.api.servicers.query import QueryServicer
from insights.api.servicers.stream import StreamServicer
from insights.api.servicers.system import SystemServicer
from insights.compose import ServerPlatform
from insights.infra.logging import get_logger
from insights.v1 import (
    analysis_pb2_grpc,
    auth_pb2_grpc,
    ingestion_pb2_grpc,
    privacy_pb2_grpc,
    query_pb2_grpc,
    stream_pb2_grpc,
    system_pb2_grpc,
)

log = get_logger(__name__)
HEALTH_POLL_S = 2.0


def build_server(platform: ServerPlatform) -> tuple[grpc.aio.Server, Any]:
    s = platform.settings
    server = grpc.aio.server(
        interceptors=[
            Interceptor(
                load_access_rules(),
                platform.authenticator,
                platform.limiter,
                platform.audit,
                s.network.trusted_proxies,
            )
        ],
        options=[("grpc.max_receive_message_length", 32 * 1024 * 1024)],
    )
    auth_pb2_grpc.add_AuthServiceServicer_to_server(AuthServicer(platform.auth), server)
    system_pb2_grpc.add_SystemServiceServicer_to_server(SystemServicer(platform.health), server)
    ingestion_pb2_grpc.add_IngestionServiceServicer_to_server(IngestionServicer(platform.ingestion), server)
    query_pb2_grpc.add_QueryServiceServicer_to_server(QueryServicer(platform.query, platform.cache, s.query), server)
    analysis_pb2_grpc.add_AnalysisServiceServicer_to_server(AnalysisServicer(platform.analysis), server)
    stream_pb2_grpc.add_StreamServiceServicer_to_server(StreamServicer(platform.streams), server)
    privacy_pb2_grpc.add_PrivacyServiceServicer_to_server(PrivacyServicer(platform.privacy), server)

    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*service_names(), health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    server.add_insecure_port(f"{s.network.grpc_host}:{s.network.grpc_port}")
    return server, health_servicer


async def _track_health(platform: ServerPlatform, servicer: Any) -> None:
    """Keeps the gRPC health status in step with PostgreSQL's reachability."""
    serving = None
    while True:
        report = await platform.health.check()
        if report.ready != serving:
            serving = report.ready
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if serving
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            for name in ["", *service_names()]:
                await servicer.set(name, status)
            log.info("health.changed", status=report.status)
        await asyncio.sleep(HEALTH_POLL_S)


async def serve(platform: ServerPlatform) -> None:
    s = platform.settings
    await platform.start()
    server, health_servicer = build_server(platform)
    if s.network.metrics_port:
        start_http_server(s.network.metrics_port, addr=s.network.grpc_host)
    await server.start()
    # Everything allocated so far (modules, descriptors, settings) lives as long as the process: move
    # it out of the collector's sight. Otherwise every full collection walks those few hundred thousand
    # objects again, and a 5,000-event batch, which allocates enough to trigger several, pays ~10 µs an
    # event for it (benchmarks/ingest/RESULTS.md).
    gc.freeze()
    log.info("server.started", address=f"{s.network.grpc_host}:{s.network.grpc_port}",
             metrics_port=s.network.metrics_port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tracker = asyncio.create_task(_track_health(platform, health_servicer))
    if s.worker.enabled:
        platform.start_background()
    await stop.wait()

    log.info("server.stopping", grace_s=s.network.shutdown_grace_s)
    await health_servicer.enter_graceful_shutdown()
    platform.streams.end_subscriptions()  # live streams end now instead of holding the grace period
    tracker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await tracker
    await server.stop(s.network.shutdown_grace_s)
    await platform.close()
    log.info("server.stopped")
