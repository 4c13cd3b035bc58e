"""The read side's core: every question runs in the caller's tenant transaction (row-level security).

Transport-agnostic: takes typed requests (``RawFilter``, ``PageRequest``, ...), returns the typed answers
of ``query.models``. Caching is the boundary's business (``query.cache``): it stores serialized answers.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from insights.context import CallContext
from insights.customers.models import BehaviorPattern
from insights.customers.repository import find_customer_id, resolve_customer
from insights.errors import ValidationError
from insights.infra.db import Conn, Database
from insights.query import analytics, customers, interactions
from insights.query.filters import InteractionQuery, RawFilter, parse_filter, parse_zone, split_list
from insights.query.interactions import PageRequest
from insights.query.models import CustomerPage, CustomerProfile, Heatmap, InteractionPage, Metrics, Trends
from insights.query.rollups import Counts
from insights.settings import QuerySettings

_ZONE_TTL_S = 60.0
EXPORT_FORMATS = ("ndjson", "csv")


class QueryService:
    def __init__(self, settings: QuerySettings, db: Database) -> None:
        self._settings = settings
        self._db = db
        self._zones: dict[UUID, tuple[float, str]] = {}

    # --- shared -----------------------------------------------------------------------------------

    @asynccontextmanager
    async def _read(self, organization_id: UUID) -> AsyncIterator[Conn]:
        """A tenant transaction with the read side's work_mem (rollup aggregations sort in memory)."""
        async with self._db.tenant_tx(organization_id, work_mem_mb=self._settings.work_mem_mb) as conn:
            yield conn

    async def organization_zone(self, organization_id: UUID) -> str:
        """The organization's time zone (cached in process for a minute: it changes rarely)."""
        cached = self._zones.get(organization_id)
        if cached is not None and time.monotonic() - cached[0] < _ZONE_TTL_S:
            return cached[1]
        async with self._read(organization_id) as conn:
            cur = await conn.execute("SELECT time_zone FROM organizations WHERE id = %s", (organization_id,))
            row = await cur.fetchone()
        zone = str(row["time_zone"]) if row else self._settings.default_time_zone
        self._zones[organization_id] = (time.monotonic(), zone)
        return zone

    async def parse(self, ctx: CallContext, raw: RawFilter, extra_violations: list[Any] | None = None
                    ) -> InteractionQuery:
        """The validated filter (needs the organization's zone for defaults); raises naming every bad field."""
        organization_id = ctx.require_principal().organization_id
        zone = await self.organization_zone(organization_id)
        return parse_filter(raw, organization_zone=zone, now=datetime.now(UTC), settings=self._settings,
                            violations=list(extra_violations or []))

    async def _resolve(self, conn: Conn, query: InteractionQuery) -> InteractionQuery:
        if not query.customer:
            return query
        return replace(query, customer_id=await find_customer_id(conn, query.customer))

    async def _resolved(self, organization_id: UUID, query: InteractionQuery) -> InteractionQuery:
        """``_resolve`` in a transaction of its own, opened only when there is a customer to look up (for
        the calls whose statements then run side by side, each in its own transaction)."""
        if not query.customer:
            return query
        async with self._read(organization_id) as conn:
            return await self._resolve(conn, query)

    def _zone(self, name: str) -> ZoneInfo:
        return parse_zone(name)

    # --- interactions ---------------------------------------------------------------------------

    async def list_interactions(self, ctx: CallContext, query: InteractionQuery, page: PageRequest
                                ) -> InteractionPage:
        organization_id = ctx.require_principal().organization_id
        zone = self._zone(await self.organization_zone(organization_id))
        resolved = await self._resolved(organization_id, query)
        return await interactions.list_page(lambda: self._read(organization_id), resolved, organization_id, page,
                                            self._settings, zone)

    async def export(self, ctx: CallContext, query: InteractionQuery, fmt: str) -> AsyncIterator[bytes]:
        fmt = fmt or "ndjson"
        if fmt not in EXPORT_FORMATS:
            raise ValidationError.single("format", f"must be one of {', '.join(EXPORT_FORMATS)}")
        organization_id = ctx.require_principal().organization_id
        async with self._read(organization_id) as conn:
            resolved = await self._resolve(conn, query)
        if resolved.customer and resolved.customer_id is None:
            return _empty(fmt)
        return interactions.export(self._db, resolved, organization_id, fmt, self._settings.export_batch)

    # --- analytics ------------------------------------------------------------------------------

    async def trends(self, ctx: CallContext, query: InteractionQuery, *, group_by: str = "", breakdown: str = "",
                     limit: int = 0, compare: bool = False) -> Trends:
        grain, dimension, top = analytics.parse_trend_options(group_by, breakdown, limit, query, self._settings)
        organization_id = ctx.require_principal().organization_id
        zone = self._zone(await self.organization_zone(organization_id))
        async with self._read(organization_id) as conn:
            resolved = await self._resolve(conn, query)
            return await analytics.trends(conn, resolved, organization_id, zone, grain, dimension, top, compare)

    async def metrics(self, ctx: CallContext, query: InteractionQuery, *, top_event_types: int = 0) -> Metrics:
        organization_id = ctx.require_principal().organization_id
        zone = self._zone(await self.organization_zone(organization_id))
        resolved = await self._resolved(organization_id, query)

        async def totals_of(c: Conn, q: InteractionQuery) -> tuple[Counts, bool]:
            return await interactions.totals(c, q, organization_id, self._settings, zone)

        # Its statements take their own transactions (some side by side): no connection is held meanwhile.
        return await analytics.metrics(lambda: self._read(organization_id), resolved, organization_id, zone,
                                       top_event_types, self._settings, totals_of)

    async def heatmap(self, ctx: CallContext, query: InteractionQuery) -> Heatmap:
        organization_id = ctx.require_principal().organization_id
        async with self._read(organization_id) as conn:
            resolved = await self._resolve(conn, query)
            return await analytics.heatmap(conn, resolved, organization_id, self._settings)

    # --- customers and patterns -------------------------------------------------------------------

    async def list_customers(self, ctx: CallContext, f: customers.CustomerFilter) -> CustomerPage:
        async with self._read(ctx.require_principal().organization_id) as conn:
            return await customers.list_customers(conn, f, self._settings)

    async def customer(self, ctx: CallContext, ref: str) -> CustomerProfile:
        async with self._read(ctx.require_principal().organization_id) as conn:
            return await customers.profile(conn, ref)

    async def customer_id(self, ctx: CallContext, ref: str) -> UUID:
        """Our UUID for a reference (cache keys name the customer by it, so that erasure finds them)."""
        async with self._read(ctx.require_principal().organization_id) as conn:
            return (await resolve_customer(conn, ref)).id

    async def patterns(self, ctx: CallContext, ref: str, types: list[str], include_expired: bool
                       ) -> list[BehaviorPattern]:
        if not ref.strip():
            raise ValidationError.single("customerId", "is required")
        async with self._read(ctx.require_principal().organization_id) as conn:
            customer = await resolve_customer(conn, ref)
            return await customers.current_patterns(conn, customer.id, tuple(sorted(set(split_list(types)))),
                                                    include_expired)


async def _empty(fmt: str) -> AsyncIterator[bytes]:
    yield (",".join(interactions.CSV_COLUMNS) + "\r\n").encode() if fmt == "csv" else b""
