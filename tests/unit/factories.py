"""Domain objects of customers/models.py for the converter tests: valid, fully populated, overridable."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from insights.customers.models import Customer, Interaction, StoredSentiment

WHEN = datetime(2026, 3, 14, 15, 9, 26, 535897, tzinfo=UTC)

SENTIMENT = StoredSentiment(label="negative", negative=0.7, neutral=0.2, positive=0.1, confidence=0.7,
                            model="sentiment", model_version="3")


def make_interaction(**changes: Any) -> Interaction:
    values: dict[str, Any] = dict(
        id=uuid.uuid4(), customer_id=uuid.uuid4(), external_customer_id="cust-1", timestamp=WHEN, channel="chat",
        event_type="message", content="Where is my refund?", metadata={"orderId": 1234, "tags": ["vip"]},
        sentiment=SENTIMENT, processed_at=WHEN + timedelta(seconds=2), created_at=WHEN + timedelta(seconds=1),
        version=2, segment="gold",
    )
    values.update(changes)
    return Interaction(**values)


def make_customer(**changes: Any) -> Customer:
    values: dict[str, Any] = dict(
        id=uuid.uuid4(), organization_id=uuid.uuid4(), external_id="cust-1", email="a@example.com",
        first_name="Ada", last_name="Lovelace", segment="gold", metadata={"plan": "pro"},
        first_seen_at=WHEN - timedelta(days=30), last_seen_at=WHEN, interaction_count=12, average_sentiment=-0.25,
        created_at=WHEN - timedelta(days=30), updated_at=WHEN, pattern_types=("churn_risk", "frequent_buyer"),
    )
    values.update(changes)
    return Customer(**values)
