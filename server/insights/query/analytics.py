"""Trends, metrics and the activity heatmap, from the rollups (``rollups.aggregate``).

Every number carries the filter that lists exactly the interactions behind it (``drill_down``): the
query narrowed to the bucket's instant range and, where it applies, to the breakdown value or label.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from psycopg import sql
from psycopg.rows import tuple_row

from insights.errors import FieldViolation, ValidationError
from insights.infra.db import Conn
from insights.query.buckets import GRAINS, Grain, buckets, count_buckets, previous_period
from insights.query.filters import NO_SEGMENT, InteractionQuery
from insights.query.interactions import Reader, superset
from insights.query.models import (
    BreakdownEntry,
    CountMetric,
    Heatmap,
    HeatmapCell,
    Metrics,
    TrendPoint,
    Trends,
    TrendSeries,
)
from insights.query.rollups import Counts, Dimension, aggregate
from insights.query.sql import Params, raw_conditions, where
from insights.settings import QuerySettings

BREAKDOWNS: tuple[str, ...] = ("channel", "segment", "event_type")
OTHER = "other"
ACTIVE_DAYS = 30
SAMPLE_FACTOR = 16
"""idx_interactions_customer_sample holds the customers whose id's last byte is below 256 / 16."""


def _key_value(dimension: str, key: str) -> str:
    """A rollup key as a filter value (the empty segment is "no segment")."""
    return NO_SEGMENT if dimension == "segment" and key == "" else key


def _drill(query: InteractionQuery, start: datetime, end: datetime, dimension: str | None = None,
           keys: list[str] | None = None) -> InteractionQuery:
    narrowed = query.with_range(start, end)
    if dimension is not None and keys is not None:
        narrowed = narrowed.narrowed(dimension, [_key_value(dimension, k) for k in keys])
    return narrowed


def parse_trend_options(group_by: str, breakdown: str, limit: int, query: InteractionQuery,
                        settings: QuerySettings) -> tuple[Grain, str, int]:
    bad = []
    grain = group_by or "day"
    if grain not in GRAINS:
        bad.append(FieldViolation("groupBy", f"must be one of {', '.join(GRAINS)}"))
    if breakdown and breakdown not in BREAKDOWNS:
        bad.append(FieldViolation("breakdown", f"must be one of {', '.join(BREAKDOWNS)}"))
    if limit < 0 or limit > 50:
        bad.append(FieldViolation("breakdownLimit", "must be between 1 and 50"))
    if grain in GRAINS and count_buckets(query.start, query.end, query.time_zone, grain) > settings.max_buckets + 2:
        bad.append(FieldViolation("groupBy", f"the range has more than {settings.max_buckets} {grain} buckets"))
    if bad:
        raise ValidationError(bad)
    return grain, breakdown, limit or 5  # type: ignore[return-value]


def _top(totals: dict[str, int], limit: int) -> tuple[list[str], list[str]]:
    """The ``limit`` keys with the most interactions (ties by key), and the rest."""
    ranked = sorted(totals, key=lambda k: (-totals[k], k))
    return ranked[:limit], ranked[limit:]


async def trends(
    conn: Conn, query: InteractionQuery, organization_id: UUID, organization_zone: ZoneInfo, grain: Grain,
    breakdown: str, limit: int, compare: bool,
) -> Trends:
    current = buckets(query.start, query.end, query.time_zone, grain)
    previous_start = previous_end = None
    previous: list[Any] = []
    if compare:
        previous_start, previous_end = previous_period(query.start, query.end, query.time_zone, grain)
        previous = buckets(previous_start, previous_end, query.time_zone, grain)
    ranges = [(b.start, b.end) for b in current] + [(b.start, b.end) for b in previous]
    dimension: Dimension | None = breakdown if breakdown else None  # type: ignore[assignment]
    found = await aggregate(conn, query, organization_id, ranges, dimension, organization_zone)
    n = len(current)
    by_bucket: dict[int, list[tuple[str, Counts]]] = defaultdict(list)
    for (index, key), c in found.items():
        by_bucket[index].append((key, c))

    def points(keys: list[str] | None) -> list[TrendPoint]:
        wanted = set(keys) if keys is not None else None
        drill = _drill(query, query.start, query.end, breakdown or None, keys)  # narrowed once, dated per point

        def summed(index: int) -> Counts:
            total = Counts()
            for key, c in by_bucket.get(index, ()):
                if wanted is None or key in wanted:
                    total.add(c)
            return total

        # Bucket i of the previous period is found at index i + n.
        return [TrendPoint(b.start, b.end, b.label, summed(i), drill.with_range(b.start, b.end),
                           summed(i + n) if compare else None) for i, b in enumerate(current)]

    series: list[TrendSeries] = []
    if dimension is not None:
        totals: dict[str, int] = defaultdict(int)
        before_totals: dict[str, int] = defaultdict(int)
        for (index, key), c in found.items():
            if index < n:
                totals[key] += c.total
            else:
                before_totals[key] += c.total
        top, rest = _top(dict(totals), limit)
        for key in top:
            series.append(TrendSeries(_key_value(breakdown, key), False, totals[key],
                                      before_totals.get(key, 0) if compare else None, points([key])))
        # Values that only occurred in the previous period belong to "other" too (as its previous total).
        rest_all = rest + [k for k in before_totals if k not in totals]
        if rest_all:
            series.append(TrendSeries(OTHER, True, sum(totals.get(k, 0) for k in rest_all),
                                      sum(before_totals.get(k, 0) for k in rest_all) if compare else None,
                                      points(rest_all)))
    return Trends(query, grain, previous_start, previous_end, points(None), breakdown, series)


