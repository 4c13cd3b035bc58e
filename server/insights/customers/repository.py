"""The one place that reads customers, interactions and patterns from SQL into typed objects.

Row factories (``kwargs_row``) build the domain objects directly from the cursor, so a renamed
column fails here, in one function, and mypy checks everything downstream.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import kwargs_row

from insights.customers.models import BehaviorPattern, Customer, Interaction, StoredSentiment
from insights.errors import NotFoundError, ValidationError
from insights.infra.db import Conn

INTERACTION_SELECT = """
SELECT i.id, i.customer_id, c.external_id AS external_customer_id, i.timestamp, i.channel, i.event_type,
       i.content, i.metadata, i.sentiment, i.sentiment_confidence, i.processed_at, i.created_at, i.version,
       i.segment
FROM customer_interactions i JOIN customers c ON c.id = i.customer_id
"""

CUSTOMER_COLUMNS = """
id, organization_id, external_id, email, first_name, last_name, segment, metadata, first_seen_at, last_seen_at,
interaction_count, average_sentiment, created_at, updated_at
"""

PATTERN_COLUMNS = """
id, customer_id, pattern_type, confidence, frequency, coalesce(description, '') AS description, metadata, evidence,
detected_at, valid_until
"""


def _interaction(
    *, id: UUID, customer_id: UUID, external_customer_id: str, timestamp: datetime, channel: str, event_type: str,
    content: str | None, metadata: dict[str, Any], sentiment: Any, sentiment_confidence: Decimal | None,
    processed_at: datetime | None, created_at: datetime, version: int, segment: str | None,
) -> Interaction:
    return Interaction(
        id=id, customer_id=customer_id, external_customer_id=external_customer_id, timestamp=timestamp,
        channel=channel, event_type=event_type, content=content, metadata=metadata,
        sentiment=StoredSentiment.from_json(sentiment, sentiment_confidence), processed_at=processed_at,
        created_at=created_at, version=version, segment=segment,
    )


def _customer(*, average_sentiment: Decimal | None, pattern_types: list[str] | None = None, **row: Any) -> Customer:
    return Customer(
        **row, average_sentiment=float(average_sentiment) if average_sentiment is not None else None,
        pattern_types=tuple(pattern_types or ()),
    )


def _pattern(*, confidence: Decimal, **row: Any) -> BehaviorPattern:
    return BehaviorPattern(**row, confidence=float(confidence))


def _id(*, id: UUID) -> UUID:
    return id


build_interaction = _interaction
"""An Interaction from the columns of ``INTERACTION_SELECT`` (for queries that select more)."""
build_customer = _customer
interaction_row = kwargs_row(_interaction)
customer_row = kwargs_row(_customer)
pattern_row = kwargs_row(_pattern)


async def fetch_interaction(conn: Conn, interaction_id: UUID, *, for_update: bool = False) -> Interaction | None:
    lock = " FOR UPDATE OF i" if for_update else ""
    async with conn.cursor(row_factory=interaction_row) as cur:
        await cur.execute(f"{INTERACTION_SELECT} WHERE i.id = %s{lock}", (interaction_id,))
        return await cur.fetchone()


class RowLocked(Exception):
    """Another transaction held the row for longer than the caller was willing to wait."""


async def lock_interaction(conn: Conn, interaction_id: UUID, *, wait_ms: int) -> Interaction | None:
    """The interaction, locked for an edit, waiting at most ``wait_ms`` for another transaction's lock
    (else ``RowLocked``; the caller's transaction stays usable). Without the bound, edits of one busy row
    queue for up to the statement timeout, each holding a pooled connection and an in-flight request."""
    await conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{wait_ms}ms",))
    try:
        async with conn.transaction():  # a savepoint: a lock timeout rolls back only this
            return await fetch_interaction(conn, interaction_id, for_update=True)
    except psycopg.errors.LockNotAvailable:
        raise RowLocked from None


async def customer_interactions(conn: Conn, customer_id: UUID) -> list[Interaction]:
    async with conn.cursor(row_factory=interaction_row) as cur:
        await cur.execute(f"{INTERACTION_SELECT} WHERE i.customer_id = %s ORDER BY i.timestamp, i.id", (customer_id,))
        return await cur.fetchall()


async def customer_patterns(conn: Conn, customer_id: UUID) -> list[BehaviorPattern]:
    async with conn.cursor(row_factory=pattern_row) as cur:
        await cur.execute(
            f"SELECT {PATTERN_COLUMNS} FROM behavior_patterns WHERE customer_id = %s ORDER BY detected_at, id",
            (customer_id,),
        )
        return await cur.fetchall()


def _as_uuid(ref: str) -> UUID | None:
    try:
        return UUID(ref)
    except ValueError:
        return None


async def find_customer_id(conn: Conn, ref: str) -> UUID | None:
    """Our UUID for a reference that is our UUID or the organization's external id; None if unknown."""
    uuid = _as_uuid(ref)
    async with conn.cursor(row_factory=kwargs_row(_id)) as cur:
        if uuid is not None:
            await cur.execute("SELECT id FROM customers WHERE id = %s", (uuid,))
            found: UUID | None = await cur.fetchone()
            if found is not None:
                return found
        await cur.execute("SELECT id FROM customers WHERE external_id = %s", (ref,))
        return await cur.fetchone()


async def resolve_customer(conn: Conn, ref: str, *, for_update: bool = False) -> Customer:
    """A customer by our UUID or by the organization's own id (within the transaction's tenant).

    Raises ``ValidationError`` for an empty reference and ``NotFoundError`` for an unknown one."""
    ref = ref.strip()
    if not ref:
        raise ValidationError.single("id", "is required")
    lock = " FOR UPDATE" if for_update else ""
    uuid = _as_uuid(ref)
    async with conn.cursor(row_factory=customer_row) as cur:
        if uuid is not None:
            await cur.execute(f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = %s{lock}", (uuid,))
            customer = await cur.fetchone()
            if customer is not None:
                return customer
        await cur.execute(f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE external_id = %s{lock}", (ref,))
        customer = await cur.fetchone()
    if customer is None:
        raise NotFoundError("Customer not found")
    return customer
