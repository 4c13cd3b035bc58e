"""Protobuf <-> domain for QueryService."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from insights.api.converters.common import customer, interaction, pattern, timestamp
from insights.query.customers import CustomerFilter
from insights.query.filters import InteractionQuery, RawFilter
from insights.query.interactions import PageRequest
from insights.query.models import (
    BreakdownEntry,
    Change,
    CountMetric,
    CustomerPage,
    CustomerProfile,
    Heatmap,
    InteractionPage,
    Metrics,
    TrendPoint,
    Trends,
    TrendSeries,
)
from insights.query.rollups import Counts
from insights.v1 import common_pb2, query_pb2


class FilterRequest(Protocol):
    """The filter fields (1-13) that every filtering request carries."""

    start_date: str
    end_date: str
    channels: Any
    customer_segments: Any
    customer_id: str
    event_types: Any
    sentiments: Any
    q: str
    time_zone: str
    weekdays: Any
    hours: Any

    def HasField(self, name: str) -> bool: ...

    @property
    def sentiment_min(self) -> float: ...

    @property
    def sentiment_max(self) -> float: ...


def raw_filter(request: FilterRequest) -> RawFilter:
    return RawFilter(
        start_date=request.start_date, end_date=request.end_date, channels=list(request.channels),
        sentiment_min=request.sentiment_min if request.HasField("sentiment_min") else None,
        sentiment_max=request.sentiment_max if request.HasField("sentiment_max") else None,
        customer_segments=list(request.customer_segments), customer_id=request.customer_id,
        event_types=list(request.event_types), sentiments=list(request.sentiments), q=request.q,
        time_zone=request.time_zone, weekdays=list(request.weekdays), hours=list(request.hours),
    )


def dates_given(request: FilterRequest) -> bool:
    return bool(request.start_date.strip() or request.end_date.strip())


def page_request(request: query_pb2.ListInteractionsRequest | query_pb2.GetInsightsRequest) -> PageRequest:
    return PageRequest(request.sort_by, request.sort_order, request.page_size, request.page_token, request.page)


def customer_filter(request: query_pb2.ListCustomersRequest) -> CustomerFilter:
    return CustomerFilter(
        q=request.q, segments=tuple(request.segments),
        sentiment_min=request.sentiment_min if request.HasField("sentiment_min") else None,
        sentiment_max=request.sentiment_max if request.HasField("sentiment_max") else None,
        pattern_types=tuple(request.pattern_types), sort_by=request.sort_by, sort_order=request.sort_order,
        page_size=request.page_size, page_token=request.page_token, page=request.page,
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def interaction_filter(query: InteractionQuery | None) -> common_pb2.InteractionFilter | None:
    if query is None:
        return None
    message = common_pb2.InteractionFilter(
        start_date=_iso(query.start), end_date=_iso(query.end), channels=query.channels,
        customer_segments=query.segments, event_types=query.event_types, sentiments=query.sentiments,
        customer_id=query.customer, q=query.q, time_zone=query.zone_name, weekdays=query.weekdays,
        hours=query.hours, query=query.query_string(),
    )
    if query.sentiment_min is not None:
        message.sentiment_min = query.sentiment_min
    if query.sentiment_max is not None:
        message.sentiment_max = query.sentiment_max
    return message


def distribution(counts: Counts) -> common_pb2.SentimentDistribution:
    return common_pb2.SentimentDistribution(
        negative=counts.negative, neutral=counts.neutral, positive=counts.positive, pending=counts.pending,
        none=counts.none,
    )


def change(current: float | None, previous: float | None) -> query_pb2.Change:
    c = Change.of(current, previous)
    message = query_pb2.Change(previous=c.previous, absolute=c.absolute)
    if c.percent is not None:
        message.percent = round(c.percent, 4)
    return message


def _average(value: float | None) -> float | None:
    return round(value, 6) if value is not None else None


def _page_fields(page: InteractionPage) -> dict[str, Any]:
    return {
        "data": [interaction(i) for i in page.items], "total": page.total,
        "total_is_estimate": page.total_is_estimate, "next_page_token": page.next_page_token,
        "distribution": distribution(page.counts), "average_sentiment": _average(page.counts.average),
        "snippets": page.snippets,
    }


def list_interactions(page: InteractionPage) -> query_pb2.ListInteractionsResponse:
    return query_pb2.ListInteractionsResponse(**_page_fields(page))


def insights(page: InteractionPage) -> query_pb2.GetInsightsResponse:
    return query_pb2.GetInsightsResponse(**_page_fields(page))


def _point(p: TrendPoint, compare: bool) -> query_pb2.TrendPoint:
    message = query_pb2.TrendPoint(
        bucket_start=timestamp(p.start), bucket_end=timestamp(p.end), label=p.label, total=p.counts.total,
        distribution=distribution(p.counts), average_sentiment=_average(p.counts.average),
        drill_down=interaction_filter(p.drill_down),
    )
    if compare and p.previous is not None:
        message.total_change.CopyFrom(change(p.counts.total, p.previous.total))
        message.average_sentiment_change.CopyFrom(change(p.counts.average, p.previous.average))
    return message


def _series(s: TrendSeries, compare: bool) -> query_pb2.TrendSeries:
    message = query_pb2.TrendSeries(key=s.key, other=s.other, total=s.total,
                                    points=[_point(p, compare) for p in s.points])
    if compare and s.previous_total is not None:
        message.total_change.CopyFrom(change(s.total, s.previous_total))
    return message


def trends(t: Trends) -> query_pb2.GetSentimentTrendsResponse:
    compare = t.previous_start is not None
    return query_pb2.GetSentimentTrendsResponse(
        group_by=t.group_by, time_zone=t.query.zone_name, start_time=timestamp(t.query.start),
        end_time=timestamp(t.query.end), previous_start_time=timestamp(t.previous_start),
        previous_end_time=timestamp(t.previous_end), points=[_point(p, compare) for p in t.points],
        breakdown=t.breakdown, series=[_series(s, compare) for s in t.series],
    )


def _count(value: int, previous: int, drill: InteractionQuery | None, estimate: bool = False
           ) -> query_pb2.CountMetric:
    return query_pb2.CountMetric(value=value, change=change(value, previous), drill_down=interaction_filter(drill),
                                 is_estimate=estimate)


def _average_metric(current: Counts, previous: Counts) -> query_pb2.AverageMetric:
    return query_pb2.AverageMetric(value=_average(current.average), change=change(current.average, previous.average))


def _entry(e: BreakdownEntry) -> query_pb2.BreakdownEntry:
    return query_pb2.BreakdownEntry(
        key=e.key, other=e.other, count=_count(e.counts.total, e.previous.total, e.drill_down),
        average_sentiment=_average_metric(e.counts, e.previous), distribution=distribution(e.counts),
    )


def _customers(metric: CountMetric) -> query_pb2.CountMetric:
    return _count(metric.value, metric.previous, metric.drill_down, metric.is_estimate)


def metrics(m: Metrics) -> query_pb2.GetAggregatedMetricsResponse:
    q, now, before, estimate = m.query, m.counts, m.previous, m.total_is_estimate

    def label(name: str) -> query_pb2.CountMetric:
        return _count(getattr(now, name), getattr(before, name), q.narrowed("sentiment", [name]), estimate)

    return query_pb2.GetAggregatedMetricsResponse(
        start_time=timestamp(q.start), end_time=timestamp(q.end), previous_start_time=timestamp(m.previous_start),
        previous_end_time=timestamp(m.previous_end),
        total_interactions=_count(now.total, before.total, q, estimate),
        unique_customers=_customers(m.unique_customers), active_customers=_customers(m.active_customers),
        average_sentiment=_average_metric(now, before), negative=label("negative"), neutral=label("neutral"),
        positive=label("positive"), pending=label("pending"), none=label("none"),
        by_channel=[_entry(e) for e in m.by_channel], by_segment=[_entry(e) for e in m.by_segment],
        top_event_types=[_entry(e) for e in m.top_event_types],
    )


def heatmap(h: Heatmap) -> query_pb2.GetActivityHeatmapResponse:
    return query_pb2.GetActivityHeatmapResponse(time_zone=h.query.zone_name, cells=[
        query_pb2.HeatmapCell(weekday=c.weekday, hour=c.hour, total=c.counts.total,
                              average_sentiment=_average(c.counts.average), drill_down=interaction_filter(c.drill_down))
        for c in h.cells
    ])


def customers(page: CustomerPage) -> query_pb2.ListCustomersResponse:
    return query_pb2.ListCustomersResponse(
        customers=[customer(c) for c in page.items], total=page.total, total_is_estimate=page.total_is_estimate,
        next_page_token=page.next_page_token,
    )


def customer_profile(p: CustomerProfile) -> query_pb2.GetCustomerResponse:
    return query_pb2.GetCustomerResponse(
        customer=customer(p.customer), patterns=[pattern(x) for x in p.patterns], distribution=distribution(p.counts),
        by_channel=p.by_channel,
    )
