"""Listing interactions: keyset pages, the filter's totals, search snippets, and the export stream.

Orders (each with ``id`` as the final tie-breaker, so that the order is total and pages are stable):

- ``timestamp`` (default): (timestamp, id), the index ``idx_interactions_org_time`` in either direction;
- ``sentiment``: scored interactions by (score, timestamp, id), then the unscored ones by (timestamp, id),
  in both directions (unscored last): two keyset phases, the token says which;
- ``relevance`` (with ``q``): (ts_rank_cd, timestamp, id).

A page token carries the last row's sort key: the next page starts strictly after it, so rows inserted
meanwhile never shift a page (nothing is skipped or repeated), and page 10,000 costs what page 1 does.
``page`` (offset) works for the first ``max_offset`` rows.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from psycopg import sql
from psycopg.rows import dict_row, tuple_row

from insights.customers.models import Interaction
from insights.customers.repository import build_interaction
from insights.errors import ValidationError
from insights.infra.db import Conn, Database
from insights.infra.paging import decode_token, encode_token, page_size
from insights.query.filters import InteractionQuery
from insights.query.models import InteractionPage
from insights.query.rollups import Counts, aggregate
from insights.query.sql import FTS_VECTOR, TSQUERY, Params, raw_conditions, where
from insights.settings import QuerySettings

Reader = Callable[[], AbstractAsyncContextManager[Conn]]
"""Opens a tenant transaction on a pooled connection: statements that run side by side take one each."""

SORTS = ("timestamp", "sentiment", "relevance")
_SELECT = """
SELECT i.id, i.customer_id, c.external_id AS external_customer_id, i.timestamp, i.channel, i.event_type,
       i.content, i.metadata, i.sentiment, i.sentiment_confidence, i.processed_at, i.created_at, i.version, i.segment
       {extra}
