"""Ingestion: one event, a batch, a continuous stream, and edits of stored interactions.

Every request is validated in one pass that names every bad field at once (``ValidationError``);
bad items of a batch or stream are reported per item while the rest are stored. The storing itself
is ``store.InteractionStore``: one transaction per call (or per stream chunk).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from insights.context import CallContext
from insights.customers.models import Interaction
from insights.customers.repository import RowLocked, fetch_interaction, lock_interaction
from insights.errors import ConflictError, FieldViolation, NotFoundError, ValidationError
from insights.events.publisher import EventPublisher
from insights.events.types import INTERACTION_UPDATED, NewEvent
from insights.infra.db import Database
from insights.ingestion.store import BatchKey, InteractionStore, Invalidate
from insights.ingestion.validation import (
    MAX_IDEMPOTENCY_KEY,
    InteractionInput,
    ValidInteraction,
    check_content,
    check_content_present,
    check_event_type,
    check_metadata,
    validate_interaction,
)
from insights.settings import IngestionSettings

UPDATABLE_FIELDS = {"event_type": "eventType", "content": "content", "metadata": "metadata"}
"""UpdateInteraction's mask paths (proto names) and the JSON names REST clients may send instead."""


@dataclass(frozen=True)
class ItemResult:
    index: int
    interaction_id: UUID | None = None
    duplicate: bool = False
    violations: tuple[FieldViolation, ...] = ()
    conflict: bool = False
    """The item's idempotency key was used for a different event earlier in the same request."""

    @property
    def ok(self) -> bool:
        return self.interaction_id is not None


@dataclass(frozen=True)
class BatchResult:
    results: list[ItemResult]

    @property
    def successful(self) -> int:
        return sum(1 for r in self.results if r.ok)

    @property
    def failed(self) -> int:
        return len(self.results) - self.successful


@dataclass(frozen=True)
class InteractionChanges:
    """UpdateInteraction as received: the new values and the mask (empty: the fields that are set)."""

    interaction_id: str
    version: int
    event_type: str = ""
    content: str = ""
    metadata: Any = None
    """A JSON object, or None when the request carried none."""
    mask: tuple[str, ...] = ()


def _same_event(a: ValidInteraction, b: ValidInteraction) -> bool:
    return (a.customer_ref, a.timestamp, a.channel, a.event_type, a.content, a.metadata_json) == (
        b.customer_ref, b.timestamp, b.channel, b.event_type, b.content, b.metadata_json
    )


