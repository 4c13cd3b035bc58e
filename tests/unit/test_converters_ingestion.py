"""IngestionService conversions (api/converters/ingestion.py): requests to typed inputs, results to
protobuf (per-item errors of a batch included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from insights.api.converters.ingestion import interaction_input
from insights.ingestion.validation import validate_interaction
from insights.v1 import common_pb2

WHEN = datetime(2026, 5, 1, 8, 30, 15, 123456, tzinfo=UTC)


@pytest.mark.parametrize(("seconds", "problem"), [(10**12, "must not be in the future"),
                                                   (-(10**12), "must not be before 2000-01-01"),
                                                   (2**62, "must not be in the future")])
def test_a_timestamp_beyond_what_datetime_holds_is_a_field_violation_not_a_crash(seconds: int, problem: str) -> None:
    """gRPC clients can send any seconds value; years past 9999 (or before 1) must be named as a bad
    timestamp, not fail the call with INTERNAL."""
    item = interaction_input(common_pb2.InteractionInput(
        customer_id="c", timestamp=Timestamp(seconds=seconds), channel="web", event_type="page_view",
    ))
    result = validate_interaction(item, now=WHEN, clock_skew=timedelta(minutes=5))
    assert isinstance(result, list)
    assert [(v.field, v.description) for v in result] == [("timestamp", problem)]