FROM customer_interactions i JOIN customers c ON c.id = i.customer_id
"""
_MARK_START, _MARK_END = "\x01", "\x02"
_HEADLINE = (
    f"ts_headline('english', i.content, {TSQUERY}, 'StartSel=\"{_MARK_START}\", StopSel=\"{_MARK_END}\","
    " MaxFragments=2, MaxWords=18, MinWords=6, FragmentDelimiter=\" … \"')"
)


@dataclass(frozen=True)
class PageRequest:
    sort_by: str = ""
    sort_order: str = ""
    page_size: int = 0
    page_token: str = ""
    page: int = 0


@dataclass(frozen=True)
class _Order:
    by: str
    descending: bool
    size: int


def parse_order(request: PageRequest, query: InteractionQuery, settings: QuerySettings) -> tuple[_Order, int]:
    """The sort and size, and the offset of ``page``; raises naming each bad field."""
    bad = []
    by = request.sort_by or "timestamp"
    if by not in SORTS:
        bad.append(("sortBy", f"must be one of {', '.join(SORTS)}"))
    elif by == "relevance" and not query.q:
        bad.append(("sortBy", "relevance needs q"))
    order = request.sort_order or "desc"
    if order not in ("asc", "desc"):
        bad.append(("sortOrder", "must be asc or desc"))
    size = 0
    try:
        size = page_size(request.page_size)
    except ValidationError as exc:
        bad += [(v.field, v.description) for v in exc.violations]
    offset = 0
    if request.page < 0:
        bad.append(("page", "must be 1 or more"))
    elif request.page > 1 and not request.page_token:
        offset = (request.page - 1) * (size or 1)
        if offset + size > settings.max_offset:
            bad.append(("page", f"offset pages reach the first {settings.max_offset} rows; use pageToken beyond"))
    if bad:
        from insights.errors import FieldViolation
        raise ValidationError([FieldViolation(f, d) for f, d in bad])
    return _Order(by, order == "desc", size), offset


def _scope(order: _Order, query: InteractionQuery) -> str:
    return f"interactions|{order.by}|{order.descending}|{query.cache_key()}"


def _keyset(order: _Order, after: list[Any] | None, params: Params) -> tuple[list[sql.Composable], sql.Composable,
                                                                               int]:
    """Conditions and ORDER BY of one keyset phase; returns the phase too (sentiment: 0 scored, 1 unscored)."""
    op = sql.SQL("<" if order.descending else ">")
    direction = sql.SQL("DESC" if order.descending else "ASC")
    conds: list[sql.Composable] = []
    phase = 0
    if order.by == "timestamp":
        if after is not None:
            params["after_ts"], params["after_id"] = datetime.fromisoformat(after[0]), UUID(after[1])
            conds.append(sql.SQL("(i.timestamp, i.id) {} (%(after_ts)s, %(after_id)s)").format(op))
        return conds, sql.SQL("i.timestamp {d}, i.id {d}").format(d=direction), 0
    if order.by == "relevance":
        rank = sql.SQL(f"ts_rank_cd({FTS_VECTOR}, {TSQUERY})")
        if after is not None:
            params["after_rank"], params["after_ts"], params["after_id"] = (
                float(after[0]), datetime.fromisoformat(after[1]), UUID(after[2]))
            conds.append(sql.SQL("({}, i.timestamp, i.id) < (%(after_rank)s, %(after_ts)s, %(after_id)s)").format(rank))
        return conds, sql.SQL("{} DESC, i.timestamp DESC, i.id DESC").format(rank), 0
    # sentiment: phase 0 (scored), then phase 1 (unscored)
    phase = int(after[0]) if after is not None else 0
    if phase == 0:
        conds.append(sql.SQL("i.sentiment_score IS NOT NULL"))
        if after is not None and after[1] is not None:
            params["after_score"], params["after_ts"], params["after_id"] = (
                after[1], datetime.fromisoformat(after[2]), UUID(after[3]))
            conds.append(sql.SQL("(i.sentiment_score, i.timestamp, i.id) {} (%(after_score)s::numeric,"
                                 " %(after_ts)s, %(after_id)s)").format(op))
        return conds, sql.SQL("i.sentiment_score {d}, i.timestamp {d}, i.id {d}").format(d=direction), 0
    conds.append(sql.SQL("i.sentiment_score IS NULL"))
    if after is not None and after[2] is not None:
        params["after_ts"], params["after_id"] = datetime.fromisoformat(after[2]), UUID(after[3])
        conds.append(sql.SQL("(i.timestamp, i.id) {} (%(after_ts)s, %(after_id)s)").format(op))
    return conds, sql.SQL("i.timestamp {d}, i.id {d}").format(d=direction), 1


def page_statement(query: InteractionQuery, organization_id: UUID, order: _Order, after: list[Any] | None,
                   offset: int, limit: int) -> tuple[sql.Composed, Params, int]:
    """One page's statement (and its keyset phase: -1 for an offset page in sentiment order)."""
    params: Params = {}
    conds = raw_conditions(query, organization_id, params)
    if offset and order.by == "sentiment":
        # Offset pages in one statement: scored rows first, then the unscored ones.
        keyset: list[sql.Composable] = []
        d = sql.SQL("DESC" if order.descending else "ASC")
        order_by: sql.Composable = sql.SQL(
            "(i.sentiment_score IS NULL), i.sentiment_score {d}, i.timestamp {d}, i.id {d}").format(d=d)
        phase = -1
    else:
        keyset, order_by, phase = _keyset(order, after, params)
    extra = [sql.SQL(", i.sentiment_score")]
    if order.by == "relevance":
        extra.append(sql.SQL(f", ts_rank_cd({FTS_VECTOR}, {TSQUERY}) AS rank"))
    if query.q:
        extra.append(sql.SQL(f", {_HEADLINE} AS snippet"))
    params["limit"], params["offset"] = limit, offset
    statement = sql.SQL(_SELECT).format(extra=sql.SQL("").join(extra)) + sql.SQL(
        " WHERE {} ORDER BY {} LIMIT %(limit)s OFFSET %(offset)s").format(where(conds + keyset), order_by)
    return statement, params, phase


def _token_key(order: _Order, row: dict[str, Any], phase: int) -> list[Any]:
    ts, rid = row["timestamp"].isoformat(), str(row["id"])
    if order.by == "timestamp":
        return [ts, rid]
    if order.by == "relevance":
        return [row["rank"], ts, rid]
    score = row["sentiment_score"]
    return [phase, str(score) if score is not None else None, ts, rid]


