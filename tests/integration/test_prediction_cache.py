"""The prediction cache through Envoy: one organization's cached answer is never served to another, and erasing
a customer removes the cached predictions of that customer's texts."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
import redis

from insights.inference.text import normalize_text
from insights.infra.keys import RedisKeys
from tests.inference_support import analyze, requires_model
from tests.ingest_support import Org, event, ingest, new_org
from tests.support import Stack, wait_until

pytestmark = requires_model

PERMISSIONS = ["analysis:run", "data:ingest", "customers:manage"]


@pytest.fixture(scope="module")
def orgs(stack: Stack) -> tuple[Org, Org]:
    return new_org(stack, "Cache A", PERMISSIONS), new_org(stack, "Cache B", PERMISSIONS)


def _model_answer(http: httpx.Client, org: Org, text: str) -> dict[str, Any]:
    """The model's answer (a loaded machine can make a call miss the deadline and fall back to the rules,
    which are never cached: ask again until the model answers)."""
    answers: list[dict[str, Any]] = []

    def answered() -> bool:
        response = analyze(http, org, text)
        assert response.status_code == 200, response.text
        answers.append(response.json())
        return bool(answers[-1]["model"] == "sentiment")

    wait_until(answered, 60, "the model to answer", poll_s=0.5)
    return answers[-1]


def _entries(cache: redis.Redis, prefix: str, text: str) -> dict[str, str]:
    """organization id -> the cached entry's key, for every cached prediction of this text."""
    digest = RedisKeys.text_hash(normalize_text(text))
    return {key.split(":")[-3]: key for key in cache.scan_iter(match=f"{prefix}ml:*:{digest}", count=1000)}


def test_one_organizations_cached_prediction_is_never_served_to_another_and_erasure_removes_it(
    stack: Stack, orgs: tuple[Org, Org], redis_url: str, redis_key_prefix: str
) -> None:
    a, b = orgs
    cache = redis.Redis.from_url(redis_url, decode_responses=True)
    text = f"The refund took three weeks and nobody answered my emails {uuid.uuid4().hex[:8]}"
    with stack.client() as http:
        assert _model_answer(http, a, text)["sentiment"] == "negative"
        entries = _entries(cache, redis_key_prefix, text)
        assert list(entries) == [a.id]
        # Mark A's entry: an answer that only A's cache could give.
        marked = json.loads(cache.get(entries[a.id]) or "{}")
        cache.set(entries[a.id], json.dumps({**marked, "s": [0.0, 0.0, 1.0]}), keepttl=True)
        assert analyze(http, a, text).json()["sentiment"] == "positive"  # A is served from its cache

        assert _model_answer(http, b, text)["sentiment"] == "negative"  # B never sees A's entry: the model answered B
        assert set(_entries(cache, redis_key_prefix, text)) == {a.id, b.id}

        # A customer of A wrote this text; erasing them removes A's cached prediction of it, and only A's.
        customer = f"cache-{uuid.uuid4().hex[:8]}"
        assert ingest(http, a, event(customer, content=text)).status_code == 200
        erased = http.delete(f"/api/customers/{customer}", headers=a.headers)
        assert erased.status_code == 200, erased.text
        assert erased.json()["cachesPurged"] is True
        assert set(_entries(cache, redis_key_prefix, text)) == {b.id}
        assert _model_answer(http, a, text)["sentiment"] == "negative"  # the marked answer is gone
