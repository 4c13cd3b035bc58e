"""Typed answers of the read side (converters map them to protobuf)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from insights.customers.models import BehaviorPattern, Customer, Interaction
from insights.query.filters import InteractionQuery
from insights.query.rollups import Counts


@dataclass(frozen=True)
class Change:
    """Against the previous period: ``percent`` is None when the previous value is 0 (or absent)."""

    previous: float
    absolute: float
    percent: float | None

    @classmethod
    def of(cls, current: float | None, previous: float | None) -> Change:
        now, before = current or 0.0, previous or 0.0
        return cls(before, now - before, (now - before) / abs(before) * 100 if before else None)


@dataclass(frozen=True)
class InteractionPage:
    items: list[Interaction]
    total: int
    total_is_estimate: bool
    next_page_token: str
    counts: Counts
    snippets: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrendPoint:
    start: datetime
    end: datetime
    label: str
    counts: Counts
    drill_down: InteractionQuery
    previous: Counts | None = None


@dataclass(frozen=True)
class TrendSeries:
    key: str
    other: bool
    total: int
    previous_total: int | None
    points: list[TrendPoint]


@dataclass(frozen=True)
class Trends:
    query: InteractionQuery
    group_by: str
    previous_start: datetime | None
    previous_end: datetime | None
    points: list[TrendPoint]
    breakdown: str
    series: list[TrendSeries]


@dataclass(frozen=True)
class CountMetric:
    value: int
    previous: int
    drill_down: InteractionQuery | None
    is_estimate: bool = False


@dataclass(frozen=True)
class BreakdownEntry:
    key: str
    other: bool
    counts: Counts
    previous: Counts
    drill_down: InteractionQuery


@dataclass(frozen=True)
class Metrics:
    query: InteractionQuery
    previous_start: datetime
    previous_end: datetime
    counts: Counts
    previous: Counts
    unique_customers: CountMetric
    active_customers: CountMetric
    by_channel: list[BreakdownEntry]
    by_segment: list[BreakdownEntry]
    top_event_types: list[BreakdownEntry]
    total_is_estimate: bool = False


@dataclass(frozen=True)
class HeatmapCell:
    weekday: int
    hour: int
    counts: Counts
    drill_down: InteractionQuery | None


@dataclass(frozen=True)
class Heatmap:
    query: InteractionQuery
    cells: list[HeatmapCell]


@dataclass(frozen=True)
class CustomerPage:
    items: list[Customer]
    total: int
    total_is_estimate: bool
    next_page_token: str


@dataclass(frozen=True)
class CustomerProfile:
    customer: Customer
    patterns: list[BehaviorPattern]
    counts: Counts
    by_channel: dict[str, int]