async def fetch_page(
    conn: Conn, query: InteractionQuery, organization_id: UUID, request: PageRequest, settings: QuerySettings,
) -> tuple[list[Interaction], str, dict[str, str]]:
    """One page (keyset, or offset for ``page``), the next page's token, and snippets (with q)."""
    order, offset = parse_order(request, query, settings)
    scope = _scope(order, query)
    arity = {"timestamp": 2, "relevance": 3, "sentiment": 4}[order.by]
    after = decode_token(request.page_token, scope, arity=arity) if request.page_token else None
    rows: list[dict[str, Any]] = []
    last_phase = 0
    while len(rows) < order.size:
        statement, params, phase = page_statement(query, organization_id, order, after, offset, order.size - len(rows))
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(statement, params)
            rows += await cur.fetchall()
        last_phase = phase
        if phase != 0 or order.by != "sentiment":
            break
        # The scored rows ran out on this page: go on with the unscored ones, from their start.
        after, offset = [1, None, None, None], 0
    items = [_interaction(row) for row in rows]
    next_token = ""
    if len(rows) == order.size and rows:
        if last_phase == -1:
            last_phase = 1 if rows[-1]["sentiment_score"] is None else 0
        next_token = encode_token(scope, _token_key(order, rows[-1], last_phase))
    snippets = {str(row["id"]): _snippet(row["snippet"]) for row in rows if row.get("snippet")}
    return items, next_token, snippets


def _interaction(row: dict[str, Any]) -> Interaction:
    fields = {k: row[k] for k in (
        "id", "customer_id", "external_customer_id", "timestamp", "channel", "event_type", "content", "metadata",
        "sentiment", "sentiment_confidence", "processed_at", "created_at", "version", "segment")}
    return build_interaction(**fields)


def _snippet(text: str) -> str:
    """ts_headline does not escape: escape the content, then turn the markers into <mark>."""
    return html.escape(text, quote=False).replace(_MARK_START, "<mark>").replace(_MARK_END, "</mark>")


def superset(query: InteractionQuery) -> InteractionQuery:
    """The filter without what the rollups cannot answer."""
    return replace(query, sentiment_min=None, sentiment_max=None, customer="", customer_id=None, q="",
                   weekdays=(), hours=())


async def totals(
    conn: Conn, query: InteractionQuery, organization_id: UUID, settings: QuerySettings, organization_zone: Any,
) -> tuple[Counts, bool]:
    """The whole filter's counts; exact from the rollups, or counted from raw rows up to
    ``exact_total_limit`` and estimated beyond (flagged)."""
    if query.rollup_answerable:
        found = await aggregate(conn, query, organization_id, [(query.start, query.end)], None, organization_zone)
        return found.get((0, ""), Counts()), False
    if query.customer and query.customer_id is None:
        return Counts(), False
    limit = settings.exact_total_limit
    params: Params = {"cap": limit + 1}
    conds = raw_conditions(query, organization_id, params)
    statement = sql.SQL(
        "SELECT count(*), count(*) FILTER (WHERE s.sentiment_label = 'negative'),"
        " count(*) FILTER (WHERE s.sentiment_label = 'neutral'),"
        " count(*) FILTER (WHERE s.sentiment_label = 'positive'),"
        " count(*) FILTER (WHERE s.sentiment_label = 'pending'),"
        " coalesce(sum(s.sentiment_score) FILTER (WHERE s.sentiment_label = 'negative'), 0),"
        " coalesce(sum(s.sentiment_score) FILTER (WHERE s.sentiment_label = 'neutral'), 0),"
        " coalesce(sum(s.sentiment_score) FILTER (WHERE s.sentiment_label = 'positive'), 0), min(s.timestamp)"
        " FROM (SELECT i.sentiment_label, i.sentiment_score, i.timestamp FROM customer_interactions i"
        " WHERE {} ORDER BY i.timestamp DESC LIMIT %(cap)s) s"
    ).format(where(conds))
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(statement, params)
        row = await cur.fetchone()
    assert row is not None
    n, neg, neu, pos, pend, s_neg, s_neu, s_pos, oldest = row
    sample = Counts(neg, neu, pos, pend, n - neg - neu - pos - pend, s_neg, s_neu, s_pos)
    if n <= limit:
        return sample, False
    # More than the limit: the limit's most recent matches span [oldest, end). Their share of what the
    # rollups count in that span, applied to the whole period, estimates the total.
    wider = superset(query)
    found = await aggregate(conn, wider, organization_id, [(oldest, query.end), (query.start, query.end)], None,
                            organization_zone)
    span, whole = found.get((0, ""), Counts()).total, found.get((1, ""), Counts()).total
    scale = (whole / span) if span else 1.0
    return _scaled(sample, scale), True


