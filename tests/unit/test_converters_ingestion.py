"""IngestionService conversions (api/converters/ingestion.py): requests to typed inputs, results to
protobuf (per-item errors of a batch included)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import code_pb2

from insights.api.converters.ingestion import (
    batch_response,
    interaction_changes,
    interaction_input,
    item_result,
    stream_response,
)
from insights.errors import FieldViolation
from insights.ingestion.service import BatchResult, InteractionChanges, ItemResult
from insights.ingestion.validation import validate_interaction
from insights.v1 import common_pb2, ingestion_pb2

WHEN = datetime(2026, 5, 1, 8, 30, 15, 123456, tzinfo=UTC)


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def _timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


# --- requests -> inputs --------------------------------------------------------------------------


def test_interaction_input_carries_every_field() -> None:
    """Each field of the request reaches the typed input; integral metadata numbers are ints."""
    message = common_pb2.InteractionInput(
        customer_id="cust-9", timestamp=_timestamp(WHEN), channel="email", event_type="message",
        content="Hello", metadata=_struct({"device": "iPhone", "count": 3}), idempotency_key="evt-1",
    )
    item = interaction_input(message)
    assert (item.customer_id, item.timestamp, item.channel, item.event_type, item.content, item.idempotency_key) == (
        "cust-9", WHEN, "email", "message", "Hello", "evt-1")
    assert item.metadata == {"device": "iPhone", "count": 3}
    assert type(item.metadata["count"]) is int


def test_absent_timestamp_and_metadata_are_none_and_empty_metadata_is_an_object() -> None:
    """None lets validation say 'timestamp is required'; metadata {} was sent and is kept as sent."""
    item = interaction_input(common_pb2.InteractionInput(customer_id="c"))
    assert (item.timestamp, item.metadata) == (None, None)
    empty = common_pb2.InteractionInput(customer_id="c", metadata=struct_pb2.Struct())
    assert interaction_input(empty).metadata == {}


def test_the_epoch_is_a_present_timestamp_not_an_absent_one() -> None:
    """Timestamp(0) is present (HasField): it reaches validation, which rejects it as before 2000."""
    item = interaction_input(common_pb2.InteractionInput(customer_id="c", timestamp=Timestamp()))
    assert item.timestamp == datetime(1970, 1, 1, tzinfo=UTC)


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


def test_update_changes_without_a_mask_carry_what_is_set() -> None:
    """No mask: the changes carry what the client set (the service decides which fields change)."""
    request = ingestion_pb2.UpdateInteractionRequest(
        interaction=common_pb2.Interaction(id="i-7", version=3, content="New text"),
    )
    changes = interaction_changes(request)
    assert changes == InteractionChanges(interaction_id="i-7", version=3, event_type="", content="New text",
                                         metadata=None, mask=())


def test_update_changes_with_a_mask_and_metadata() -> None:
    """The mask's paths are passed on in order, with the metadata as plain JSON."""
    request = ingestion_pb2.UpdateInteractionRequest(
        interaction=common_pb2.Interaction(id="i-1", version=1, metadata=_struct({"tier": "gold", "n": 2})),
        update_mask=field_mask_pb2.FieldMask(paths=["metadata", "content"]),
    )
    changes = interaction_changes(request)
    assert changes.mask == ("metadata", "content")
    assert changes.metadata == {"tier": "gold", "n": 2}
    assert changes.content == ""


def test_update_metadata_presence_is_kept_apart_from_absence() -> None:
    """An empty Struct means 'set metadata to {}'; no Struct means 'metadata not given'."""
    cleared = ingestion_pb2.UpdateInteractionRequest(
        interaction=common_pb2.Interaction(id="i", version=1, metadata=struct_pb2.Struct()))
    untouched = ingestion_pb2.UpdateInteractionRequest(interaction=common_pb2.Interaction(id="i", version=1))
    assert interaction_changes(cleared).metadata == {}
    assert interaction_changes(untouched).metadata is None


# --- results -> protobuf ---------------------------------------------------------------------------


def test_ok_item_result_has_the_id_and_no_error() -> None:
    """A stored (or duplicate) item: its id, and no error."""
    interaction_id = uuid.uuid4()
    message = item_result(ItemResult(4, interaction_id, duplicate=True))
    assert (message.index, message.interaction_id, message.duplicate) == (4, str(interaction_id), True)
    assert not message.HasField("error")


def test_invalid_item_result_is_invalid_argument_with_its_field_violations() -> None:
    """A rejected item: INVALID_ARGUMENT with every violation, and a message joining them."""
    violations = (FieldViolation("interactions[2].channel", "is required"),
                  FieldViolation("interactions[2].timestamp", "is required"))
    message = item_result(ItemResult(2, violations=violations))
    assert message.index == 2 and message.interaction_id == ""
    assert message.error.status.code == code_pb2.INVALID_ARGUMENT
    assert message.error.status.message == (
        "interactions[2].channel: is required; interactions[2].timestamp: is required")
    assert [(v.field, v.description) for v in message.error.field_violations] == [
        (v.field, v.description) for v in violations]


def test_conflicting_item_result_is_aborted() -> None:
    """One idempotency key used for two different events in a request: ABORTED (409), naming the key."""
    conflict = FieldViolation("interactions[1].idempotencyKey", "was used for a different event in this request")
    message = item_result(ItemResult(1, violations=(conflict,), conflict=True))
    assert message.error.status.code == code_pb2.ABORTED
    assert [v.field for v in message.error.field_violations] == ["interactions[1].idempotencyKey"]


def test_batch_and_stream_responses_count_and_keep_request_order() -> None:
    """successful/failed are counted; results stay in request order."""
    results = [ItemResult(0, uuid.uuid4()), ItemResult(1, violations=(FieldViolation("interactions[1].channel", "x"),)),
               ItemResult(2, uuid.uuid4(), duplicate=True)]
    for response in (batch_response(BatchResult(results)), stream_response(BatchResult(results))):
        assert (response.successful, response.failed) == (2, 1)
        assert [r.index for r in response.results] == [0, 1, 2]
        assert [r.HasField("error") for r in response.results] == [False, True, False]
