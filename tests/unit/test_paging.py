"""Keyset page tokens and page sizes (infra/paging.py): tokens round trip, are bound to the query that
issued them, and anything else a client sends is a ValidationError naming the field."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insights.errors import ValidationError
from insights.infra.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, decode_token, encode_token, page_size

SCOPE = "interactions|timestamp desc|channel=chat"
sort_keys = st.lists(st.one_of(st.integers(), st.text(max_size=20), st.booleans(), st.none(),
                               st.floats(allow_nan=False, allow_infinity=False)), min_size=1, max_size=4)


def _field(error: ValidationError) -> list[str]:
    return [v.field for v in error.violations]


@settings(max_examples=100)
@given(sort_keys, st.text(max_size=40))
def test_tokens_round_trip_within_their_scope(after: list[Any], scope: str) -> None:
    """A token gives back the sort key it was made from; it is URL-safe as it is."""
    token = encode_token(scope, after)
    assert decode_token(token, scope, arity=len(after)) == after
    assert token.isascii() and "=" not in token and "+" not in token and "/" not in token  # URL-safe as is


def test_values_json_cannot_hold_become_strings() -> None:
    """A timestamp sort key comes back as its ISO text (the query compares it as such)."""
    from datetime import UTC, datetime

    moment = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert decode_token(encode_token(SCOPE, [moment, 7]), SCOPE, arity=2) == [str(moment), 7]


def test_empty_token_is_the_first_page() -> None:
    """No token: start at the first page."""
    assert decode_token("", SCOPE, arity=2) is None


@pytest.mark.parametrize("other", ["interactions|timestamp asc|channel=chat", "interactions|timestamp desc|",
                                   "customers|timestamp desc|channel=chat"])
def test_a_token_from_another_query_is_refused_naming_page_token(other: str) -> None:
    """Replayed against another sort order or filter it would skip or repeat rows: refused instead."""
    token = encode_token(SCOPE, ["2026-05-01T12:00:00Z", "id-1"])
    with pytest.raises(ValidationError) as refused:
        decode_token(token, other, arity=2)
    assert _field(refused.value) == ["pageToken"]
    assert "another query" in refused.value.violations[0].description


def test_a_token_of_the_wrong_shape_is_refused() -> None:
    """A token with another number of sort keys is refused naming pageToken."""
    token = encode_token(SCOPE, ["a", "b", "c"])
    with pytest.raises(ValidationError) as refused:
        decode_token(token, SCOPE, arity=2)
    assert _field(refused.value) == ["pageToken"]


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("token", ["not-a-token", "%%%", "a", "ab=c", "🙂", _b64([1, 2]), _b64({"a": 1}),
                                   _b64({"s": "x", "a": "not a list"}), _b64("text"), "AAAA",
                                   base64.urlsafe_b64encode(b"\xff\xfe").decode()])
def test_garbage_tokens_are_validation_errors_naming_the_field(token: str) -> None:
    """Anything not issued by the API is a ValidationError naming the given field."""
    with pytest.raises(ValidationError) as refused:
        decode_token(token, SCOPE, arity=2, field="page_token")
    assert _field(refused.value) == ["page_token"]


def test_a_deeply_nested_token_is_refused_not_a_crash() -> None:
    """JSON nested deeper than Python's recursion limit raises RecursionError, which is no ValueError: it
    must still be 'not a page token', not an INTERNAL error."""
    token = base64.urlsafe_b64encode(b"[" * 100_000).decode()
    with pytest.raises(ValidationError) as refused:
        decode_token(token, SCOPE, arity=2)
    assert _field(refused.value) == ["pageToken"]


@settings(max_examples=100)
@given(st.one_of(st.text(max_size=60), st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode())))
def test_any_token_decodes_or_is_refused_naming_the_field(token: str) -> None:
    """Never another exception: it would be an INTERNAL error for a bad request."""
    try:
        after = decode_token(token, SCOPE, arity=2)
    except ValidationError as refused:
        assert _field(refused) == ["pageToken"]
    else:
        assert after is None or len(after) == 2


@pytest.mark.parametrize(("requested", "size"), [(0, DEFAULT_PAGE_SIZE), (1, 1), (50, 50), (100, 100), (101, 100),
                                                  (10**9, MAX_PAGE_SIZE)])
def test_page_size_defaults_and_caps(requested: int, size: int) -> None:
    """0 means the default (50); more than 100 is capped at 100."""
    assert page_size(requested) == size


@pytest.mark.parametrize("requested", [-1, -100])
def test_a_negative_page_size_is_refused_naming_the_field(requested: int) -> None:
    """A negative size is an error, naming the field as the caller calls it."""
    with pytest.raises(ValidationError) as refused:
        page_size(requested, field="users.pageSize")
    assert _field(refused.value) == ["users.pageSize"]
    assert refused.value.violations[0].description == f"must be between 1 and {MAX_PAGE_SIZE}"
