"""The one transaction that stores interactions, one event or a batch.

Everything that belongs together commits together, so a failure anywhere leaves nothing half-done:

1. idempotency keys are claimed, per event or per batch (a retried event maps to the interaction
   stored the first time);
2. customers are resolved or created, enriched, and their counters updated (one upsert);
3. interactions are written (COPY for batches), with ``processed_at`` NULL: the row *is* the
   pending analysis job, so "stored" and "queued" cannot disagree.

Lock order (shared with the analysis worker and erasure, so that none of them can deadlock): customer
rows first, in ascending ``external_id`` order, then interaction rows, then the rollup rows that the
interactions' statement triggers upsert (in key order; db/migrations/0010).
After the commit, ``interaction.created`` events go to the organization's stream (best effort).
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import tuple_row

from insights.events.publisher import EventPublisher
from insights.events.types import INTERACTION_CREATED, NewEvent
from insights.infra.db import Conn, Database
from insights.ingestion.enrich import Enrichment, enrich
from insights.ingestion.validation import ValidInteraction


@dataclass(frozen=True)
class Stored:
    """What became of one valid item: its interaction, and whether the key had stored it before."""

    interaction_id: UUID
    duplicate: bool


@dataclass
class _Customer:
    external_id: str
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    segment: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)
    latest: datetime | None = None


@dataclass(frozen=True)
class BatchKey:
    """A batch's idempotency key and the slice of item indexes it covers."""

    key: str
    offset: int
    size: int


Invalidate = Callable[[UUID], Awaitable[object]]
"""Marks an organization's cached read-side answers stale (after a commit)."""


