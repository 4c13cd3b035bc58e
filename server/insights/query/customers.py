"""Customers: keyset lists with filters and fuzzy look-up, profiles, and their behaviour patterns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.rows import dict_row, kwargs_row, tuple_row

from insights.customers.models import BehaviorPattern
from insights.customers.repository import (
    CUSTOMER_COLUMNS,
    PATTERN_COLUMNS,
    build_customer,
    pattern_row,
    resolve_customer,
)
from insights.errors import FieldViolation, ValidationError
from insights.infra.db import Conn
from insights.infra.paging import decode_token, encode_token, page_size
from insights.query.filters import NO_SEGMENT, split_list
from insights.query.models import CustomerPage, CustomerProfile
from insights.query.rollups import Counts
from insights.settings import QuerySettings

CUSTOMER_SORTS = {"last_seen": "c.last_seen_at", "interactions": "c.interaction_count",
                  "sentiment": "coalesce(c.average_sentiment, -2)", "relevance": "relevance"}
_CURRENT = "(p.valid_until IS NULL OR p.valid_until > now())"


@dataclass(frozen=True)
class CustomerFilter:
    q: str = ""
    segments: tuple[str, ...] = ()
    sentiment_min: float | None = None
    sentiment_max: float | None = None
    pattern_types: tuple[str, ...] = ()
    sort_by: str = ""
    sort_order: str = ""
    page_size: int = 0
    page_token: str = ""
    page: int = 0


async def list_customers(conn: Conn, f: CustomerFilter, settings: QuerySettings) -> CustomerPage:
    bad: list[FieldViolation] = []
    q = " ".join(f.q.split()).lower()
    if len(q) > 200:
        bad.append(FieldViolation("q", "must be at most 200 characters"))
    by = f.sort_by or ("relevance" if q else "last_seen")
    if by not in CUSTOMER_SORTS:
        bad.append(FieldViolation("sortBy", f"must be one of {', '.join(CUSTOMER_SORTS)}"))
    elif by == "relevance" and not q:
        bad.append(FieldViolation("sortBy", "relevance needs q"))
    order = f.sort_order or "desc"
    if order not in ("asc", "desc"):
        bad.append(FieldViolation("sortOrder", "must be asc or desc"))
    for name, value in (("sentimentMin", f.sentiment_min), ("sentimentMax", f.sentiment_max)):
        if value is not None and not -1 <= value <= 1:
            bad.append(FieldViolation(name, "must be between -1 and 1"))
    size = 0
    try:
        size = page_size(f.page_size)
    except ValidationError as exc:
        bad += exc.violations
    if f.page < 0:
        bad.append(FieldViolation("page", "must be 1 or more"))
    offset = (f.page - 1) * size if f.page > 1 and not f.page_token else 0
    if offset + size > settings.max_offset:
        bad.append(FieldViolation("page", f"offset pages reach the first {settings.max_offset} rows; use pageToken"))
    segments = tuple(sorted(set(split_list(f.segments))))
    types = tuple(sorted(set(split_list(f.pattern_types))))
    if bad:
        raise ValidationError(bad)

    params: dict[str, Any] = {"limit": size, "offset": offset}
    conds: list[sql.Composable] = [sql.SQL("true")]
    source = sql.SQL("customers c")
    if q:
        # Trigram matches through the index, in a function restricted to the tenant (db/migrations/0011).
        params["q"], params["threshold"], params["candidates"] = q, settings.search_similarity, settings.search_limit
        source = sql.SQL("customers c JOIN tenant_customer_matches(%(q)s, %(threshold)s::real, %(candidates)s) m"
                         " ON m.id = c.id")
    if segments:
        params["segments"] = [s for s in segments if s != NO_SEGMENT]
        none = sql.SQL(" OR c.segment IS NULL") if NO_SEGMENT in segments else sql.SQL("")
        conds.append(sql.SQL("(c.segment = ANY(%(segments)s){})").format(none))
    if f.sentiment_min is not None:
        params["smin"] = f.sentiment_min
        conds.append(sql.SQL("c.average_sentiment >= %(smin)s"))
    if f.sentiment_max is not None:
        params["smax"] = f.sentiment_max
        conds.append(sql.SQL("c.average_sentiment <= %(smax)s"))
    if types:
        params["types"] = list(types)
        conds.append(sql.SQL(f"EXISTS (SELECT 1 FROM behavior_patterns p WHERE p.customer_id = c.id"
                             f" AND p.pattern_type = ANY(%(types)s) AND {_CURRENT})"))
    filter_conds = list(conds)
    key = sql.SQL("m.similarity" if by == "relevance" else CUSTOMER_SORTS[by])
    scope = f"customers|{by}|{order}|{q}|{segments}|{f.sentiment_min}|{f.sentiment_max}|{types}"
    after = decode_token(f.page_token, scope, arity=2) if f.page_token else None
    descending = order == "desc" or by == "relevance"
    if after is not None:
        params["after_key"], params["after_id"] = after[0], UUID(after[1])
        cast = sql.SQL("::timestamptz" if by == "last_seen" else "::numeric")
        conds.append(sql.SQL("({}, c.id) {} (%(after_key)s{}, %(after_id)s)").format(
            key, sql.SQL("<" if descending else ">"), cast))
    d = sql.SQL("DESC" if descending else "ASC")
    statement = sql.SQL(
        "SELECT {cols}, {key} AS sort_key, ARRAY(SELECT DISTINCT p.pattern_type FROM behavior_patterns p"
        f" WHERE p.customer_id = c.id AND {_CURRENT} ORDER BY 1) AS pattern_types"
        " FROM {source} WHERE {where} ORDER BY {key} {d}, c.id {d} LIMIT %(limit)s OFFSET %(offset)s"
    ).format(cols=sql.SQL(", ".join(f"c.{c.strip()}" for c in CUSTOMER_COLUMNS.split(","))), key=key,
             source=source, where=sql.SQL(" AND ").join(conds), d=d)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, params)
        rows = await cur.fetchall()
        count_params = {k: v for k, v in params.items()
                        if k in ("q", "threshold", "candidates", "segments", "smin", "smax", "types")}
        count_params["cap"] = settings.exact_total_limit + 1
        await cur.execute(sql.SQL("SELECT count(*) AS n FROM (SELECT 1 FROM {} WHERE {} LIMIT %(cap)s) s").format(
            source, sql.SQL(" AND ").join(filter_conds)), count_params)
        counted = await cur.fetchone()
        estimate = False
        if counted is not None and counted["n"] > settings.exact_total_limit:
            # Past the limit: a 1 % block sample of the table, scaled (flagged as an estimate).
            await cur.execute(sql.SQL("SELECT count(*) * 100 AS n FROM customers c TABLESAMPLE SYSTEM (1)"
                                      " REPEATABLE (0) WHERE {}").format(sql.SQL(" AND ").join(filter_conds)),
                              count_params)
            sampled = await cur.fetchone()
            counted, estimate = {"n": max(int(sampled["n"]) if sampled else 0, counted["n"])}, True
    items = []
    for row in rows:
        key_value = row.pop("sort_key")
        row["_key"] = key_value
        items.append(row)
    customers = [build_customer(**{k: v for k, v in r.items() if k != "_key"}) for r in items]
    token = ""
    if len(items) == size and items:
        last = items[-1]["_key"]
        token = encode_token(scope, [last.isoformat() if isinstance(last, datetime) else str(last),
                                     str(items[-1]["id"])])
    total = int(counted["n"]) if counted else 0
    # A fuzzy look-up ranks the nearest ``search_limit`` customers: past that the total is a lower bound.
    return CustomerPage(customers, total, estimate or (bool(q) and total >= settings.search_limit), token)


async def current_patterns(conn: Conn, customer_id: UUID, types: tuple[str, ...] = (),
                           include_expired: bool = False) -> list[BehaviorPattern]:
    conds = ["customer_id = %(customer)s"]
    params: dict[str, Any] = {"customer": customer_id}
    if not include_expired:
        conds.append("(valid_until IS NULL OR valid_until > now())")
    if types:
        params["types"] = list(types)
        conds.append("pattern_type = ANY(%(types)s)")
    async with conn.cursor(row_factory=pattern_row) as cur:
        await cur.execute(
            f"SELECT {PATTERN_COLUMNS} FROM behavior_patterns WHERE {' AND '.join(conds)}"
            " ORDER BY confidence DESC, pattern_type, detected_at DESC, id", params)
        return await cur.fetchall()


async def profile(conn: Conn, ref: str) -> CustomerProfile:
    customer = await resolve_customer(conn, ref)
    patterns = await current_patterns(conn, customer.id)
    counts = Counts()
    by_channel: dict[str, int] = {}
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(
            "SELECT channel, sentiment_label, count(*) FROM customer_interactions WHERE customer_id = %s"
            " GROUP BY 1, 2", (customer.id,))
        for channel, label, n in await cur.fetchall():
            by_channel[channel] = by_channel.get(channel, 0) + int(n)
            if label in ("negative", "neutral", "positive", "pending"):
                setattr(counts, label, getattr(counts, label) + int(n))
            else:
                counts.none += int(n)
    from dataclasses import replace
    customer = replace(customer, pattern_types=tuple(sorted({p.pattern_type for p in patterns})))
    return CustomerProfile(customer, patterns, counts, dict(sorted(by_channel.items())))


__all__ = ["CustomerFilter", "Decimal", "current_patterns", "kwargs_row", "list_customers", "profile"]
