"""SQL for interaction filters: one WHERE clause for raw rows, one for rollup rows.

Every condition is a bound parameter; only fixed column and table names are composed into the text.
``organization_id`` is repeated as a constant although row-level security adds it anyway: the planner
then estimates the organization's share of each index from the statistics (and picks the index).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql

from insights.query.filters import NO_SEGMENT, InteractionQuery

Params = dict[str, Any]
TSQUERY = "websearch_to_tsquery('english', %(q)s)"
FTS_VECTOR = "to_tsvector('english', i.content)"
"""The expression of idx_interactions_content_fts: a search must use exactly this to use the index."""


def raw_conditions(query: InteractionQuery, organization_id: UUID, params: Params, *, with_range: bool = True,
                   prefix: str = "", search_range: tuple[datetime, datetime] | None = None) -> list[sql.Composable]:
    """Conditions on ``customer_interactions i`` (parameters go into ``params``, their names prefixed, so
    that one statement can hold several filters)."""
    P = _Prefixed(params, prefix)
    P["org"] = organization_id
    out: list[sql.Composable] = [P.sql("i.organization_id = %(org)s")]
    if with_range:
        P["start"], P["end"] = query.start, query.end
        out.append(P.sql("i.timestamp >= %(start)s AND i.timestamp < %(end)s"))
    out += _dimension_conditions(query, P, "i", raw=True)
    if query.sentiment_min is not None:
        P["smin"] = query.sentiment_min
        out.append(P.sql("i.sentiment_score >= %(smin)s"))
    if query.sentiment_max is not None:
        P["smax"] = query.sentiment_max
        out.append(P.sql("i.sentiment_score <= %(smax)s"))
    if query.customer:
        P["customer"] = query.customer_id
        # An unknown customer matches nothing (NULL compares false).
        out.append(P.sql("i.customer_id = %(customer)s"))
    if query.q:
        # Through the index, in a function that restricts itself to the tenant (db/migrations/0011: under
        # row-level security PostgreSQL would not use the text index for the non-leakproof @@).
        P["q"] = query.q
        P["q_start"], P["q_end"] = search_range or (query.start, query.end)
        out.append(P.sql("(i.id, i.timestamp) IN (SELECT m.id, m.ts FROM tenant_text_matches(%(q)s, %(q_start)s,"
                         " %(q_end)s) m)"))
    if query.weekdays or query.hours:
        P["tz"] = query.zone_name
    if query.weekdays:
        P["weekdays"] = list(query.weekdays)
        out.append(P.sql("extract(isodow FROM i.timestamp AT TIME ZONE %(tz)s)::int = ANY(%(weekdays)s)"))
    if query.hours:
        P["hours"] = list(query.hours)
        out.append(P.sql("extract(hour FROM i.timestamp AT TIME ZONE %(tz)s)::int = ANY(%(hours)s)"))
    return out


def rollup_conditions(query: InteractionQuery, organization_id: UUID, params: Params) -> list[sql.Composable]:
    """Dimension conditions on a rollup table ``r`` (its time range is the caller's)."""
    P = _Prefixed(params, "")
    P["org"] = organization_id
    return [P.sql("r.organization_id = %(org)s"), *_dimension_conditions(query, P, "r", raw=False)]


def _dimension_conditions(query: InteractionQuery, P: _Prefixed, alias: str, *, raw: bool) -> list[sql.Composable]:
    out: list[sql.Composable] = []
    a = sql.Identifier(alias)
    if query.channels:
        P["channels"] = list(query.channels)
        out.append(P.sql("{}.channel = ANY(%(channels)s)").format(a))
    if query.event_types:
        P["event_types"] = list(query.event_types)
        out.append(P.sql("{}.event_type = ANY(%(event_types)s)").format(a))
    if query.segments:
        named = [s for s in query.segments if s != NO_SEGMENT]
        P["segments"] = named
        if raw:
            none = sql.SQL(" OR {}.segment IS NULL").format(a) if NO_SEGMENT in query.segments else sql.SQL("")
            out.append(P.sql("({}.segment = ANY(%(segments)s){})").format(a, none))
        else:
            P["segments"] = named + ([""] if NO_SEGMENT in query.segments else [])
            out.append(P.sql("{}.segment = ANY(%(segments)s)").format(a))
    if query.sentiments and raw:
        P["sentiments"] = list(query.sentiments)
        out.append(P.sql("{}.sentiment_label = ANY(%(sentiments)s)").format(a))
    return out


class _Prefixed:
    """Puts parameters into ``params`` under prefixed names and rewrites ``%(name)s`` to match."""

    def __init__(self, params: Params, prefix: str) -> None:
        self._params = params
        self._prefix = prefix

    def __setitem__(self, name: str, value: Any) -> None:
        self._params[self._prefix + name] = value

    def sql(self, text: str) -> sql.SQL:
        return sql.SQL(re.sub(r"%\((\w+)\)s", lambda m: f"%({self._prefix}{m[1]})s", text) if self._prefix else text)


def where(conditions: list[sql.Composable]) -> sql.Composable:
    return sql.SQL(" AND ").join(conditions)