def distinct_statement(query: InteractionQuery, organization_id: UUID, start: datetime, end: datetime,
                       sampled: bool) -> tuple[sql.Composed, Params]:
    """The distinct customers of the filter in [start, end): one index-only scan of the range (the narrow
    organization/time/customer index; ``sampled``: the 1-in-16 sample, from its partial index), grouped by
    customer, which PostgreSQL hashes, where count(DISTINCT) would sort."""
    params: Params = {}
    conds = raw_conditions(query.with_range(start, end), organization_id, params)
    if sampled:
        conds.append(sql.SQL("get_byte(uuid_send(i.customer_id), 15) < 16"))
    return sql.SQL("SELECT count(*) FROM (SELECT i.customer_id FROM customer_interactions i WHERE {}"
                   " GROUP BY i.customer_id) AS customers").format(where(conds)), params


async def _distinct(read: Reader, query: InteractionQuery, organization_id: UUID,
                    ranges: list[tuple[datetime, datetime]], sampled: bool) -> list[int]:
    """The unique customers of each range, each counted in a transaction of its own, all at once: the ranges
    are scanned side by side (a CPU each) instead of one after the other. Reads are read committed
    anyway (every statement its own snapshot), so separate transactions see nothing a single one could not."""
    factor = SAMPLE_FACTOR if sampled else 1

    async def one(start: datetime, end: datetime) -> int:
        statement, params = distinct_statement(query, organization_id, start, end, sampled)
        async with read() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(statement, params)
            row = await cur.fetchone()
        return int(row[0]) * factor if row else 0

    unique = list(dict.fromkeys(ranges))
    counted = dict(zip(unique, await asyncio.gather(*(one(lo, hi) for lo, hi in unique)), strict=True))
    return [counted[r] for r in ranges]


def _breakdown(found: dict[tuple[int, str], Counts], position: int, query: InteractionQuery, dimension: str,
               limit: int | None) -> list[BreakdownEntry]:
    current: dict[str, Counts] = defaultdict(Counts)
    before: dict[str, Counts] = defaultdict(Counts)
    for (index, key), c in found.items():
        value = key.split("\x1f")[position]
        (current if index == 0 else before)[value].add(c)
    totals = {k: c.total for k, c in current.items()}
    top, rest = _top(totals, limit) if limit is not None else (sorted(totals, key=lambda k: (-totals[k], k)), [])
    out = [BreakdownEntry(_key_value(dimension, k), False, current[k], before.get(k, Counts()),
                          _drill(query, query.start, query.end, dimension, [k])) for k in top]
    rest += [k for k in before if k not in current and limit is not None]
    if rest:
        merged, merged_before = Counts(), Counts()
        for k in rest:
            merged.add(current.get(k, Counts()))
            merged_before.add(before.get(k, Counts()))
        out.append(BreakdownEntry(OTHER, True, merged, merged_before, _drill(query, query.start, query.end,
                                                                               dimension, rest)))
    return out