def _scaled(counts: Counts, scale: float) -> Counts:
    from decimal import Decimal
    factor = Decimal(repr(scale))
    return Counts(round(counts.negative * scale), round(counts.neutral * scale), round(counts.positive * scale),
                  round(counts.pending * scale), round(counts.none * scale), counts.negative_score * factor,
                  counts.neutral_score * factor, counts.positive_score * factor)


async def list_page(
    read: Reader, query: InteractionQuery, organization_id: UUID, request: PageRequest, settings: QuerySettings,
    organization_zone: Any,
) -> InteractionPage:
    """The page and the filter's totals, side by side in a transaction each (a CPU each: with ``q`` both
    run the text search). Reads are read committed, every statement its own snapshot, so one transaction
    would not make them agree any better."""
    parse_order(request, query, settings)
    if query.customer and query.customer_id is None:
        return InteractionPage([], 0, False, "", Counts())

    async def page() -> tuple[list[Interaction], str, dict[str, str]]:
        async with read() as conn:
            return await fetch_page(conn, query, organization_id, request, settings)

    async def counted() -> tuple[Counts, bool]:
        async with read() as conn:
            return await totals(conn, query, organization_id, settings, organization_zone)

    (items, token, snippets), (counts, estimate) = await asyncio.gather(page(), counted())
    return InteractionPage(items, counts.total, estimate, token, counts, snippets)


# --- export ---------------------------------------------------------------------------------------

CSV_COLUMNS = ("id", "timestamp", "customerId", "externalCustomerId", "channel", "eventType", "segment",
               "sentimentLabel", "sentimentScore", "sentimentConfidence", "processedAt", "content", "metadata")


def _record(row: dict[str, Any]) -> dict[str, Any]:
    sentiment = row["sentiment"] or {}
    return {
        "id": str(row["id"]), "timestamp": row["timestamp"].isoformat(), "customerId": str(row["customer_id"]),
        "externalCustomerId": row["external_customer_id"], "channel": row["channel"],
        "eventType": row["event_type"], "segment": row["segment"], "sentimentLabel": row["sentiment_label"],
        "sentimentScore": float(row["sentiment_score"]) if row["sentiment_score"] is not None else None,
        "sentimentConfidence": float(row["sentiment_confidence"]) if row["sentiment_confidence"] is not None else None,
        "sentimentScores": {k: sentiment[k] for k in ("negative", "neutral", "positive") if k in sentiment} or None,
        "processedAt": row["processed_at"].isoformat() if row["processed_at"] else None,
        "content": row["content"], "metadata": row["metadata"],
    }


def _encode(records: list[dict[str, Any]], fmt: str, header: bool) -> bytes:
    if fmt == "ndjson":
        return b"".join(orjson.dumps(r) + b"\n" for r in records)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for r in records:
        writer.writerow([
            "" if r[c] is None else (orjson.dumps(r[c]).decode() if c == "metadata" else r[c]) for c in CSV_COLUMNS
        ])
    return buffer.getvalue().encode()


async def export(
    db: Database, query: InteractionQuery, organization_id: UUID, fmt: str, batch: int,
) -> AsyncIterator[bytes]:
    """Every interaction of the filter, oldest first, in chunks of ``batch`` rows: one short transaction per
    keyset page (never OFFSET, never a transaction held for the whole download), so memory stays constant
    and every row that exists throughout the export is sent exactly once."""
    after: tuple[datetime, UUID] | None = None
    first = True
    while True:
        params: Params = {"limit": batch}
        async with db.tenant_tx(organization_id) as conn:
            # Each page must walk the keyset index: a plan that scans a whole partition and sorts it would
            # repeat that for every page of the partition (quadratic over an export).
            await conn.execute("SET LOCAL enable_seqscan = off")
            conds = raw_conditions(query, organization_id, params)
            if after is not None:
                params["after_ts"], params["after_id"] = after
                conds.append(sql.SQL("(i.timestamp, i.id) > (%(after_ts)s, %(after_id)s)"))
            statement = sql.SQL(_SELECT).format(extra=sql.SQL(", i.sentiment_label, i.sentiment_score")) + sql.SQL(
                " WHERE {} ORDER BY i.timestamp, i.id LIMIT %(limit)s").format(where(conds))
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(statement, params)
                rows = await cur.fetchall()
        if rows or first:
            yield _encode([_record(r) for r in rows], fmt, header=first)
        first = False
        if len(rows) < batch:
            return
        after = (rows[-1]["timestamp"], rows[-1]["id"])
