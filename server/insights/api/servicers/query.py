"""QueryService: protobuf in, core call, protobuf out; answers cached as serialized responses.

The cache key is the method and the request's deterministic serialization (plus the current quarter
hour for requests without dates, whose default range moves with the clock), under the caller's
organization; the TTL is the method's (query.cache).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from google.api import httpbody_pb2
from google.protobuf.message import Message

from insights.api.converters import query as convert
from insights.api.converters.common import pattern
from insights.api.types import Context
from insights.context import current_call
from insights.query.cache import QueryCache
from insights.query.service import QueryService
from insights.settings import QuerySettings
from insights.v1 import query_pb2, query_pb2_grpc

R = TypeVar("R", bound=Message)
CONTENT_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


class QueryServicer(query_pb2_grpc.QueryServiceServicer):
    def __init__(self, service: QueryService, cache: QueryCache, settings: QuerySettings) -> None:
        self._service = service
        self._cache = cache
        self._settings = settings

    async def _cached(self, method: str, request: Message, ttl_s: int, response_type: type[R],
                      compute: Callable[[], Awaitable[Message]], *, moving: bool = False) -> R:
        ctx = current_call.get()
        key = request.SerializeToString(deterministic=True)
        if moving:
            key += f"@{int(time.time() // 900)}".encode()

        async def run() -> bytes:
            return (await compute()).SerializeToString()

        data = await self._cache.fetch(ctx.require_principal().organization_id, method, key, ttl_s, run)
        return response_type.FromString(data)

    async def ListInteractions(
        self, request: query_pb2.ListInteractionsRequest, context: Context
    ) -> query_pb2.ListInteractionsResponse:
        async def compute() -> Message:
            ctx = current_call.get()
            query = await self._service.parse(ctx, convert.raw_filter(request))
            return convert.list_interactions(
                await self._service.list_interactions(ctx, query, convert.page_request(request)))

        return await self._cached("ListInteractions", request, self._settings.dashboard_ttl_s,
                                  query_pb2.ListInteractionsResponse, compute, moving=not convert.dates_given(request))

    async def GetInsights(
        self, request: query_pb2.GetInsightsRequest, context: Context
    ) -> query_pb2.GetInsightsResponse:
        async def compute() -> Message:
            ctx = current_call.get()
            query = await self._service.parse(ctx, convert.raw_filter(request))
            return convert.insights(await self._service.list_interactions(ctx, query, convert.page_request(request)))

        return await self._cached("GetInsights", request, self._settings.dashboard_ttl_s,
                                  query_pb2.GetInsightsResponse, compute, moving=not convert.dates_given(request))

    async def ExportInteractions(
        self, request: query_pb2.ExportInteractionsRequest, context: Context
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        ctx = current_call.get()
        query = await self._service.parse(ctx, convert.raw_filter(request))
        fmt = request.format or "ndjson"
        chunks = await self._service.export(ctx, query, fmt)
        content_type = CONTENT_TYPES.get(fmt, "application/octet-stream")
        async for chunk in chunks:
            yield httpbody_pb2.HttpBody(content_type=content_type, data=chunk)

    async def GetSentimentTrends(
        self, request: query_pb2.GetSentimentTrendsRequest, context: Context
    ) -> query_pb2.GetSentimentTrendsResponse:
        async def compute() -> Message:
            ctx = current_call.get()
            query = await self._service.parse(ctx, convert.raw_filter(request))
            return convert.trends(await self._service.trends(
                ctx, query, group_by=request.group_by, breakdown=request.breakdown,
                limit=request.breakdown_limit, compare=request.compare_previous))

        return await self._cached("GetSentimentTrends", request, self._settings.trends_ttl_s,
                                  query_pb2.GetSentimentTrendsResponse, compute,
                                  moving=not convert.dates_given(request))

    async def GetAggregatedMetrics(
        self, request: query_pb2.GetAggregatedMetricsRequest, context: Context
    ) -> query_pb2.GetAggregatedMetricsResponse:
        async def compute() -> Message:
            ctx = current_call.get()
            query = await self._service.parse(ctx, convert.raw_filter(request))
            return convert.metrics(await self._service.metrics(ctx, query, top_event_types=request.top_event_types))

        return await self._cached("GetAggregatedMetrics", request, self._settings.dashboard_ttl_s,
                                  query_pb2.GetAggregatedMetricsResponse, compute,
                                  moving=not convert.dates_given(request))

    async def GetActivityHeatmap(
        self, request: query_pb2.GetActivityHeatmapRequest, context: Context
    ) -> query_pb2.GetActivityHeatmapResponse:
        async def compute() -> Message:
            ctx = current_call.get()
            query = await self._service.parse(ctx, convert.raw_filter(request))
            return convert.heatmap(await self._service.heatmap(ctx, query))

        return await self._cached("GetActivityHeatmap", request, self._settings.dashboard_ttl_s,
                                  query_pb2.GetActivityHeatmapResponse, compute,
                                  moving=not convert.dates_given(request))

    async def GetBehaviorPatterns(
        self, request: query_pb2.GetBehaviorPatternsRequest, context: Context
    ) -> query_pb2.GetBehaviorPatternsResponse:
        async def compute() -> Message:
            found = await self._service.patterns(current_call.get(), request.customer_id, list(request.pattern_types),
                                                 request.include_expired)
            return query_pb2.GetBehaviorPatternsResponse(patterns=[pattern(p) for p in found])

        return await self._cached("GetBehaviorPatterns", request, self._settings.profile_ttl_s,
                                  query_pb2.GetBehaviorPatternsResponse, compute)

    async def ListCustomers(
        self, request: query_pb2.ListCustomersRequest, context: Context
    ) -> query_pb2.ListCustomersResponse:
        async def compute() -> Message:
            return convert.customers(await self._service.list_customers(current_call.get(),
                                                                        convert.customer_filter(request)))

        return await self._cached("ListCustomers", request, self._settings.dashboard_ttl_s,
                                  query_pb2.ListCustomersResponse, compute)

    async def GetCustomer(
        self, request: query_pb2.GetCustomerRequest, context: Context
    ) -> query_pb2.GetCustomerResponse:
        async def compute() -> Message:
            return convert.customer_profile(await self._service.customer(current_call.get(), request.id))

        return await self._cached("GetCustomer", request, self._settings.profile_ttl_s,
                                  query_pb2.GetCustomerResponse, compute)
