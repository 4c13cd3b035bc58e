"""Redis keys (infra/keys.py): every key lives under the configured prefix, and erasure's patterns find
exactly the keys that hold one customer's data."""

from __future__ import annotations

import inspect
import uuid
from fnmatch import fnmatchcase

import pytest

from insights.infra.keys import RedisKeys

PREFIX = "deploy-a:"
ORG, OTHER_ORG = uuid.uuid4(), uuid.uuid4()
CUSTOMER, OTHER_CUSTOMER = uuid.uuid4(), uuid.uuid4()


def _every_key(keys: RedisKeys) -> dict[str, str]:
    """Each key-building method called with sample arguments, and the rate-limit prefix."""
    built = {"rate_limit_prefix": keys.rate_limit_prefix}
    for name, method in inspect.getmembers(keys, inspect.ismethod):
        if name.startswith("_") or name in ("customer_key_patterns", "predictions_of"):  # patterns, not keys
            continue
        arguments = [ORG if p in ("organization_id",) else "sample" for p in inspect.signature(method).parameters]
        built[name] = method(*arguments)
    return built


def test_every_key_builder_is_covered() -> None:
    """The list below sees every key builder: a new one is checked here automatically."""
    assert set(_every_key(RedisKeys(PREFIX))) == {
        "revoked_token", "session", "api_key", "rate_limit_prefix", "events", "prediction", "cache_prefix",
        "cache_generation"}


@pytest.mark.parametrize("prefix", ["", PREFIX, "test-1a2b3c4d:"])
def test_every_key_starts_with_the_prefix(prefix: str) -> None:
    """Deployments or test runs sharing one Redis never touch each other's keys."""
    keys = RedisKeys(prefix)
    for name, key in _every_key(keys).items():
        assert key.startswith(prefix), name
        assert key[len(prefix):], name
    for pattern in keys.customer_key_patterns(ORG, CUSTOMER):
        assert pattern.startswith(prefix)


def test_two_prefixes_never_share_a_key() -> None:
    """No key of one prefix equals a key of another."""
    a, b = _every_key(RedisKeys("a:")), _every_key(RedisKeys("b:"))
    assert not set(a.values()) & set(b.values())


def test_customer_patterns_match_the_cached_keys_that_embed_the_customer() -> None:
    """Erasure's patterns find the customer's cached keys, and no other customer's or tenant's."""
    keys = RedisKeys(PREFIX)
    patterns = keys.customer_key_patterns(ORG, CUSTOMER)
    holds_customer = [
        f"{keys.cache_prefix(ORG)}customer:{CUSTOMER}",
        f"{keys.cache_prefix(ORG)}interactions:customer={CUSTOMER}:page=1",
        f"{keys.cache_prefix(ORG)}7:{CUSTOMER}",
    ]
    others = [
        f"{keys.cache_prefix(ORG)}customer:{OTHER_CUSTOMER}",
        f"{keys.cache_prefix(OTHER_ORG)}customer:{CUSTOMER}",  # another tenant's entry is not ours to erase
        keys.cache_generation(ORG),
        keys.events(ORG),
        keys.prediction(ORG, "sentiment:3", "ab" * 32),
        f"other-deployment:cache:{ORG}:customer:{CUSTOMER}",
    ]
    assert all(any(fnmatchcase(k, p) for p in patterns) for k in holds_customer)
    assert not any(fnmatchcase(k, p) for k in others for p in patterns)


def test_keys_embed_their_identifiers() -> None:
    """Keys name what they hold (with no prefix, the bare layout)."""
    keys = RedisKeys()
    assert keys.session(CUSTOMER) == f"sess:{CUSTOMER}"
    assert keys.events(ORG) == f"events:{ORG}"
    assert keys.prediction(ORG, "m", "h") == f"ml:{ORG}:m:h"
    assert keys.cache_generation(ORG).startswith(keys.cache_prefix(ORG))
