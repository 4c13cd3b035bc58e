"""Real Triton (2.51 from PyPI nvidia-pytriton, python backend running the same model.onnx).

One Triton for the module (started once, ~3 s), used to check that both backends agree and that a
Triton-backed platform survives Triton going away: ingestion continues, analysis answers rule-based,
and every interaction stored meanwhile is scored by the model once Triton is back.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from insights.dev.local_triton import LocalTriton
from insights.inference.embedded import EmbeddedBackend
from insights.inference.long_text import LongTextBackend
from insights.inference.triton import TritonBackend
from insights.inference.types import InferenceUnavailable, SentimentBackend
from tests.fixtures.databases import create_database, drop_database
from tests.inference_support import (
    AGREEMENT_TEXTS,
    MODEL_FILES,
    MODEL_REPOSITORY,
    analyze,
    assert_score_invariants,
    eventually,
    long_reviews,
    new_analyst_org,
    requires_model,
)
from tests.ingest_support import event
from tests.support import Stack, wait_until

pytestmark = [requires_model, pytest.mark.slow]


@pytest.fixture(scope="module")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTriton]:
    server = LocalTriton(MODEL_REPOSITORY, tmp_path_factory.mktemp("triton"), threads=2)
    server.start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def backends(triton: LocalTriton) -> AsyncIterator[tuple[TritonBackend, EmbeddedBackend]]:
    remote = TritonBackend(triton.url, MODEL_FILES)
    local = EmbeddedBackend(MODEL_FILES)
    await remote.start()
    await local.start()
    yield remote, local
    await remote.close()
    await local.close()


async def test_triton_and_embedded_agree_on_every_test_text(backends: tuple[TritonBackend, EmbeddedBackend]) -> None:
    remote, local = backends
    # Raw model answers, and the served path that scores long texts window by window.
    pairs: list[tuple[SentimentBackend, SentimentBackend]] = [
        (remote, local), (LongTextBackend(remote), LongTextBackend(local))]
    for (triton_side, embedded_side), texts in itertools.product(
            pairs, (AGREEMENT_TEXTS, *([t] for t in AGREEMENT_TEXTS))):
        via_triton = await triton_side.predict(texts, timeout_s=60)
        in_process = await embedded_side.predict(texts, timeout_s=60)
        for text, a, b in zip(texts, via_triton, in_process, strict=True):
            assert a.label == b.label, text
            assert a.model_version == b.model_version == MODEL_FILES.latest_version()
            assert a.truncated == b.truncated
            for k in a.scores:
                assert a.scores[k] == pytest.approx(b.scores[k], abs=1e-3), text


def test_local_triton_serves_the_canonical_weights_in_place(triton: LocalTriton) -> None:
    model = triton.workdir / "models" / "sentiment"
    assert (model / str(MODEL_FILES.latest_version()) / "model.py").is_symlink()
    assert not list(triton.workdir.rglob("*.onnx")), "the weights are read from model_repository, never copied"
    config = (model / "config.pbtxt").read_text()
    assert 'backend: "python"' in config and str(MODEL_FILES.directory.resolve()) in config


async def test_triton_down_opens_the_breaker_and_recovers(triton: LocalTriton) -> None:
    from insights.inference.breaker import BreakerState, CircuitBreaker

    backend = TritonBackend(triton.url, MODEL_FILES, breaker=CircuitBreaker("t", threshold=3, reset_after_s=0.5))
    try:
        assert (await backend.predict(["hello"], timeout_s=30))[0].model == "sentiment"
        triton.stop()
        with pytest.raises(InferenceUnavailable):
            await backend.predict(["hello"], timeout_s=5)  # 4 attempts: 0, +100, +200, +400 ms
        assert backend.breaker.state is BreakerState.OPEN
        with pytest.raises(InferenceUnavailable, match="circuit open"):
            await backend.predict(["hello"], timeout_s=5)
    finally:
        triton.start().wait_ready()

    async def answers() -> bool:
        try:
            return (await backend.predict(["hello"], timeout_s=5))[0].model == "sentiment"
        except InferenceUnavailable:
            return False

    # The breaker half-opens after 0.5 s; its probe finds Triton back and closes it.
    await eventually(answers, 30, "the Triton backend to answer again")
    assert backend.breaker.state is BreakerState.CLOSED
    await backend.close()


@pytest.fixture(scope="module")
def triton_stack(triton: LocalTriton, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # A private database: no other server's worker may score the rows this module leaves pending.
    url = create_database()
    stack = Stack(
        url, redis_url, Path(tmp_path_factory.mktemp("triton-stack")),
        extra_env={
            "TRITON_URL": triton.url,
            "INSIGHTS_INFERENCE__MODEL_REPOSITORY": str(MODEL_REPOSITORY),
            "INSIGHTS_INFERENCE__TRITON_BREAKER_RESET_S": "1",
            "INSIGHTS_WORKER__POLL_INTERVAL_S": "0.2",
        },
    ).start()
    yield stack
    stack.stop()
    drop_database(url)


def test_with_triton_stopped_ingestion_continues_analysis_falls_back_and_pending_rows_are_scored_later(
    triton: LocalTriton, triton_stack: Stack,
) -> None:
    org = new_analyst_org(triton_stack)
    with triton_stack.client() as http:
        info = http.get("/api/insights/model", headers=org.headers)
        assert info.status_code == 200 and info.json()["backend"] == "triton", info.text
        up = analyze(http, org, "The new dashboard is brilliant")
        assert up.status_code == 200 and up.json()["model"] == "sentiment", up.text
        reviews = long_reviews(32)
        batch = http.post("/api/insights/analyze", headers=org.headers, json={"texts": reviews})
        assert batch.status_code == 200, batch.text
        assert [(r["model"], r["source"]) for r in batch.json()["results"]] == [("sentiment", "model")] * 32

        triton.stop()
        try:
            texts = ["I am furious, my order never arrived", "Thanks, the agent solved it in minutes",
                     "Where is my invoice?", "Refund took three weeks, unacceptable", "Smooth checkout"]
            stored = http.post("/api/data/ingest/batch", headers=org.headers,
                               json={"interactions": [event(content=t) for t in texts]})
            assert stored.status_code == 200, stored.text
            assert stored.json()["successful"] == len(texts)
            ids = [r["interactionId"] for r in stored.json()["results"]]

            fallback = analyze(http, org, "I am furious, my order never arrived")
            assert fallback.status_code == 200, fallback.text
            assert fallback.json()["model"] == "rule-based"
            assert fallback.json()["source"] == "fallback"
            assert fallback.json()["fallbackReason"] in {"unavailable", "circuit_open"}
            assert_score_invariants(fallback.json())
            # New texts (none cached) while the tier is down: every one rule-based, flagged, with the reason.
            down = http.post("/api/insights/analyze", headers=org.headers, json={"texts": long_reviews(32, seed=12)})
            assert down.status_code == 200, down.text
            for result in down.json()["results"]:
                assert (result["model"], result["source"]) == ("rule-based", "fallback"), result
                assert result["fallbackReason"] in {"unavailable", "circuit_open"}, result
                assert_score_invariants(result)

            with psycopg.connect(triton_stack.database_url) as owner:
                still = owner.execute("SELECT count(*) FROM customer_interactions WHERE id = ANY(%s::uuid[])"
                                      " AND processed_at IS NULL", (ids,)).fetchone()
            assert still == (len(texts),), "without the model, interactions stay pending (no rule-based scores)"
        finally:
            triton.start().wait_ready()

        def all_scored_by_model() -> bool:
            with psycopg.connect(triton_stack.database_url) as owner:
                rows = owner.execute("SELECT sentiment->>'model', sentiment->>'version' FROM customer_interactions"
                                     " WHERE id = ANY(%s::uuid[])", (ids,)).fetchall()
            return rows == [("sentiment", MODEL_FILES.latest_version())] * len(texts)

        wait_until(all_scored_by_model, 60, "the worker to score every pending interaction with the model")
        wait_until(lambda: analyze(http, org, "Smooth checkout").json().get("model") == "sentiment", 30,
                   "analysis to use the model again")
