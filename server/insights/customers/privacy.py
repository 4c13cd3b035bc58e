"""GDPR (data portability and the right to erasure). Every call is audited.

Export returns everything stored about one customer: the customer record, every interaction (with
content, metadata and sentiment) and every behaviour pattern. Erasure deletes all of it and the
idempotency keys that point at their interactions in one transaction (audited in the same
transaction), then removes the customer's entries from the organization's event stream and every
Redis key that holds the customer's data (``RedisKeys.customer_key_patterns``), and bumps the
organization's cache generation so that cached aggregates computed with the customer are never served.
Cached model predictions of the customer's texts go too: the prediction cache is keyed by the
organization and the text's hash (any model version), so the erased texts' entries are found by hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import redis.asyncio as aioredis
from psycopg.rows import tuple_row

from insights.context import CallContext
from insights.customers.models import BehaviorPattern, Customer, Interaction
from insights.customers.repository import customer_interactions, customer_patterns, resolve_customer
from insights.events.publisher import EventPublisher
from insights.inference.text import normalize_text
from insights.infra.audit import AuditLog
from insights.infra.db import Database
from insights.infra.logging import get_logger
from insights.infra.redis import Redis, RedisUnavailable

log = get_logger(__name__)


_FORGET_IN_BATCHES = """
WITH hit AS (
  SELECT batch_key, interaction_ids FROM ingest_batch_idempotency
  WHERE organization_id = %(org)s AND interaction_ids && %(erased)s::uuid[]
  FOR UPDATE
)
UPDATE ingest_batch_idempotency b
SET interaction_ids = ARRAY(
  SELECT CASE WHEN x = ANY(%(erased)s::uuid[]) THEN NULL ELSE x END
  FROM unnest(hit.interaction_ids) WITH ORDINALITY AS u(x, n) ORDER BY n)
FROM hit
WHERE b.organization_id = %(org)s AND b.batch_key = hit.batch_key
RETURNING (SELECT count(*) FROM unnest(hit.interaction_ids) AS x WHERE x = ANY(%(erased)s::uuid[]))
"""


@dataclass(frozen=True)
class CustomerExport:
    customer: Customer
    interactions: list[Interaction]
    patterns: list[BehaviorPattern]


@dataclass(frozen=True)
class Erasure:
    customer_id: UUID
    interactions_deleted: int
    patterns_deleted: int
    keys_deleted: int
    events_deleted: int
    caches_purged: bool


class PrivacyService:
    def __init__(self, db: Database, redis: Redis, events: EventPublisher, audit: AuditLog) -> None:
        self._db = db
        self._redis = redis
        self._events = events
        self._audit = audit

    async def export_customer(self, ctx: CallContext, ref: str) -> CustomerExport:
        organization_id = ctx.require_principal().organization_id
        async with self._db.tenant_tx(organization_id) as conn:
            customer = await resolve_customer(conn, ref)
            interactions = await customer_interactions(conn, customer.id)
            patterns = await customer_patterns(conn, customer.id)
            await self._audit.record(
                ctx, "customer.exported", conn=conn, resource_type="customer", resource_id=customer.id,
                details={"interactions": len(interactions), "patterns": len(patterns)},
            )
        return CustomerExport(customer, interactions, patterns)

    async def erase_customer(self, ctx: CallContext, ref: str) -> Erasure:
        organization_id = ctx.require_principal().organization_id
        async with self._db.tenant_tx(organization_id) as conn:
            # Locking the customer first makes a concurrent ingestion for them wait, then recreate
            # them afresh instead of writing into what is being erased.
            customer_id = (await resolve_customer(conn, ref, for_update=True)).id
            async with conn.cursor(row_factory=tuple_row) as cur:
                await cur.execute("DELETE FROM customer_interactions WHERE customer_id = %s RETURNING id, content",
                                  (customer_id,))
                erased = await cur.fetchall()
            erased_ids = [row[0] for row in erased]
            texts = {normalize_text(row[1]) for row in erased if row[1]}
            keys = await conn.execute(
                "DELETE FROM ingest_idempotency WHERE organization_id = %s AND interaction_id = ANY(%s)",
                (organization_id, erased_ids),
            )
            # Batch keys forget the erased items (NULL at their index), as if they had never been stored.
            async with conn.cursor(row_factory=tuple_row) as cur:
                await cur.execute(_FORGET_IN_BATCHES, {"org": organization_id, "erased": erased_ids})
                batch_entries = sum(row[0] for row in await cur.fetchall())
            patterns = await conn.execute("DELETE FROM behavior_patterns WHERE customer_id = %s", (customer_id,))
            await conn.execute("DELETE FROM customers WHERE id = %s", (customer_id,))
            counts: dict[str, Any] = {
                "interactions": len(erased_ids), "patterns": patterns.rowcount,
                "idempotencyKeys": keys.rowcount + batch_entries,
            }
            await self._audit.record(
                ctx, "customer.erased", conn=conn, resource_type="customer", resource_id=customer_id, details=counts
            )
        events_deleted, purged = await self._purge_redis(organization_id, customer_id, texts)
        return Erasure(customer_id, len(erased_ids), patterns.rowcount, keys.rowcount, events_deleted, purged)

    async def _purge_redis(self, organization_id: UUID, customer_id: UUID, texts: set[str]) -> tuple[int, bool]:
        """Best effort after the commit: the database no longer has the customer either way."""

        keys = self._redis.keys
        text_hashes = {keys.text_hash(t) for t in texts if t}

        async def purge(client: aioredis.Redis) -> None:
            # Cached read-side answers ("q:") may hold the customer's interactions in any list or page: they
            # all go, not only the keys that name the customer.
            patterns = [*keys.customer_key_patterns(organization_id, customer_id),
                        f"{keys.cache_prefix(organization_id)}q:*"]
            doomed = sorted({key for pattern in patterns async for key in client.scan_iter(match=pattern)})
            if text_hashes:  # one SCAN over the organization's predictions, whatever the model version
                doomed += [
                    key async for key in client.scan_iter(match=keys.predictions_of(organization_id), count=1000)
                    if key.rsplit(":", 1)[-1] in text_hashes
                ]
            if doomed:
                await client.delete(*doomed)
            await client.incr(keys.cache_generation(organization_id))

        try:
            events = await self._events.forget(organization_id, customer_id=str(customer_id))
            await self._redis.run(purge)
        except RedisUnavailable:
            log.warning("privacy.cache_purge_skipped", customer_id=str(customer_id))
            return 0, False
        return events, True
