"""Validation of interaction events (ingestion/validation.py) and UpdateInteraction's update mask
(``IngestionService._mask_paths``): every rule per field, every violation at once, never an exception."""

from __future__ import annotations

import dataclasses
import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insights.errors import FieldViolation
from insights.ingestion.service import IngestionService, InteractionChanges
from insights.ingestion.validation import (
    CHANNELS,
    TEXT_CHANNELS,
    InteractionInput,
    ValidInteraction,
    check_event_type,
    check_metadata,
    validate_interaction,
)
from tests.validation_strategies import (
    NOW,
    SKEW,
    channels,
    contents,
    customer_ids,
    event_types,
    expected_bad,
    keys,
    metadatas,
    timestamps,
)

FIELDS = ("customerId", "timestamp", "channel", "eventType", "content", "metadata", "idempotencyKey")
VALID = InteractionInput(customer_id="cust-1", timestamp=NOW - timedelta(hours=1), channel="chat",
                         event_type="message", content="Where is my order?", metadata={"orderId": 7},
                         idempotency_key="evt-1")


def _violations(item: InteractionInput, prefix: str = "") -> list[FieldViolation]:
    result = validate_interaction(item, now=NOW, clock_skew=SKEW, prefix=prefix)
    return [] if isinstance(result, ValidInteraction) else result


def _valid(item: InteractionInput) -> ValidInteraction:
    result = validate_interaction(item, now=NOW, clock_skew=SKEW)
    assert isinstance(result, ValidInteraction), result
    return result


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"next": value}
    return value


# --- one rule at a time -----------------------------------------------------------------------------

BAD_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("customerId", {"customer_id": ""}, "is required"),
    ("customerId", {"customer_id": "   "}, "is required"),
    ("customerId", {"customer_id": "c" * 256}, "must be at most 255 characters"),
    ("customerId", {"customer_id": "cust\x001"}, "must not contain control characters"),
    ("customerId", {"customer_id": "cust\t1"}, "must not contain control characters"),
    ("customerId", {"customer_id": "cust\x7f"}, "must not contain control characters"),
    ("timestamp", {"timestamp": None}, "is required"),
    ("timestamp", {"timestamp": NOW + SKEW + timedelta(seconds=1)}, "must not be in the future"),
    ("timestamp", {"timestamp": datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)}, "must not be before 2000-01-01"),
    ("timestamp", {"timestamp": datetime(1970, 1, 1, tzinfo=UTC)}, "must not be before 2000-01-01"),
    ("channel", {"channel": ""}, "is required"),
    ("channel", {"channel": "fax"}, "must be one of chat, email, mobile, phone, web"),
    ("channel", {"channel": "Chat"}, "must be one of chat, email, mobile, phone, web"),
    ("eventType", {"event_type": ""}, "is required"),
    ("eventType", {"event_type": "  "}, "is required"),
    ("eventType", {"event_type": "e" * 101}, "must be at most 100 characters"),
    ("eventType", {"event_type": "_leading"}, "may contain only letters, digits, spaces and _ . : / -"),
    ("eventType", {"event_type": "semi;colon"}, "may contain only letters, digits, spaces and _ . : / -"),
    ("eventType", {"event_type": "café"}, "may contain only letters, digits, spaces and _ . : / -"),
    ("content", {"content": ""}, "is required on the chat channel"),
    ("content", {"content": " \n "}, "is required on the chat channel"),
    ("content", {"channel": "email", "content": ""}, "is required on the email channel"),
    ("content", {"channel": "phone", "content": ""}, "is required on the phone channel"),
    ("content", {"content": "x" * 10_001}, "must be at most 10000 characters"),
    ("content", {"channel": "web", "content": "x" * 10_001}, "must be at most 10000 characters"),
    ("content", {"content": "nul\x00"}, "must not contain NUL characters"),
    ("metadata", {"metadata": [1, 2]}, "must be a JSON object"),
    ("metadata", {"metadata": "text"}, "must be a JSON object"),
    ("metadata", {"metadata": {1: "integer key"}}, "must be a JSON object"),
    ("metadata", {"metadata": {"tags": {"a", "b"}}}, "must be a JSON object"),
    ("metadata", {"metadata": {"score": math.nan}}, "numbers must be finite"),
    ("metadata", {"metadata": {"deep": [{"score": -math.inf}]}}, "numbers must be finite"),
    ("metadata", {"metadata": {"big": "z" * 16_384}}, "must be at most 16384 bytes as JSON (got 16394)"),
    ("metadata", {"metadata": {"k": "nul\x00"}}, "must not contain NUL characters"),
    ("metadata", {"metadata": {"nul\x00key": 1}}, "must not contain NUL characters"),
    ("metadata", {"metadata": _nested(9)}, "must be nested at most 8 levels deep"),
    ("metadata", {"metadata": {"list": [[[[[[[[[1]]]]]]]]]}}, "must be nested at most 8 levels deep"),
    ("idempotencyKey", {"idempotency_key": "k" * 201}, "must be at most 200 characters"),
    ("idempotencyKey", {"idempotency_key": "evt\n1"}, "must not contain control characters"),
]


