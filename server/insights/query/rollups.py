"""Counts per time bucket (and breakdown value) from the rollups, exact for any time zone.

Each bucket is an instant range [lo, hi). ``plan`` splits it into the whole local days of the
organization's zone that it contains (the daily rollup), the whole UTC hours of what is left (the hourly
rollup), for questions without dimensions the whole UTC quarter hours of what is left (the quarter-hour
totals: every zone's offset is a multiple of 15 minutes), and the rest (raw rows, an index-only scan of
``idx_interactions_org_time``). A bucket in any zone, across any DST change, is then the exact sum of its
pieces. ``aggregate`` runs the sources in one statement; a filter the rollups cannot answer (score range,
customer, text, weekdays or hours) reads raw rows for the whole range instead.

Source ranges are passed as one sorted array of bounds [lo1, hi1, lo2, hi2, ...]: ``width_bucket``
finds a row's range in O(log n) and odd results are inside a range; a parallel array maps the range to
its bucket.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any, Literal, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

from psycopg import sql
from psycopg.rows import tuple_row

from insights.infra.db import Conn
from insights.query.filters import HOUR, QUARTER_HOUR, InteractionQuery, ceil_utc, floor_utc, local_midnight
from insights.query.sql import Params, raw_conditions, rollup_conditions, where

Dimension = Literal["channel", "segment", "event_type", "all"]
"""A breakdown; "all" keys by channel, segment and event type at once (joined by \x1f)."""
DIMENSIONS: tuple[Dimension, ...] = ("channel", "segment", "event_type")
LABELS = ("negative", "neutral", "positive")
T = TypeVar("T", datetime, date)


@dataclass
class Counts:
    negative: int = 0
    neutral: int = 0
    positive: int = 0
    pending: int = 0
    none: int = 0
    negative_score: Decimal = field(default_factory=Decimal)
    neutral_score: Decimal = field(default_factory=Decimal)
    positive_score: Decimal = field(default_factory=Decimal)

    @property
    def total(self) -> int:
        return self.negative + self.neutral + self.positive + self.pending + self.none

    @property
    def scored(self) -> int:
        return self.negative + self.neutral + self.positive

    @property
    def score_sum(self) -> Decimal:
        return self.negative_score + self.neutral_score + self.positive_score

    @property
    def average(self) -> float | None:
        return float(self.score_sum / self.scored) if self.scored else None

    def add(self, other: Counts) -> None:
        self.negative += other.negative
        self.neutral += other.neutral
        self.positive += other.positive
        self.pending += other.pending
        self.none += other.none
        self.negative_score += other.negative_score
        self.neutral_score += other.neutral_score
        self.positive_score += other.positive_score

    def only(self, labels: Sequence[str]) -> Counts:
        """The counts of the given sentiment states only (a ``sentiments`` filter on rollup rows)."""
        keep = set(labels) if labels else {"negative", "neutral", "positive", "pending", "none"}
        return Counts(
            self.negative if "negative" in keep else 0, self.neutral if "neutral" in keep else 0,
            self.positive if "positive" in keep else 0, self.pending if "pending" in keep else 0,
            self.none if "none" in keep else 0,
            self.negative_score if "negative" in keep else Decimal(0),
            self.neutral_score if "neutral" in keep else Decimal(0),
            self.positive_score if "positive" in keep else Decimal(0),
        )


@dataclass(frozen=True)
class Plan:
    daily: list[tuple[date, date, int]]
    hourly: list[tuple[datetime, datetime, int]]
    raw: list[tuple[datetime, datetime, int]]
    quarter: list[tuple[datetime, datetime, int]] = field(default_factory=list)


def _merge(pieces: list[tuple[T, T, int]]) -> list[tuple[T, T, int]]:
    """Sorts and joins touching pieces of the same bucket."""
    out: list[tuple[T, T, int]] = []
    for lo, hi, bucket in sorted(pieces):
        if lo >= hi:
            continue
        if out and out[-1][1] == lo and out[-1][2] == bucket:
            out[-1] = (out[-1][0], hi, bucket)
        else:
            out.append((lo, hi, bucket))
    return out


def plan(ranges: Sequence[tuple[datetime, datetime]], zone: ZoneInfo | None, quarters: bool = False) -> Plan:
    """Splits each bucket range into daily (whole local days of ``zone``), hourly (whole UTC hours), with
    ``quarters`` quarter-hour (whole UTC quarter hours) and raw (the rest) pieces. ``zone`` None: no daily
    pieces."""
    daily: list[tuple[date, date, int]] = []
    hourly: list[tuple[datetime, datetime, int]] = []
    quarter: list[tuple[datetime, datetime, int]] = []
    raw: list[tuple[datetime, datetime, int]] = []

    def edge(a: datetime, b: datetime, bucket: int) -> None:
        """A piece shorter than the hours around it: whole quarter hours, when asked for, and raw rows."""
        if a >= b:
            return
        q0, q1 = ceil_utc(a, QUARTER_HOUR), floor_utc(b, QUARTER_HOUR)
        if quarters and q0 < q1:
            quarter.append((q0, q1, bucket))
            raw.extend([(a, q0, bucket), (q1, b, bucket)])
        else:
            raw.append((a, b, bucket))

    for bucket, (lo, hi) in enumerate(ranges):
        rest = [(lo, hi)]
        if zone is not None:
            first = lo.astimezone(zone).date()
            if local_midnight(first, zone) < lo:
                first += timedelta(days=1)
            last = hi.astimezone(zone).date()
            if first < last:
                daily.append((first, last, bucket))
                rest = [(lo, local_midnight(first, zone)), (local_midnight(last, zone), hi)]
        for a, b in rest:
            if a >= b:
                continue
            h0, h1 = ceil_utc(a, HOUR), floor_utc(b, HOUR)
            if h0 < h1:
                hourly.append((h0, h1, bucket))
                edge(a, h0, bucket)
                edge(h1, b, bucket)
            else:
                edge(a, b, bucket)
    return Plan(_merge(daily), _merge(hourly), _merge(raw), _merge(quarter))


def _bounds(pieces: Sequence[tuple[T, T, int]]) -> tuple[list[T], list[int]]:
    bounds: list[T] = []
    for lo, hi, _ in pieces:
        bounds += [lo, hi]
    return bounds, [bucket + 1 for _, _, bucket in pieces]  # 1-based bucket numbers (0: no bucket)


_ROLLUP_SUMS = """sum(r.negative), sum(r.neutral), sum(r.positive), sum(r.pending), sum(r.unscored),
       sum(r.negative_score), sum(r.neutral_score), sum(r.positive_score)"""
_RAW_SUMS = """count(*) FILTER (WHERE i.sentiment_label = 'negative'),
       count(*) FILTER (WHERE i.sentiment_label = 'neutral'),
       count(*) FILTER (WHERE i.sentiment_label = 'positive'), count(*) FILTER (WHERE i.sentiment_label = 'pending'),
       count(*) FILTER (WHERE i.sentiment_label NOT IN ('negative', 'neutral', 'positive', 'pending')),
       coalesce(sum(i.sentiment_score) FILTER (WHERE i.sentiment_label = 'negative'), 0),
       coalesce(sum(i.sentiment_score) FILTER (WHERE i.sentiment_label = 'neutral'), 0),
       coalesce(sum(i.sentiment_score) FILTER (WHERE i.sentiment_label = 'positive'), 0)"""


def _key(alias: str, dimension: Dimension | None) -> sql.Composable:
    if dimension is None:
        return sql.SQL("''")
    if dimension == "all":
        a = sql.Identifier(alias)
        segment = sql.SQL("coalesce(i.segment, '')") if alias == "i" else sql.SQL("r.segment")
        return sql.SQL("{}.channel || chr(31) || {} || chr(31) || {}.event_type").format(a, segment, a)
    if dimension == "segment" and alias == "i":
        return sql.SQL("coalesce(i.segment, '')")
    return sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(dimension))


def _piece_sql(
    source: str, column: str, pieces: Sequence[tuple[Any, Any, int]], kind: str, dimension: Dimension | None,
    conditions: list[sql.Composable], params: Params, name: str, keys: list[Any] | None = None,
) -> sql.Composed:
    """``keys``: the rollup keys the pieces hold, listed (short pieces far apart: the quarter hours of a
    half-hour zone's edges), read as index look-ups instead of a range with most of its rows filtered out."""
    bounds, bucket_of = _bounds(pieces)
    params[f"{name}_bounds"], params[f"{name}_bucket"] = bounds, bucket_of
    params[f"{name}_lo"], params[f"{name}_hi"] = bounds[0], bounds[-1]
    alias = "i" if source == "customer_interactions" else "r"
    col = sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(column))
    wb = sql.SQL("width_bucket({}, %({})s::{}[])").format(col, sql.SQL(f"{name}_bounds"), sql.SQL(kind))
    # Without gaps between the pieces every row of [lo, hi) is in one: the odd-bucket test (whose selectivity
    # the planner cannot estimate) is needed only when there are gaps.
    gaps = any(a[1] != b[0] for a, b in pairwise(pieces))
    inside = sql.SQL(" AND mod({}, 2) = 1").format(wb) if gaps else sql.SQL("")
    if keys is not None:
        params[f"{name}_keys"] = keys
        inside = sql.SQL(" AND {} = ANY(%({})s::{}[])").format(col, sql.SQL(f"{name}_keys"), sql.SQL(kind))
    return sql.SQL(
        "SELECT (%({bucket})s::int[])[({wb} + 1) / 2] AS b, {key} AS k, {sums} FROM {table} {alias}"
        " WHERE {where} AND {col} >= %({lo})s AND {col} < %({hi})s{inside} GROUP BY 1, 2"
    ).format(inside=inside,
        bucket=sql.SQL(f"{name}_bucket"), wb=wb, key=_key(alias, dimension),
        sums=sql.SQL(_RAW_SUMS if alias == "i" else _ROLLUP_SUMS), table=sql.Identifier(source),
        alias=sql.Identifier(alias), where=where(conditions), col=col, lo=sql.SQL(f"{name}_lo"),
        hi=sql.SQL(f"{name}_hi"),
    )


