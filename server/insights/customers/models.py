"""Typed, frozen domain objects of customer data. Repositories build them from rows; converters map
them to protobuf. Nothing outside a repository sees a database row."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

SENTIMENT_LABELS: tuple[str, str, str] = ("negative", "neutral", "positive")


@dataclass(frozen=True, slots=True)
class StoredSentiment:
    """The model's scores of one interaction, as stored by the analysis worker."""

    label: str
    negative: float
    neutral: float
    positive: float
    confidence: float
    model: str
    model_version: str

    @property
    def score(self) -> float:
        """positive - negative: -1 (negative) .. 1 (positive)."""
        return self.positive - self.negative

    def as_json(self) -> dict[str, Any]:
        """The ``customer_interactions.sentiment`` JSONB (confidence has a column of its own)."""
        return {
            "label": self.label, "negative": round(self.negative, 6), "neutral": round(self.neutral, 6),
            "positive": round(self.positive, 6), "model": self.model, "version": self.model_version,
        }

    @classmethod
    def from_json(cls, value: Any, confidence: Any) -> StoredSentiment | None:
        if not isinstance(value, Mapping) or "label" not in value:
            return None
        model = str(value.get("model", ""))
        version = str(value.get("version", ""))
        if not version and ":" in model:  # rows written before the version had a key of its own
            model, _, version = model.partition(":")
        return cls(
            label=str(value["label"]), negative=float(value.get("negative", 0)),
            neutral=float(value.get("neutral", 0)), positive=float(value.get("positive", 0)),
            confidence=float(confidence or 0), model=model, model_version=version,
        )


@dataclass(frozen=True, slots=True)
class Interaction:
    id: UUID
    customer_id: UUID
    external_customer_id: str
    timestamp: datetime
    channel: str
    event_type: str
    content: str | None
    metadata: Mapping[str, Any]
    sentiment: StoredSentiment | None
    processed_at: datetime | None
    created_at: datetime
    version: int
    segment: str | None
    """The customer's segment when the interaction happened."""


@dataclass(frozen=True, slots=True)
class Customer:
    id: UUID
    organization_id: UUID
    external_id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    segment: str | None
    metadata: Mapping[str, Any]
    first_seen_at: datetime
    last_seen_at: datetime
    interaction_count: int
    average_sentiment: float | None
    created_at: datetime
    updated_at: datetime
    pattern_types: tuple[str, ...] = ()
    """Types of the customer's current (unexpired) patterns, when the query asked for them."""


@dataclass(frozen=True, slots=True)
class BehaviorPattern:
    id: UUID
    customer_id: UUID
    pattern_type: str
    confidence: float
    frequency: int
    description: str
    metadata: Mapping[str, Any]
    evidence: Mapping[str, Any]
    detected_at: datetime
    valid_until: datetime | None