@pytest.mark.parametrize(("field", "change", "description"), BAD_FIELDS,
                         ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BAD_FIELDS)])
def test_each_rule_names_its_field(field: str, change: dict[str, Any], description: str) -> None:
    """One bad field among good ones: exactly that field is named, with a description that says why."""
    violations = _violations(dataclasses.replace(VALID, **change))
    assert [v.field for v in violations] == [field]
    assert violations[0].description.startswith(description)


GOOD_EDGES: list[dict[str, Any]] = [
    {"customer_id": "c" * 255},
    {"customer_id": "Kundin Ærø 🙂"},
    {"timestamp": NOW + SKEW},
    {"timestamp": datetime(2000, 1, 1, tzinfo=UTC)},
    {"channel": "web", "content": ""},
    {"channel": "mobile", "content": ""},
    {"event_type": "e" * 100},
    {"event_type": "Checkout Step 2: payment/card-entry_v1.2"},
    {"content": "x" * 10_000},
    {"content": "multi\nline\ttext is fine in content"},
    {"metadata": None},
    {"metadata": {}},
    {"metadata": _nested(8)},
    {"metadata": {"big": "z" * 16_374}},  # exactly 16384 bytes as JSON
    {"metadata": {"unicode": "Grüße", "n": [1, 2.5, None, True]}},
    {"idempotency_key": ""},
    {"idempotency_key": "k" * 200},
]


@pytest.mark.parametrize("change", GOOD_EDGES, ids=[str(i) for i in range(len(GOOD_EDGES))])
def test_values_at_the_edges_are_accepted(change: dict[str, Any]) -> None:
    """Limits are inclusive, content is optional on web and mobile, and metadata may be absent or empty."""
    _valid(dataclasses.replace(VALID, **change))


def test_event_type_check_is_shared_with_updates() -> None:
    """UpdateInteraction uses the same rule under its own field name."""
    assert check_event_type("bad;type", "eventType")[0].field == "eventType"
    assert check_event_type("page_view", "eventType") == []


@pytest.mark.parametrize("value", ["page_view\n", "page_view\r\n", "a\n"])
def test_event_type_rejects_a_trailing_line_break(value: str) -> None:
    """A line break anywhere, the end included, would break logs and CSV exports (``$`` matches before a
    final newline, so the pattern must match the whole value)."""
    assert [v.field for v in check_event_type(value, "eventType")] == ["eventType"]


# --- all at once, and with prefixes ------------------------------------------------------------------


def test_three_bad_fields_are_named_at_once() -> None:
    """Every violation is reported in one answer, not just the first."""
    item = dataclasses.replace(VALID, customer_id="", channel="fax", event_type="")
    assert [v.field for v in _violations(item)] == ["customerId", "channel", "eventType"]


def test_every_field_bad_names_every_field() -> None:
    """All seven fields bad: all seven named, in the request's field order."""
    item = InteractionInput(customer_id="", timestamp=None, channel="", event_type="", content="x\x00",
                            metadata=[1], idempotency_key="k" * 201)
    assert [v.field for v in _violations(item)] == list(FIELDS)


def test_batch_items_are_named_with_their_prefix() -> None:
    """In a batch every violation names its item: interactions[12].customerId."""
    item = dataclasses.replace(VALID, customer_id="", content="", idempotency_key="a\x01")
    assert [v.field for v in _violations(item, "interactions[12].")] == [
        "interactions[12].customerId", "interactions[12].content", "interactions[12].idempotencyKey"]


# --- what a valid event becomes ----------------------------------------------------------------------


def test_valid_event_is_normalized() -> None:
    """The customer reference is trimmed; metadata is kept with its compact JSON (what is stored)."""
    valid = _valid(dataclasses.replace(VALID, customer_id="  cust-1  "))
    assert valid.customer_ref == "cust-1" and valid.customer_uuid is None
    assert (valid.channel, valid.event_type, valid.content, valid.idempotency_key) == (
        "chat", "message", "Where is my order?", "evt-1")
    assert valid.metadata == {"orderId": 7}
    assert json.loads(valid.metadata_json) == {"orderId": 7} and " " not in valid.metadata_json


@pytest.mark.parametrize("form", [str, lambda u: str(u).upper(), lambda u: f"{{{u}}}", lambda u: u.urn,
                                  lambda u: u.hex])
def test_a_uuid_reference_is_recognized_in_its_usual_spellings(form: Any) -> None:
    """Our customer UUID in any of Python's accepted spellings is recognized as ours."""
    customer = uuid.uuid4()
    valid = _valid(dataclasses.replace(VALID, customer_id=form(customer)))
    assert valid.customer_uuid == customer


@pytest.mark.parametrize("external", ["12345678-1234-1234-1234-1234567890", "order-1", "0" * 33, "{not-a-uuid}"])
def test_uuid_like_external_ids_stay_external(external: str) -> None:
    """An id that only looks like a UUID is the organization's own external id."""
    valid = _valid(dataclasses.replace(VALID, customer_id=external))
    assert (valid.customer_ref, valid.customer_uuid) == (external, None)