def aggregate_sql(
    query: InteractionQuery, organization_id: UUID, ranges: Sequence[tuple[datetime, datetime]],
    dimension: Dimension | None, organization_zone: ZoneInfo | None,
) -> tuple[sql.SQL | sql.Composed, Params]:
    """One statement answering counts per (bucket number, key) for the given ranges."""
    params: Params = {}
    parts: list[sql.Composable] = []
    if query.rollup_answerable:
        # Without dimensions, one row per day, hour or quarter hour (db/migrations/0012-0014) instead of one per
        # combination; quarter hours exist only without dimensions (with them they would barely compress).
        plain = dimension is None and not (query.channels or query.segments or query.event_types)
        p = plan(ranges, organization_zone, quarters=plain)
        rollup_where = rollup_conditions(query, organization_id, params)
        if p.daily:
            table = "interaction_rollup_daily_totals" if plain else "interaction_rollup_daily"
            parts.append(_piece_sql(table, "day", p.daily, "date", dimension, rollup_where, params, "d"))
        if p.hourly:
            table = "interaction_rollup_hourly_totals" if plain else "interaction_rollup_hourly"
            parts.append(_piece_sql(table, "hour", p.hourly, "timestamptz", dimension, rollup_where, params, "h"))
        if p.quarter:
            quarters = [lo + QUARTER_HOUR * n for lo, hi, _ in p.quarter for n in range((hi - lo) // QUARTER_HOUR)]
            parts.append(_piece_sql("interaction_rollup_quarter_totals", "quarter", p.quarter, "timestamptz", dimension,
                                    rollup_where, params, "qh", quarters))
        raw_pieces = p.raw
    else:
        raw_pieces = _merge([(lo, hi, i) for i, (lo, hi) in enumerate(ranges)])
    if raw_pieces:
        raw_where = raw_conditions(query, organization_id, params, with_range=False,
                                   search_range=(min(lo for lo, _ in ranges), max(hi for _, hi in ranges)))
        parts.append(_piece_sql("customer_interactions", "timestamp", raw_pieces, "timestamptz", dimension,
                                raw_where, params, "x"))
    if not parts:
        return sql.SQL("SELECT NULL::int, NULL::text, 0, 0, 0, 0, 0, 0, 0, 0 WHERE false"), params
    return sql.SQL(" UNION ALL ").join(parts), params


async def aggregate(
    conn: Conn, query: InteractionQuery, organization_id: UUID, ranges: Sequence[tuple[datetime, datetime]],
    dimension: Dimension | None = None, organization_zone: ZoneInfo | None = None,
) -> dict[tuple[int, str], Counts]:
    """Counts per (bucket index, breakdown key; '' without a breakdown), only non-empty ones."""
    statement, params = aggregate_sql(query, organization_id, ranges, dimension, organization_zone)
    out: dict[tuple[int, str], Counts] = defaultdict(Counts)
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(statement, params)
        for b, k, neg, neu, pos, pend, none, s_neg, s_neu, s_pos in await cur.fetchall():
            counts = Counts(int(neg), int(neu), int(pos), int(pend), int(none), Decimal(s_neg), Decimal(s_neu),
                            Decimal(s_pos))
            if query.rollup_answerable and query.sentiments:
                counts = counts.only(query.sentiments)
            if counts.total:
                out[(int(b) - 1, str(k))].add(counts)
    return dict(out)