class InteractionStore:
    def __init__(self, db: Database, events: EventPublisher, invalidate: Invalidate | None = None) -> None:
        self._db = db
        self._events = events
        self._invalidate = invalidate

    async def store(
        self, organization_id: UUID, items: list[tuple[int, ValidInteraction]], batch: BatchKey | None = None,
    ) -> dict[int, Stored]:
        """Stores the items that are not duplicates; maps each index to what became of it.

        Items that share an idempotency key must carry the same event (the service rejects the others
        before they get here): the later ones are answered as duplicates of the first."""
        new_ids = dict(zip((index for index, _ in items), _new_ids(len(items)), strict=True))
        out: dict[int, Stored] = {}
        customer_ids: dict[int, UUID] = {}
        external_ids: dict[UUID, str] = {}
        async with self._db.tenant_tx(organization_id) as conn:
            duplicates = await self._claim_keys(conn, organization_id, items, new_ids)
            if batch is not None:
                keyless = {index: new_ids[index] for index, v in items if v.idempotency_key is None}
                duplicates.update(await self._claim_batch(conn, organization_id, batch, keyless))
            out.update({index: Stored(existing, True) for index, existing in duplicates.items()})
            fresh = [(index, v) for index, v in items if index not in duplicates]
            if fresh:
                enrichments = {index: enrich(v.metadata) for index, v in fresh}
                customer_ids, external_ids, segments = await self._upsert_customers(
                    conn, organization_id, fresh, enrichments
                )
                # The segment at the time of the interaction: the event's own, else the customer's.
                rows = [
                    (new_ids[index], customer_ids[index], organization_id, v.timestamp, v.channel, v.event_type,
                     v.content, _stored_metadata(v, enrichments[index]),
                     enrichments[index].segment or segments[customer_ids[index]])
                    for index, v in fresh
                ]
                await self._insert_interactions(conn, rows)
                out.update({index: Stored(new_ids[index], False) for index, _ in fresh})
        if fresh and self._invalidate is not None:
            await self._invalidate(organization_id)  # before answering: a read after this write sees it
        if fresh:
            customer_text = {customer: str(customer) for customer in set(customer_ids.values())}
            self._events.publish_soon(
                organization_id,
                [
                    NewEvent(INTERACTION_CREATED, new_ids[index], customer_text[customer_ids[index]], v.channel,
                             _created_payload(v),
                             external_ids[customer_ids[index]])
                    for index, v in fresh
                ],
            )
        return out

    async def _claim_keys(
        self, conn: Conn, organization_id: UUID, items: list[tuple[int, ValidInteraction]], new_ids: dict[int, UUID]
    ) -> dict[int, UUID]:
        """Claims the items' idempotency keys; returns the items that are duplicates, with the
        interaction stored under their key. A concurrent claim of the same key waits for the other
        transaction (unique index) and then sees its outcome."""
        owner: dict[str, int] = {}
        repeats: list[tuple[int, str]] = []
        for index, v in items:
            if v.idempotency_key is None:
                continue
            if v.idempotency_key in owner:
                repeats.append((index, v.idempotency_key))  # the same key twice in one batch
            else:
                owner[v.idempotency_key] = index
        if not owner:
            return {}
        keys = sorted(owner)  # one lock order for every transaction: no deadlocks between batches
        mine = [new_ids[owner[k]] for k in keys]
        cur = await conn.execute(
            """
            INSERT INTO ingest_idempotency (organization_id, idempotency_key, interaction_id)
            SELECT %s, k, i FROM unnest(%b::text[], %b::uuid[]) AS u(k, i)
            ON CONFLICT DO NOTHING
            """,
            (organization_id, keys, mine),
        )
        duplicates: dict[int, UUID] = {}
        if cur.rowcount != len(keys):
            # Some keys were there already (a retry): they name the interaction stored the first time.
            async with conn.cursor(row_factory=tuple_row) as look:
                await look.execute(
                    "SELECT idempotency_key, interaction_id FROM ingest_idempotency"
                    " WHERE organization_id = %s AND idempotency_key = ANY(%s)",
                    (organization_id, keys),
                )
                for key, stored in await look.fetchall():
                    if stored != new_ids[owner[key]]:
                        duplicates[owner[key]] = stored
        for index, key in repeats:
            first = owner[key]
            duplicates[index] = duplicates.get(first, new_ids[first])
        return duplicates

    async def _claim_batch(
        self, conn: Conn, organization_id: UUID, batch: BatchKey, keyless: dict[int, UUID]
    ) -> dict[int, UUID]:
        """Claims a batch key for the items without a key of their own; returns those that a previous
        attempt of the batch stored already (index → that interaction). A concurrent attempt with the
        same key waits for the other transaction (primary key) and then sees its outcome."""
        planned: list[UUID | None] = [None] * batch.size
        for index, interaction_id in keyless.items():
            planned[index - batch.offset] = interaction_id
        claimed = await conn.execute(
            "INSERT INTO ingest_batch_idempotency (organization_id, batch_key, interaction_ids) VALUES (%s, %s, %b)"
            " ON CONFLICT DO NOTHING",
            (organization_id, batch.key, planned),
        )
        if claimed.rowcount == 1:
            return {}
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(
                "SELECT interaction_ids FROM ingest_batch_idempotency WHERE organization_id = %s AND batch_key = %s"
                " FOR UPDATE",
                (organization_id, batch.key),
            )
            row = await cur.fetchone()
        stored: list[UUID | None] = list(row[0]) if row else []
        duplicates = {
            index: earlier for index in keyless
            if (position := index - batch.offset) < len(stored) and (earlier := stored[position]) is not None
        }
        # Items the earlier attempt did not store (rejected then, valid now) are stored now: record them.
        merged = stored + [None] * (len(planned) - len(stored))
        for position, planned_id in enumerate(planned):
            if merged[position] is None:
                merged[position] = planned_id
        if merged != stored:
            await conn.execute(
                "UPDATE ingest_batch_idempotency SET interaction_ids = %b"
                " WHERE organization_id = %s AND batch_key = %s",
                (merged, organization_id, batch.key),
            )
        return duplicates

    async def _upsert_customers(
        self, conn: Conn, organization_id: UUID, items: list[tuple[int, ValidInteraction]],
        enrichments: dict[int, Enrichment],
    ) -> tuple[dict[int, UUID], dict[UUID, str], dict[UUID, str | None]]:
        """Resolves or creates each item's customer and applies its counters: index → customer id,
        customer id → external id, and customer id → their segment after this call."""
        by_uuid = sorted({v.customer_uuid for _, v in items if v.customer_uuid is not None})
        external_of: dict[UUID, str] = {}
        if by_uuid:
            cur = await conn.execute("SELECT id, external_id FROM customers WHERE id = ANY(%s)", (by_uuid,))
            external_of = {row["id"]: row["external_id"] for row in await cur.fetchall()}

        def external(v: ValidInteraction) -> str:
            # Our UUID when it names one of the organization's customers, else their own id.
            return external_of.get(v.customer_uuid, v.customer_ref) if v.customer_uuid else v.customer_ref

        customers: dict[str, _Customer] = {}
        for index, v in items:
            c = customers.setdefault(external(v), _Customer(external(v)))
            c.count += 1
            c.first_seen = min(c.first_seen or v.timestamp, v.timestamp)
            c.last_seen = max(c.last_seen or v.timestamp, v.timestamp)
            enrichment = enrichments[index]
            if c.latest is None or v.timestamp >= c.latest:
                c.latest = v.timestamp
                c.segment = enrichment.segment or c.segment
                if enrichment.device:
                    c.profile["device"] = enrichment.device
                if enrichment.geo:
                    c.profile["geo"] = enrichment.geo
        # Sorted: concurrent batches lock shared customers in the same order (no deadlocks). The arrays go
        # in binary (%b): psycopg dumps them 5-40x faster than as text, which showed in 5,000-event batches.
        ordered = [customers[k] for k in sorted(customers)]
        cur = await conn.execute(
            """
            INSERT INTO customers AS c (organization_id, external_id, segment, metadata, first_seen_at,
                                        last_seen_at, interaction_count)
            SELECT %s, e, s, m::jsonb, f, l, n
            FROM unnest(%b::text[], %b::text[], %b::text[], %b::timestamptz[], %b::timestamptz[], %b::int[])
                 AS u(e, s, m, f, l, n)
            ON CONFLICT (organization_id, external_id) DO UPDATE SET
              segment = COALESCE(EXCLUDED.segment, c.segment),
              metadata = c.metadata || EXCLUDED.metadata,
              first_seen_at = LEAST(c.first_seen_at, EXCLUDED.first_seen_at),
              last_seen_at = GREATEST(c.last_seen_at, EXCLUDED.last_seen_at),
              interaction_count = c.interaction_count + EXCLUDED.interaction_count,
              updated_at = now()
            RETURNING id, external_id, segment
            """,
            (
                organization_id,
                [c.external_id for c in ordered],
                [c.segment for c in ordered],
                [json.dumps(c.profile) for c in ordered],
                [c.first_seen for c in ordered],
                [c.last_seen for c in ordered],
                [c.count for c in ordered],
            ),
        )
        returned = await cur.fetchall()
        ids = {row["external_id"]: row["id"] for row in returned}
        segments = {row["id"]: row["segment"] for row in returned}
        return {index: ids[external(v)] for index, v in items}, {uuid: ext for ext, uuid in ids.items()}, segments

    async def _insert_interactions(self, conn: Conn, rows: list[tuple[Any, ...]]) -> None:
        if len(rows) == 1:
            await conn.execute(
                "INSERT INTO customer_interactions (id, customer_id, organization_id, timestamp, channel,"
                " event_type, content, metadata, segment) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)",
                rows[0],
            )
            return
        # COPY cannot write to a table with row-level security, so it fills a temporary table (no
        # WAL, this connection only) and one INSERT ... SELECT moves the rows under the policy.
        await conn.execute(
            """
            CREATE TEMP TABLE IF NOT EXISTS ingest_buffer (
              id uuid, customer_id uuid, organization_id uuid, timestamp timestamptz, channel text,
              event_type text, content text, metadata text, segment text
            ) ON COMMIT DELETE ROWS
            """
        )
        async with conn.cursor() as cur:
            async with cur.copy(
                "COPY ingest_buffer (id, customer_id, organization_id, timestamp, channel, event_type, content,"
                " metadata, segment) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["uuid", "uuid", "uuid", "timestamptz", "text", "text", "text", "text", "text"])
                for row in rows:
                    await copy.write_row(row)
            await cur.execute(
                "INSERT INTO customer_interactions (id, customer_id, organization_id, timestamp, channel,"
                " event_type, content, metadata, segment)"
                " SELECT id, customer_id, organization_id, timestamp, channel, event_type, content, metadata::jsonb,"
                " segment FROM ingest_buffer"
            )


EVENT_CONTENT_CHARS = 200
"""How much of an interaction's content its ``interaction.created`` event carries (the live feed's
preview); the whole text is one query away."""


def _created_payload(v: ValidInteraction) -> dict[str, Any]:
    payload: dict[str, Any] = {"eventType": v.event_type, "timestamp": v.timestamp.isoformat()}
    if v.content:
        payload["content"] = v.content[:EVENT_CONTENT_CHARS]
    return payload


def _new_ids(count: int) -> list[UUID]:
    """``count`` random (version 4) UUIDs from one read of the OS's random source: ``uuid.uuid4`` makes a
    system call per id, which a 10,000-event batch notices."""
    raw = os.urandom(16 * count)
    return [UUID(bytes=raw[i : i + 16], version=4) for i in range(0, 16 * count, 16)]


def _stored_metadata(v: ValidInteraction, enrichment: Enrichment) -> str:
    """The metadata's JSON text as validated, plus what enrichment derived (no second full dump)."""
    if not (enrichment.segment or enrichment.device or enrichment.geo):
        return v.metadata_json
    extra = '"_enriched":' + enrichment.as_json
    return "{" + extra + "}" if v.metadata_json == "{}" else v.metadata_json[:-1] + "," + extra + "}"