async def metrics(
    read: Reader, query: InteractionQuery, organization_id: UUID, organization_zone: ZoneInfo, top_event_types: int,
    settings: QuerySettings, totals_of: Any,
) -> Metrics:
    """``read`` opens a tenant transaction (a pooled connection); the statements that run side by side each
    take their own, and none holds one while it waits for another (no pool exhaustion can deadlock them)."""
    if top_event_types < 0 or top_event_types > 50:
        raise ValidationError.single("topEventTypes", "must be between 1 and 50")
    previous_start, previous_end = previous_period(query.start, query.end, query.time_zone, "day")
    ranges = [(query.start, query.end), (previous_start, previous_end)]
    active_end = query.end
    active_query = InteractionQuery(start=active_end - timedelta(days=ACTIVE_DAYS), end=active_end,
                                    time_zone=query.time_zone)
    active_prev = previous_end
    active_ranges = [(active_end - timedelta(days=ACTIVE_DAYS), active_end),
                     (active_prev - timedelta(days=ACTIVE_DAYS), active_prev)]
    unfiltered_query = replace(query, channels=(), segments=(), event_types=(), sentiments=(), sentiment_min=None,
                               sentiment_max=None, customer="", customer_id=None, q="", weekdays=(), hours=())

    def sampling(now_total: int, before_total: int) -> bool:
        """Unique customers: exact when the periods are small enough, else from the 1-in-16 sample; both
        periods alike, so that their change compares like with like."""
        return now_total > settings.exact_distinct_rows or before_total > settings.exact_distinct_rows

    async def unique(sampled: bool) -> tuple[list[int], list[int]]:
        if unfiltered_query == query and active_ranges == ranges:
            # A 30-day period without filters: the active customers are its customers.
            distinct = await _distinct(read, query, organization_id, ranges, sampled)
            return distinct, distinct
        found_now, found_active = await asyncio.gather(
            _distinct(read, query, organization_id, ranges, sampled),
            _distinct(read, active_query, organization_id, active_ranges, sampled))
        return found_now, found_active

    async def breakdowns() -> dict[tuple[int, str], Counts]:
        async with read() as conn:
            return await aggregate(conn, query, organization_id, ranges, "all", organization_zone)

    estimate = False
    if query.rollup_answerable:
        # The totals (one row per period from the totals rollups) decide the sampling; then the breakdowns and
        # the unique customers run side by side.
        async with read() as conn:
            totals = await aggregate(conn, query, organization_id, ranges, None, organization_zone)
        sampled = sampling(totals.get((0, ""), Counts()).total, totals.get((1, ""), Counts()).total)
        found, (distinct, unfiltered) = await asyncio.gather(breakdowns(), unique(sampled))
    else:
        # Raw rows: the totals may be an estimate past the exact limit; breakdowns come from the same rows.
        async with read() as conn:
            counts_now, estimate = await totals_of(conn, query)
            counts_before, estimate_before = await totals_of(conn, query.with_range(previous_start, previous_end))
        estimate = estimate or estimate_before
        sampled = sampling(counts_now.total, counts_before.total)
        if estimate:
            found = {(0, "\x1f\x1f"): counts_now, (1, "\x1f\x1f"): counts_before}
            distinct, unfiltered = await unique(sampled)
        else:
            found, (distinct, unfiltered) = await asyncio.gather(breakdowns(), unique(sampled))
    now_counts, before_counts = Counts(), Counts()
    for (index, _), c in found.items():
        (now_counts if index == 0 else before_counts).add(c)
    by_channel = _breakdown(found, 0, query, "channel", None) if not estimate else []
    by_segment = _breakdown(found, 1, query, "segment", None) if not estimate else []
    by_event = _breakdown(found, 2, query, "event_type", top_event_types or 10) if not estimate else []
    return Metrics(
        query, previous_start, previous_end, now_counts, before_counts,
        CountMetric(distinct[0], distinct[1], None, sampled),
        CountMetric(unfiltered[0], unfiltered[1], None, sampled),
        by_channel, by_segment, by_event, estimate,
    )


async def heatmap(
    conn: Conn, query: InteractionQuery, organization_id: UUID, settings: QuerySettings,
) -> Heatmap:
    if count_buckets(query.start, query.end, query.time_zone, "hour") > 24 * 400:
        raise ValidationError.single("endDate", "a heatmap covers at most 400 days")
    hours = buckets(query.start, query.end, query.time_zone, "hour")
    found = await aggregate(conn, query, organization_id, [(b.start, b.end) for b in hours], None, None)
    cells: dict[tuple[int, int], Counts] = defaultdict(Counts)
    for (index, _), c in found.items():
        local = hours[index].start.astimezone(query.time_zone)
        cells[(local.isoweekday(), local.hour)].add(c)
    out = []
    for weekday in range(1, 8):
        for hour in range(24):
            # A cell outside the filter's own weekdays or hours is empty and lists nothing.
            inside = (not query.weekdays or weekday in query.weekdays) and (not query.hours or hour in query.hours)
            drill = replace(query, weekdays=(weekday,), hours=(hour,)) if inside else None
            out.append(HeatmapCell(weekday, hour, cells.get((weekday, hour), Counts()), drill))
    return Heatmap(query, out)


__all__ = ["heatmap", "metrics", "parse_trend_options", "superset", "trends"]
