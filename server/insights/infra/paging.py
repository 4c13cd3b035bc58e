"""Keyset pagination (AIP-158): opaque page tokens that carry the sort key of the last item returned.

A token is base64url JSON, bound to the query shape it came from (``scope``), so a token replayed
against another sort order or filter is refused instead of silently skipping rows. Tokens are not
secret: they only ever select rows of the caller's own organization (row-level security).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from insights.errors import ValidationError

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_page_token: str = ""
    total: int = 0
    total_is_estimate: bool = False


def page_size(requested: int, field: str = "pageSize") -> int:
    """1..100, default 50; a negative size is an error."""
    if requested < 0:
        raise ValidationError.single(field, f"must be between 1 and {MAX_PAGE_SIZE}")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _scope_digest(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:12]


def encode_token(scope: str, after: Sequence[Any]) -> str:
    body = json.dumps({"s": _scope_digest(scope), "a": list(after)}, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode_token(token: str, scope: str, *, arity: int, field: str = "pageToken") -> list[Any] | None:
    """The sort key after which the page starts, or None for the first page."""
    if not token:
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):  # nested past the parser's limit
        raise ValidationError.single(field, "is not a page token this API issued") from None
    if not isinstance(body, dict) or not isinstance(body.get("a"), list) or len(body["a"]) != arity:
        raise ValidationError.single(field, "is not a page token this API issued")
    if body.get("s") != _scope_digest(scope):
        raise ValidationError.single(field, "belongs to another query (filters or sort order changed)")
    return list(body["a"])
