"""The gRPC server: interceptor, servicers, health, reflection, metrics, graceful shutdown."""

from __future__ import annotations

import asyncio
import collections
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
from insights.settings import Settings
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

TRANSCODING_GROWTH = 7
"""A JSON body can become up to 5.5 times its size as protobuf (the number ``1,`` is 2 bytes of JSON and
11 as a Struct value): the server takes messages this many times Envoy's body limit, so that no body
Envoy admits is refused upstream (a refusal there reads RESOURCE_EXHAUSTED, 429 over REST)."""


def grpc_options(s: Settings) -> list[tuple[str, int]]:
    """Limits consistent with the edge's: what Envoy forwards always fits (README "the edge")."""
    # Envoy forwards at most max_request_headers_kb of the client's headers, plus its own
    # (x-envoy-original-path repeats the path, x-forwarded-for, x-request-id, the gateway secret).
    metadata = (2 * s.gateway.max_request_headers_kb + 16) * 1024
    return [
        ("grpc.max_receive_message_length", TRANSCODING_GROWTH * s.gateway.max_request_body_bytes),
        # Soft and hard limit equal: between the two, grpc refuses a random share of calls.
        ("grpc.max_metadata_size", metadata),
        ("grpc.absolute_max_metadata_size", metadata),
    ]


class HealthServicer(health.aio.HealthServicer):  # type: ignore[misc,name-defined]
    """grpc's asyncio health service, with Watch fixed for concurrent watchers: upstream deletes a
    service's condition when any one of its watchers leaves, after which the others never hear of a
    change again. Here a condition lives while anyone watches, and nobody writes while holding it."""

    def __init__(self) -> None:
        super().__init__()
        self._watching: collections.Counter[str] = collections.Counter()

    async def Watch(self, request: health_pb2.HealthCheckRequest, context: Any) -> None:
        service = request.service
        condition = self._server_watchers[service]
        self._watching[service] += 1
        last = None
        try:
            while True:
                async with condition:
                    status = self._server_status.get(service, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
                    while status == last:
                        await condition.wait()
                        status = self._server_status.get(service, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
                await context.write(health_pb2.HealthCheckResponse(status=status))
                last = status
        finally:
            self._watching[service] -= 1
            if self._watching[service] <= 0:
                del self._watching[service]
                self._server_watchers.pop(service, None)


def build_server(platform: ServerPlatform) -> tuple[grpc.aio.Server, Any]:
    s = platform.settings
    secret = s.gateway.secret.get_secret_value() if s.gateway.secret is not None else None
    if secret is None:
        log.warning("gateway.secret_unset", effect="x-forwarded-for is never believed: clients are limited by "
                    "the gateway's address")
    server = grpc.aio.server(
        interceptors=[
            Interceptor(
                load_access_rules(),
                platform.authenticator,
                platform.limiter,
                platform.audit,
                s.network.trusted_proxies,
                secret,
            )
        ],
        options=grpc_options(s),
    )
    auth_pb2_grpc.add_AuthServiceServicer_to_server(AuthServicer(platform.auth), server)
    system_pb2_grpc.add_SystemServiceServicer_to_server(SystemServicer(platform.health), server)
    ingestion_pb2_grpc.add_IngestionServiceServicer_to_server(IngestionServicer(platform.ingestion), server)
    query_pb2_grpc.add_QueryServiceServicer_to_server(QueryServicer(platform.query, platform.cache, s.query), server)
    analysis_pb2_grpc.add_AnalysisServiceServicer_to_server(AnalysisServicer(platform.analysis), server)
    stream_pb2_grpc.add_StreamServiceServicer_to_server(StreamServicer(platform.streams), server)
    privacy_pb2_grpc.add_PrivacyServiceServicer_to_server(PrivacyServicer(platform.privacy), server)

    health_servicer = HealthServicer()
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
        # Unauthenticated: loopback by default (network.metrics_host), never on the public listener.
        start_http_server(s.network.metrics_port, addr=s.network.metrics_host)
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