def test_absent_optional_values_become_none_and_naive_timestamps_utc() -> None:
    """Empty content and key become None, absent metadata {}; a naive timestamp is UTC."""
    valid = _valid(dataclasses.replace(VALID, channel="web", content="", idempotency_key="", metadata=None,
                                       timestamp=datetime(2026, 5, 1, 10, 0)))
    assert (valid.content, valid.idempotency_key, valid.metadata, valid.metadata_json) == (None, None, {}, "{}")
    assert valid.timestamp == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def test_check_metadata_returns_nothing_stored_for_bad_metadata() -> None:
    """Rejected metadata never yields something to store."""
    assert check_metadata({"x": math.inf}, "metadata")[:2] == ({}, "{}")


# --- properties --------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(customer_ids, timestamps, channels, event_types, contents, metadatas, keys)
def test_every_invalid_field_is_named_and_nothing_invalid_passes(
    customer: tuple[str, bool], ts: tuple[Any, bool], channel: str, event_type: tuple[str, bool], content: str,
    metadata: tuple[Any, bool], key: tuple[str, bool],
) -> None:
    """Property 9 (data validation completeness): the generator knows which values are bad; validation must
    name exactly those fields, and everything it accepts obeys the rules."""
    item = InteractionInput(customer[0], ts[0], channel, event_type[0], content, metadata[0], key[0])
    result = validate_interaction(item, now=NOW, clock_skew=SKEW, prefix="interactions[7].")
    expected = expected_bad(customer, ts, channel, event_type, content, metadata, key)
    if isinstance(result, ValidInteraction):
        assert not expected
        assert result.customer_ref and result.timestamp <= NOW + SKEW and result.channel in CHANNELS
        assert result.event_type and (result.channel not in TEXT_CHANNELS or (result.content or "").strip())
        assert isinstance(result.metadata, dict)
    else:
        named = {v.field for v in result}
        assert named == {f"interactions[7].{f}" for f in expected}
        assert all(v.description for v in result)


anything_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary(max_size=4)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.tuples(inner), st.frozensets(st.integers(), max_size=2),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers()), inner, max_size=3),
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    customer_id=st.text(), timestamp=st.one_of(st.none(), st.datetimes(), st.datetimes(timezones=st.just(UTC))),
    channel=st.one_of(st.sampled_from(sorted(CHANNELS)), st.text(max_size=8)), event_type=st.text(),
    content=st.text(), metadata=anything_json, idempotency_key=st.text(), prefix=st.sampled_from(["", "items[3]."]),
)
def test_any_input_validates_or_names_only_known_fields(
    customer_id: str, timestamp: datetime | None, channel: str, event_type: str, content: str, metadata: Any,
    idempotency_key: str, prefix: str,
) -> None:
    """Whatever arrives: a valid event or violations, each naming one known field at most once; never an
    exception (which the gRPC boundary would turn into INTERNAL)."""
    item = InteractionInput(customer_id, timestamp, channel, event_type, content, metadata, idempotency_key)
    result = validate_interaction(item, now=NOW, clock_skew=SKEW, prefix=prefix)
    if isinstance(result, ValidInteraction):
        assert json.loads(result.metadata_json) == json.loads(json.dumps(result.metadata))
        return
    fields = [v.field for v in result]
    assert result and len(fields) == len(set(fields))
    assert set(fields) <= {prefix + f for f in FIELDS}


# --- UpdateInteraction's mask ----------------------------------------------------------------------


def _mask(**changes: Any) -> tuple[set[str], list[str]]:
    return IngestionService._mask_paths(InteractionChanges(interaction_id="i", version=1, **changes))


def test_empty_mask_means_the_fields_that_are_set() -> None:
    """Without a mask, the fields present in the request change (an empty metadata object is present)."""
    assert _mask(content="new") == ({"content"}, [])
    assert _mask(event_type="e", content="c", metadata={}) == ({"event_type", "content", "metadata"}, [])
    assert _mask(metadata={}) == ({"metadata"}, [])  # an empty object is set: it clears the metadata
    assert _mask() == (set(), [])


def test_mask_entries_may_be_proto_or_json_names() -> None:
    """event_type and eventType both name the field; naming it twice is once."""
    assert _mask(mask=("event_type", "metadata")) == ({"event_type", "metadata"}, [])
    assert _mask(mask=("eventType", "content")) == ({"event_type", "content"}, [])
    assert _mask(mask=("eventType", "event_type")) == ({"event_type"}, [])


def test_a_mask_names_only_what_it_lists_even_when_more_is_set() -> None:
    """With a mask, content sent alongside but not listed is left alone (and an empty listed value clears)."""
    assert _mask(mask=("metadata",), content="ignored", metadata={"a": 1}) == ({"metadata"}, [])
    assert _mask(mask=("content",)) == ({"content"}, [])


def test_unknown_mask_entries_are_reported_each() -> None:
    """Every mask entry that names no updatable field is reported (names are case sensitive)."""
    paths, unknown = _mask(mask=("content", "channel", "customer_id", "Content", "version"))
    assert paths == {"content"}
    assert unknown == ["channel", "customer_id", "Content", "version"]
