"""Events as Redis stream entries (events/codec.py): encode/decode round trip, and never a raw line break
in an entry (a batch of entries travels newline-joined to the append script)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insights.events.codec import APPEND_SCRIPT, decode, encode
from insights.events.types import INTERACTION_CREATED, PATTERN_DETECTED, NewEvent

NOW_MS = 1_767_225_600_123

# Line breaks of every kind, quotes and backslashes, often: they are what could break an entry.
texts = st.one_of(st.text(max_size=30), st.lists(st.sampled_from(["\n", "\r", "\u2028", '"', "\\", "é", "🙂", "a"]),
                                                 max_size=6).map("".join))
payload_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63), st.floats(allow_nan=False), texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=10,
)
new_events = st.builds(
    NewEvent,
    type=st.one_of(st.sampled_from([INTERACTION_CREATED, PATTERN_DETECTED]), texts),
    interaction_id=st.one_of(st.none(), st.uuids(), texts),
    customer_id=st.one_of(st.none(), st.uuids(), texts),
    channel=texts,
    payload=st.one_of(st.dictionaries(texts, texts, max_size=4), st.dictionaries(texts, payload_values, max_size=4)),
    external_customer_id=texts,
)


def _text(value: uuid.UUID | str | None) -> str:
    return str(value) if value else ""


@settings(max_examples=100)
@given(new_events, st.integers(0, 2**45))
def test_encode_decode_round_trip_in_one_line_of_json(new: NewEvent, now_ms: int) -> None:
    """Whatever the fields hold (quotes, backslashes, unicode, line breaks, non-string payload values), the
    entry is one line of JSON that decodes to the same event."""
    entry = encode(new, now_ms)
    assert "\n" not in entry and "\r" not in entry
    assert isinstance(json.loads(entry), dict)
    decoded = decode("1700000000000-0", {"e": entry})
    assert (decoded.id, decoded.type, decoded.channel, decoded.external_customer_id) == (
        "1700000000000-0", new.type, new.channel, new.external_customer_id)
    assert (decoded.interaction_id, decoded.customer_id) == (_text(new.interaction_id), _text(new.customer_id))
    assert decoded.payload == dict(new.payload)
    assert decoded.occurred_at == datetime.fromtimestamp(now_ms / 1000, UTC)


@settings(max_examples=30)
@given(st.lists(new_events, min_size=1, max_size=5))
def test_a_newline_joined_batch_splits_back_into_its_entries(batch: list[NewEvent]) -> None:
    """What the Lua script does with ARGV[3] (``string.gmatch(s, "[^\\n]+")``), done in Python."""
    entries = [encode(e, NOW_MS) for e in batch]
    assert '"[^\\n]+"' in APPEND_SCRIPT
    assert re.findall(r"[^\n]+", "\n".join(entries)) == entries


def test_the_common_event_is_compact_and_omits_empty_fields() -> None:
    """The entry ingestion writes for every event: short keys, no empty fields, no spaces."""
    interaction, customer = uuid.uuid4(), uuid.uuid4()
    entry = encode(NewEvent(INTERACTION_CREATED, interaction, customer, "chat",
                            {"eventType": "message", "timestamp": "2026-01-01T00:00:00Z"}), NOW_MS)
    assert entry == (f'{{"t":"interaction.created","at":{NOW_MS},"iid":"{interaction}","cid":"{customer}",'
                     '"ch":"chat","p":{"eventType":"message","timestamp":"2026-01-01T00:00:00Z"}}')
    assert encode(NewEvent("x"), 0) == '{"t":"x","at":0}'


def test_string_and_mixed_payloads_decode_alike() -> None:
    """The fast path (all-string payloads) and json.dumps (anything else) write the same JSON values."""
    text = encode(NewEvent("t", payload={"a": "1", "ü": "line\nbreak"}), NOW_MS)
    mixed = encode(NewEvent("t", payload={"a": "1", "ü": "line\nbreak", "n": 2}), NOW_MS)
    assert decode("1-0", {"e": text}).payload == {"a": "1", "ü": "line\nbreak"}
    assert decode("1-0", {"e": mixed}).payload == {"a": "1", "ü": "line\nbreak", "n": 2}


def test_missing_fields_decode_to_empty_values() -> None:
    """An entry written by an older version (fewer fields) still decodes."""
    decoded = decode("5-1", {})
    assert (decoded.type, decoded.interaction_id, decoded.customer_id, decoded.channel, dict(decoded.payload)) == (
        "", "", "", "", {})
    assert decoded.occurred_at == datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '{"at": "soon"}', "{", '"text"'])
def test_malformed_entries_raise_what_decode_documents(body: str) -> None:
    """The reader skips an entry that raises one of these; anything else would kill it."""
    error: Any = (ValueError, TypeError, AttributeError)
    with pytest.raises(error):
        decode("1-0", {"e": body})
