"""Hypothesis strategies for interaction events, shared by the unit property test (the validation core
directly) and the integration one (a sample through Envoy).

Each field's strategy yields ``(value, valid?)`` pairs, so the oracle is the generator itself.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from insights.ingestion.validation import CHANNELS, TEXT_CHANNELS

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SKEW = timedelta(minutes=5)

printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FFF, exclude_categories=("Cs", "Cc")),
                    min_size=1, max_size=40).filter(lambda s: s.strip() != "")

customer_ids = st.one_of(
    printable.map(lambda v: (v, True)),
    st.uuids().map(lambda u: (str(u), True)),
    st.sampled_from(["", "   "]).map(lambda v: (v, False)),
    st.just(("c" * 256, False)),
    printable.map(lambda v: (v + "\x00", False)),
)
timestamps = st.one_of(
    st.integers(0, 10 * 365 * 86_400).map(lambda s: (NOW - timedelta(seconds=s), True)),
    st.integers(0, 299).map(lambda s: (NOW + timedelta(seconds=s), True)),
    st.integers(301, 10**7).map(lambda s: (NOW + timedelta(seconds=s), False)),
    st.just((datetime(1999, 12, 31, tzinfo=UTC), False)),
    st.just((None, False)),
)
channels = st.one_of(st.sampled_from(sorted(CHANNELS)), st.sampled_from(["", "fax", "EMAIL", " chat"]))
event_types = st.one_of(
    st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9 _.:/-]{0,98}\Z").map(lambda v: (v, True)),
    st.sampled_from(["", " ", "-leading", "new\nline", "trailing\n", "tab\tbed", "x" * 101, "emoji 🙂"])
    .map(lambda v: (v, False)),
)
contents = st.one_of(
    st.just(""), st.just("   "), printable, st.just("y" * 10_000), st.just("y" * 10_001), st.just("nul\x00"),
)
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False,
                      allow_infinity=False), st.text(max_size=20).filter(lambda s: "\x00" not in s))
json_values = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                           st.dictionaries(st.text(max_size=8).filter(lambda s: "\x00" not in s), inner,
                                           max_size=3)), max_leaves=10)
metadatas = st.one_of(
    st.none().map(lambda v: (v, True)),
    st.dictionaries(st.text(max_size=10).filter(lambda s: "\x00" not in s), json_values, max_size=5)
    .map(lambda v: (v, True)),
    st.sampled_from([[1, 2], "text", 42, True]).map(lambda v: (v, False)),
    st.just(({"big": "z" * 17_000}, False)),
    st.just(({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}, False)),
    st.just(({"k": "nul\x00"}, False)),
    st.just(({"k": math.nan}, False)),
)
keys = st.one_of(
    st.just(("", True)), printable.map(lambda v: (v, True)),
    st.just(("k" * 201, False)), st.just(("bad\nkey", False)),
)


def expected_bad(customer: tuple[str, bool], ts: tuple[Any, bool], channel: str, event_type: tuple[str, bool],
                 content: str, metadata: tuple[Any, bool], key: tuple[str, bool]) -> set[str]:
    """The fields (JSON names) that validation must name for these generated values."""
    bad = set()
    if not customer[1]:
        bad.add("customerId")
    if not ts[1]:
        bad.add("timestamp")
    if channel not in CHANNELS:
        bad.add("channel")
    if not event_type[1]:
        bad.add("eventType")
    if (channel in TEXT_CHANNELS and not content.strip()) or len(content) > 10_000 or "\x00" in content:
        bad.add("content")
    if not metadata[1]:
        bad.add("metadata")
    if not key[1]:
        bad.add("idempotencyKey")
    return bad
