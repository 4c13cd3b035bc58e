"""AnalysisService through Envoy's REST surface (embedded backend): single, batch, model info,
validation (400 with field violations), permissions, and the score invariants on arbitrary text (Hypothesis)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from insights.inference.long_text import split_windows
from tests.inference_support import (
    MODEL_FILES,
    MODEL_REPOSITORY,
    analyze,
    assert_score_invariants,
    long_reviews,
    new_analyst_org,
    requires_model,
)
from tests.ingest_support import Org, new_org
from tests.support import Stack, field_violations

pytestmark = requires_model


@pytest.fixture(scope="module")
def api(database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(database_url, redis_url, Path(tmp_path_factory.mktemp("analysis-stack")), extra_env={
        "INSIGHTS_INFERENCE__MODEL_REPOSITORY": str(MODEL_REPOSITORY),
        "INSIGHTS_WORKER__ENABLED": "false",
        # The default deadlines (they grow with the texts and their sentence windows): a slow answer of a
        # healthy tier is still the model's.
    }).start()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def org(api: Stack) -> Org:
    return new_analyst_org(api)


@pytest.fixture(scope="module")
def http(api: Stack) -> Iterator[httpx.Client]:
    with api.client() as client:
        yield client


def test_single_text(http: httpx.Client, org: Org) -> None:
    response = analyze(http, org, f"I love how fast the support team answered {uuid.uuid4()}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert_score_invariants(body)
    assert body["model"] == "sentiment" and body["modelVersion"] == MODEL_FILES.latest_version()
    assert body["source"] == "model" and body.get("fallbackReason", "") == ""
    assert body["processingTimeMs"] > 0 and not body.get("truncated", False)

    long = analyze(http, org, "The room was fine. " * 100)
    assert long.status_code == 200 and long.json()["truncated"] is True
    assert_score_invariants(long.json())


def test_batch_answers_in_order(http: httpx.Client, org: Org) -> None:
    texts = ["Absolutely wonderful experience", "The worst support I have ever had", "Order #1234 shipped",
             "x" * 1200]
    response = http.post("/api/insights/analyze", headers=org.headers, json={"texts": texts})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == len(texts)
    for text, result in zip(texts, results, strict=True):
        assert_score_invariants(result)
        single = analyze(http, org, text).json()
        assert single["sentiment"] == result["sentiment"]
        assert single["confidence"] == pytest.approx(result["confidence"], abs=1e-3)
    assert results[3]["truncated"] is True


def test_a_batch_of_32_long_reviews_is_answered_by_the_model(http: httpx.Client, org: Org) -> None:
    """32 texts of up to 1,000 characters (about 130 sentence windows): one unit of work for the model
    tier, given the deadline that work needs; every answer is the model's, however long it took."""
    reviews = long_reviews(32)
    assert sum(len(split_windows(r)) for r in reviews) > 64
    response = http.post("/api/insights/analyze", headers=org.headers, json={"texts": reviews})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 32
    for result in results:
        assert_score_invariants(result)
        assert (result["model"], result["source"]) == ("sentiment", "model"), result
    # The same texts again: the model's answers, from the cache.
    again = http.post("/api/insights/analyze", headers=org.headers, json={"texts": reviews}).json()["results"]
    assert [(r["model"], r["source"]) for r in again] == [("sentiment", "cache")] * 32
    assert [r["scores"] for r in again] == [r["scores"] for r in results]


def test_empty_or_oversized_requests_are_400_naming_the_field(http: httpx.Client, org: Org) -> None:
    for raw in ("", "%20%20%20", "%0A%09"):
        response = http.get(f"/api/insights/sentiment?text={raw}", headers=org.headers)
        assert response.status_code == 400, response.text
        assert list(field_violations(response)) == ["text"]
    blank = http.post("/api/insights/analyze", headers=org.headers, json={"texts": ["fine", " ", "ok"]})
    assert blank.status_code == 400 and list(field_violations(blank)) == ["texts[1]"]
    for texts in ([], ["x"] * 33):
        response = http.post("/api/insights/analyze", headers=org.headers, json={"texts": texts})
        assert response.status_code == 400 and list(field_violations(response)) == ["texts"]


def test_model_info(http: httpx.Client, org: Org) -> None:
    response = http.get("/api/insights/model", headers=org.headers)
    assert response.status_code == 200, response.text
    info = response.json()
    assert info["name"] == "sentiment" and info["version"] == MODEL_FILES.latest_version()
    assert info["labels"] == ["negative", "neutral", "positive"]
    assert info["backend"] == "embedded" and info["maxTextLength"] == 1000
    published = MODEL_FILES.metrics()
    if "test_macro_f1" in published:
        assert info["metrics"]["test_macro_f1"] == pytest.approx(published["test_macro_f1"])


def test_analysis_needs_its_permission(api: Stack) -> None:
    ingest_only = new_org(api, name="No analysis")  # its API key lacks analysis:run
    with api.client() as http:
        assert http.get("/api/insights/sentiment?text=hi", headers=ingest_only.headers).status_code == 403
        assert http.get("/api/insights/sentiment?text=hi").status_code == 401


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=0, max_size=1200))
def test_score_invariants_through_the_api(http: httpx.Client, org: Org, text: str) -> None:
    single = http.get(f"/api/insights/sentiment?text={quote(text, safe='')}", headers=org.headers)
    batch = http.post("/api/insights/analyze", headers=org.headers, json={"texts": [text]})
    if not text.strip() or "\x00" in text:  # no text, or text PostgreSQL cannot hold: named at the boundary
        assert single.status_code == 400 and list(field_violations(single)) == ["text"]
        assert batch.status_code == 400 and list(field_violations(batch)) == ["texts[0]"]
        return
    assert single.status_code == 200, single.text
    assert batch.status_code == 200, batch.text
    for result in (single.json(), batch.json()["results"][0]):
        assert_score_invariants(result)
        if len(text) > 1000:
            assert result["truncated"] is True