class IngestionService:
    def __init__(self, settings: IngestionSettings, db: Database, events: EventPublisher,
                 invalidate: Invalidate | None = None) -> None:
        self._db = db
        self._events = events
        self._invalidate = invalidate
        self._store = InteractionStore(db, events, invalidate)
        self._max_batch = settings.max_batch
        self._max_stream_events = settings.max_stream_events
        self._stream_chunk = settings.stream_chunk
        self._skew = timedelta(seconds=settings.clock_skew_s)
        self._edit_lock_wait_ms = settings.edit_lock_wait_ms

    # --- one, many, a stream -------------------------------------------------------------------

    async def ingest(self, ctx: CallContext, item: InteractionInput) -> ItemResult:
        """One event; raises ``ValidationError`` naming every bad field."""
        valid = validate_interaction(item, now=datetime.now(UTC), clock_skew=self._skew)
        if isinstance(valid, list):
            raise ValidationError(valid)
        stored = (await self._store.store(ctx.require_principal().organization_id, [(0, valid)]))[0]
        return ItemResult(0, stored.interaction_id, stored.duplicate)

    async def ingest_batch(
        self, ctx: CallContext, items: Sequence[InteractionInput], *, idempotency_key: str = "",
    ) -> BatchResult:
        """Up to ``max_batch`` events; results in request order, bad items reported per item.

        With a batch ``idempotency_key`` the batch records which interaction each item without its own
        key became (one row per batch), so a retried batch stores nothing twice."""
        violations = []
        if not items:
            violations.append(FieldViolation("interactions", "must contain at least one interaction"))
        if len(items) > self._max_batch:
            violations.append(FieldViolation("interactions", f"must contain at most {self._max_batch} interactions"))
        if len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            violations.append(FieldViolation("idempotencyKey", f"must be at most {MAX_IDEMPOTENCY_KEY} characters"))
        if violations:
            raise ValidationError(violations)
        organization_id = ctx.require_principal().organization_id
        return await self._ingest_chunk(organization_id, items, 0, idempotency_key)

    async def ingest_stream(self, ctx: CallContext, items: AsyncIterator[InteractionInput]) -> BatchResult:
        """Stores what arrives in chunks (durable as it goes, not only when the client closes). Past
        ``max_stream_events`` each event is answered as rejected: nothing is silently dropped.

        A stream whose next message cannot be read at all (``items`` raises ``ValidationError``: not
        UTF-8, NUL, …) ends with that error, after everything received before it has been stored, so
        the error's index is exactly where a client resumes."""
        organization_id = ctx.require_principal().organization_id
        results: list[ItemResult] = []
        chunk: list[InteractionInput] = []
        received = 0

        async def flush() -> None:
            if chunk:
                batch = await self._ingest_chunk(organization_id, chunk, received - len(chunk))
                results.extend(batch.results)
                chunk.clear()

        iterator = aiter(items)
        while True:
            try:
                item = await anext(iterator)
            except StopAsyncIteration:
                break
            except ValidationError:
                await flush()
                raise
            index = received
            received += 1
            if index >= self._max_stream_events:
                await flush()
                limit = f"a stream carries at most {self._max_stream_events} events; open a new one"
                results.append(ItemResult(index, violations=(FieldViolation(f"interactions[{index}]", limit),)))
                continue
            chunk.append(item)
            if len(chunk) >= self._stream_chunk:
                await flush()
        await flush()
        return BatchResult(results)

    async def _ingest_chunk(
        self, organization_id: UUID, items: Sequence[InteractionInput], index_offset: int, idempotency_key: str = "",
    ) -> BatchResult:
        now = datetime.now(UTC)
        results: dict[int, ItemResult] = {}
        valid: list[tuple[int, ValidInteraction]] = []
        first_with_key: dict[str, ValidInteraction] = {}
        for offset, item in enumerate(items):
            index = index_offset + offset
            prefix = f"interactions[{index}]."
            checked = validate_interaction(item, now=now, clock_skew=self._skew, prefix=prefix)
            if isinstance(checked, list):
                results[index] = ItemResult(index, violations=tuple(checked))
                continue
            key = checked.idempotency_key
            if key is not None:
                first = first_with_key.setdefault(key, checked)
                if first is not checked and not _same_event(first, checked):
                    # A retry of an event is the same event; one key for two events is a client bug, and
                    # storing either silently would lose the other.
                    conflict = FieldViolation(
                        f"{prefix}idempotencyKey", "was used for a different event in this request"
                    )
                    results[index] = ItemResult(index, violations=(conflict,), conflict=True)
                    continue
            valid.append((index, checked))
        if valid:
            batch = BatchKey(idempotency_key, index_offset, len(items)) if idempotency_key else None
            stored = await self._store.store(organization_id, valid, batch)
            for index, _ in valid:
                results[index] = ItemResult(index, stored[index].interaction_id, stored[index].duplicate)
        return BatchResult([results[index_offset + i] for i in range(len(items))])

    # --- edits -----------------------------------------------------------------------------------

    async def update_interaction(self, ctx: CallContext, changes: InteractionChanges) -> Interaction:
        """Optimistic concurrency: ``version`` must be the current one, else ``ConflictError`` (409)
        whose metadata carries ``currentVersion``. Changed content is analysed again."""
        organization_id = ctx.require_principal().organization_id
        violations: list[FieldViolation] = []
        paths, unknown = self._mask_paths(changes)
        violations += [FieldViolation("updateMask", f"unknown field {path!r}") for path in unknown]
        target: UUID | None = None
        try:
            target = UUID(changes.interaction_id)
        except ValueError:
            violations.append(FieldViolation("id", "must be a UUID"))
        if changes.version < 1:
            violations.append(FieldViolation("version", "is required: the version you last read"))
        if "event_type" in paths:
            violations += check_event_type(changes.event_type, "eventType")
        metadata: dict[str, Any] | None = None
        if "metadata" in paths:
            metadata, _, bad = check_metadata(changes.metadata if changes.metadata is not None else {}, "metadata")
            violations += bad
        if not paths and not unknown:
            violations.append(FieldViolation("updateMask", "names nothing to change"))
        content = changes.content if "content" in paths else None
        if content is not None:
            violations += check_content(content, "content")

        async with self._db.tenant_tx(organization_id) as conn:
            try:
                current = (await lock_interaction(conn, target, wait_ms=self._edit_lock_wait_ms)
                           if target is not None else None)
            except RowLocked:
                # Another edit (or the worker's write-back) holds the row: whatever it commits makes this
                # request's version stale, so answer now, as a conflict, rather than queue.
                assert target is not None
                now = await fetch_interaction(conn, target)
                raise ConflictError(
                    "Record is being modified by another request",
                    metadata={"currentVersion": str(now.version), "interactionId": str(now.id)} if now else {},
                ) from None
            if content is not None and current is not None:
                # The one rule that needs the stored row: may content be empty on its channel?
                violations += check_content_present(content, current.channel, "content")
            if violations:
                raise ValidationError(violations)
            if current is None:
                raise NotFoundError("Interaction not found")
            if current.version != changes.version:
                raise ConflictError(
                    "Record was modified by another request",
                    metadata={"currentVersion": str(current.version), "interactionId": str(current.id)},
                )
            await conn.execute(
                """
                UPDATE customer_interactions SET
                  event_type = COALESCE(%(event_type)s, event_type),
                  content = CASE WHEN %(content_set)s THEN %(content)s ELSE content END,
                  metadata = COALESCE(%(metadata)s::jsonb, metadata),
                  -- new text, new analysis: the row becomes a pending job again, free to be claimed
                  sentiment = CASE WHEN %(content_set)s THEN NULL ELSE sentiment END,
                  sentiment_confidence = CASE WHEN %(content_set)s THEN NULL ELSE sentiment_confidence END,
                  processed_at = CASE WHEN %(content_set)s THEN NULL ELSE processed_at END,
                  claimed_until = CASE WHEN %(content_set)s THEN NULL ELSE claimed_until END,
                  version = version + 1
                WHERE id = %(id)s AND timestamp = %(ts)s
                """,
                {
                    "event_type": changes.event_type if "event_type" in paths else None,
                    "content_set": content is not None,
                    "content": content or None,
                    "metadata": json.dumps(metadata) if metadata is not None else None,
                    "id": current.id,
                    "ts": current.timestamp,
                },
            )
            updated = await fetch_interaction(conn, current.id)
        assert updated is not None
        if self._invalidate is not None:
            await self._invalidate(organization_id)
        await self._events.publish(organization_id, NewEvent(
            INTERACTION_UPDATED, updated.id, updated.customer_id, updated.channel,
            {"version": updated.version, "eventType": updated.event_type}, updated.external_customer_id,
        ))
        return updated

    @staticmethod
    def _mask_paths(changes: InteractionChanges) -> tuple[set[str], list[str]]:
        """The fields to change (proto names), and the mask entries that name no updatable field. An
        empty mask means "the fields that are set"; entries may be proto or JSON style names."""
        if not changes.mask:
            paths = {
                name for name, present in (
                    ("event_type", bool(changes.event_type)), ("content", bool(changes.content)),
                    ("metadata", changes.metadata is not None),
                ) if present
            }
            return paths, []
        by_any_name = {**{json_name: name for name, json_name in UPDATABLE_FIELDS.items()},
                       **{name: name for name in UPDATABLE_FIELDS}}
        paths = {by_any_name[p] for p in changes.mask if p in by_any_name}
        return paths, [p for p in changes.mask if p not in by_any_name]
