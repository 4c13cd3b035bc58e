"""Every rule an interaction event must pass before anything is stored (docs/rules.md, "Interactions"),
reported per field with the names REST clients use.

Pure functions of the input and the current time: no I/O, so they are property-tested directly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import orjson

from insights.errors import FieldViolation

CHANNELS = frozenset({"web", "mobile", "email", "chat", "phone"})
TEXT_CHANNELS = frozenset({"email", "chat", "phone"})
"""Channels whose events are messages: content is required (and is what gets analysed)."""

MAX_CUSTOMER_ID = 255
MAX_EVENT_TYPE = 100
MAX_CONTENT = 10_000
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_DEPTH = 8
MAX_IDEMPOTENCY_KEY = 200
OLDEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
"""Older timestamps are almost always a unit or default-value mistake (epoch 0)."""

# Control characters break logs and CSV exports; NUL cannot be stored in PostgreSQL text or jsonb.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Cheap pre-check so that the common case (an external id) never pays for a raised ValueError.
_UUIDISH = re.compile(r"^(urn:uuid:)?\{?[0-9A-Fa-f-]{32,36}\}?$")
_EVENT_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:/-]*$")


@dataclass
class InteractionInput:
    """An event as received (from any transport), before validation. Absent fields are empty."""

    customer_id: str = ""
    timestamp: datetime | None = None
    channel: str = ""
    event_type: str = ""
    content: str = ""
    metadata: Any = None
    """Must be a JSON object; None means absent (stored as {})."""
    idempotency_key: str = ""


@dataclass(slots=True)
class ValidInteraction:
    customer_ref: str
    """The organization's external id, or our customer UUID (``customer_uuid`` set then)."""
    customer_uuid: UUID | None
    timestamp: datetime
    channel: str
    event_type: str
    content: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    metadata_json: str = "{}"
    """``metadata`` serialized, as validated (and stored)."""
    idempotency_key: str | None = None


def _leaves(value: Any) -> Iterator[Any]:
    """Every key and scalar of a JSON value, depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _has_nul(value: Any) -> bool:
    return any(isinstance(leaf, str) and "\x00" in leaf for leaf in _leaves(value))


def _has_non_finite(value: Any) -> bool:
    return any(isinstance(leaf, float) and not math.isfinite(leaf) for leaf in _leaves(value))


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def check_metadata(metadata: Any, name: str) -> tuple[dict[str, Any], str, list[FieldViolation]]:
    """The metadata, its JSON text (what is stored), and the violations. One serialization (orjson:
    compact, UTF-8, twenty times the standard library's speed) checks the type, NUL characters and size
    at once; orjson writes NaN and infinities as null, so a null in the text prompts a finiteness check."""
    if metadata is None:
        return {}, "{}", []
    if not isinstance(metadata, dict) or not all(isinstance(k, str) for k in metadata):
        return {}, "{}", [FieldViolation(name, "must be a JSON object")]
    try:
        encoded = orjson.dumps(metadata)
    except TypeError:
        return {}, "{}", [FieldViolation(name, "must be a JSON object")]
    if b"null" in encoded and _has_non_finite(metadata):
        return {}, "{}", [FieldViolation(name, "numbers must be finite")]
    size = len(encoded)
    text = encoded.decode()
    if size > MAX_METADATA_BYTES:
        return {}, "{}", [FieldViolation(name, f"must be at most {MAX_METADATA_BYTES} bytes as JSON (got {size})")]
    if "\\u0000" in text and _has_nul(metadata):
        return {}, "{}", [FieldViolation(name, "must not contain NUL characters")]
    if text.count("{") + text.count("[") > MAX_METADATA_DEPTH and _depth(metadata) > MAX_METADATA_DEPTH:
        return {}, "{}", [FieldViolation(name, f"must be nested at most {MAX_METADATA_DEPTH} levels deep")]
    return metadata, text, []


def check_event_type(value: str, name: str) -> list[FieldViolation]:
    if not value.strip():
        return [FieldViolation(name, "is required")]
    if len(value) > MAX_EVENT_TYPE:
        return [FieldViolation(name, f"must be at most {MAX_EVENT_TYPE} characters")]
    if not _EVENT_TYPE.fullmatch(value):  # not match(): "$" also matches before a final newline
        return [FieldViolation(name, "may contain only letters, digits, spaces and _ . : / - (e.g. page_view)")]
    return []


def check_content(value: str, name: str) -> list[FieldViolation]:
    """The rules every content obeys, whatever the channel."""
    if len(value) > MAX_CONTENT:
        return [FieldViolation(name, f"must be at most {MAX_CONTENT} characters")]
    if "\x00" in value:
        return [FieldViolation(name, "must not contain NUL characters")]
    return []


def check_content_present(value: str, channel: str, name: str) -> list[FieldViolation]:
    """Messages (text channels) must have content: it is what gets analysed."""
    if channel in TEXT_CHANNELS and not value.strip():
        return [FieldViolation(name, f"is required on the {channel} channel")]
    return []


def validate_interaction(
    item: InteractionInput, *, now: datetime, clock_skew: timedelta, prefix: str = ""
) -> ValidInteraction | list[FieldViolation]:
    """The valid event, or every violation found (never just the first)."""

    def name(f: str) -> str:
        return f"{prefix}{f}"

    violations: list[FieldViolation] = []

    customer = item.customer_id.strip()
    customer_uuid: UUID | None = None
    if not customer:
        violations.append(FieldViolation(name("customerId"), "is required"))
    elif len(customer) > MAX_CUSTOMER_ID:
        violations.append(FieldViolation(name("customerId"), f"must be at most {MAX_CUSTOMER_ID} characters"))
    elif _CONTROL.search(customer):
        violations.append(FieldViolation(name("customerId"), "must not contain control characters"))
    else:
        if _UUIDISH.match(customer):
            try:
                customer_uuid = UUID(customer)
            except ValueError:
                customer_uuid = None  # an external id of the organization's own

    ts = item.timestamp
    if ts is None:
        violations.append(FieldViolation(name("timestamp"), "is required"))
    else:
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        if ts > now + clock_skew:
            violations.append(FieldViolation(name("timestamp"), "must not be in the future"))
        elif ts < OLDEST_TIMESTAMP:
            violations.append(FieldViolation(name("timestamp"), "must not be before 2000-01-01"))

    channel = item.channel
    if not channel:
        violations.append(FieldViolation(name("channel"), "is required"))
    elif channel not in CHANNELS:
        violations.append(FieldViolation(name("channel"), f"must be one of {', '.join(sorted(CHANNELS))}"))

    violations += check_event_type(item.event_type, name("eventType"))
    content = name("content")
    violations += check_content_present(item.content, channel, content) or check_content(item.content, content)
    metadata, metadata_json, metadata_violations = check_metadata(item.metadata, name("metadata"))
    violations += metadata_violations

    key = item.idempotency_key
    if len(key) > MAX_IDEMPOTENCY_KEY:
        violations.append(FieldViolation(name("idempotencyKey"), f"must be at most {MAX_IDEMPOTENCY_KEY} characters"))
    elif _CONTROL.search(key):
        violations.append(FieldViolation(name("idempotencyKey"), "must not contain control characters"))

    if violations:
        return violations
    assert ts is not None
    return ValidInteraction(
        customer_ref=customer,
        customer_uuid=customer_uuid,
        timestamp=ts,
        channel=channel,
        event_type=item.event_type,
        content=item.content or None,
        metadata=metadata,
        metadata_json=metadata_json,
        idempotency_key=key or None,
    )
