"""Keyset page tokens and page sizes (infra/paging.py): tokens round trip, are bound to the query that
issued them, and anything else a client sends is a ValidationError naming the field."""

from __future__ import annotations

import base64

import pytest

from insights.errors import ValidationError
from insights.infra.paging import decode_token


def test_a_deeply_nested_token_is_refused_not_a_crash() -> None:
    """JSON nested deeper than Python's recursion limit raises RecursionError, which is no ValueError: it
    must still be 'not a page token', not an INTERNAL error."""
    token = base64.urlsafe_b64encode(b"[" * 100_000).decode()
    with pytest.raises(ValidationError) as refused:
        decode_token(token, "scope", arity=2)
    assert [v.field for v in refused.value.violations] == ["pageToken"]
