"""The inference client in process: tokenization, batching, the embedded ONNX backend, the breaker,
the rule-based fallback and the score invariants (Hypothesis), the prediction cache in a real Redis.

The model is the real one (model_repository/sentiment); Triton has its own module
(test_inference_triton.py).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from insights.context import CallContext, Principal
from insights.errors import ValidationError
from insights.inference.breaker import BreakerState, CircuitBreaker
from insights.inference.embedded import EmbeddedBackend
from insights.inference.long_text import WINDOW_CHARS, LongTextBackend, WindowPlan, combine, split_windows
from insights.inference.repository import ModelFiles, TextEncoder, plan_buckets
from insights.inference.text import MAX_TEXT_CHARS, MAX_TOKENS
from insights.inference.types import InferenceUnavailable, Prediction
from insights.infra.redis import Redis
from insights.sentiment.analysis import AnalysisService, deadline_s
from insights.sentiment.fallback import RULE_BASED, RuleBased
from tests.inference_support import (
    AGREEMENT_TEXTS,
    MODEL_FILES,
    inference_settings,
    requires_model,
    two_version_repository,
)

ORGANIZATION = uuid.uuid4()
CTX = CallContext(request_id="test", client_ip="127.0.0.1", principal=Principal(
    kind="api_key", id=uuid.uuid4(), organization_id=ORGANIZATION, permissions=frozenset({"analysis:run"})))


def check_score_invariants(p: Prediction) -> None:
    assert set(p.scores) == {"negative", "neutral", "positive"}
    assert all(0.0 <= s <= 1.0 for s in p.scores.values())
    assert abs(sum(p.scores.values()) - 1.0) < 0.01
    assert p.confidence == max(p.scores.values())
    assert p.label == max(p.scores, key=lambda k: p.scores[k])


# --- pure parts -------------------------------------------------------------------------------

def test_buckets_cover_every_text_once_and_split_far_apart_lengths() -> None:
    lengths = [5, 128, 6, 7, 120, 5, 9]
    buckets = plan_buckets(lengths)
    assert sorted(i for b in buckets for i in b) == list(range(len(lengths)))
    # Short tweets do not pay for two long reviews' padding.
    assert any(set(b) == {1, 4} for b in buckets)
    assert plan_buckets([10] * 32) == [list(range(32))]


def test_breaker_opens_after_threshold_and_half_opens_after_delay() -> None:
    now = [0.0]
    breaker = CircuitBreaker("t", threshold=3, reset_after_s=5.0, clock=lambda: now[0])
    for _ in range(3):
        breaker.acquire()
        breaker.failure()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(InferenceUnavailable):
        breaker.acquire()
    now[0] = 5.0
    breaker.acquire()  # the one probe
    with pytest.raises(InferenceUnavailable):
        breaker.acquire()  # others wait for the probe's verdict
    breaker.failure()
    assert breaker.state is BreakerState.OPEN
    now[0] = 10.0
    breaker.acquire()
    breaker.success()
    assert breaker.state is BreakerState.CLOSED
    breaker.acquire()


def test_rule_based_fallback_has_valid_scores() -> None:
    rules = RuleBased()
    for text in ["I love it", "I hate it", "The sky is blue", "x" * 5000, "😀", ""]:
        p = rules.predict_one(text)
        check_score_invariants(p)
        assert p.model == RULE_BASED
    assert rules.predict_one("This is wonderful, I love it").label == "positive"
    assert rules.predict_one("This is terrible, I hate it").label == "negative"
    assert rules.predict_one("x" * (MAX_TEXT_CHARS + 1)).truncated


@requires_model
def test_tokenizer_truncates_and_pads() -> None:
    encoder = TextEncoder(MODEL_FILES.tokenizer_path)
    short, long, cut = encoder.encode(["hello", "word " * 500, "x" * (MAX_TEXT_CHARS + 1)])
    assert not short.truncated and long.truncated and cut.truncated
    assert len(long.ids) == MAX_TOKENS
    ids, mask = TextEncoder.pad([short.ids, long.ids])
    assert ids.shape == mask.shape == (2, MAX_TOKENS)
    assert mask[0].sum() == len(short.ids) and ids[0, len(short.ids):].sum() == 0


def test_short_text_is_one_window_and_long_text_splits_at_sentence_ends() -> None:
    assert split_windows("  Great   flight, thanks @delta! ") == ["Great flight, thanks @user!"]
    review = ("The film opens in a small town in 1950. " * 3 + "The acting is wonderful and I loved every minute. "
              + "A" * 200 + ". The end.")
    windows = split_windows(review)
    assert " ".join(windows) == review.strip()
    assert all(len(w) <= WINDOW_CHARS or " " not in w for w in windows), windows
    # Three plot sentences packed together, the verdict, the over-long run alone, then "The end.".
    assert len(windows) == 4


def test_combining_lets_opinionated_windows_decide() -> None:
    neutral, positive = [0.1, 0.8, 0.1], [0.05, 0.1, 0.85]
    one = np.array([neutral])
    assert combine(one).tolist() == neutral  # one window: the model's own scores
    mixed = combine(np.array([neutral, neutral, neutral, positive]))
    assert mixed.argmax() == 2 and mixed.sum() == pytest.approx(1.0)
    assert combine(np.array([neutral, neutral])).argmax() == 1  # nothing opinionated stays neutral


# --- the embedded backend ---------------------------------------------------------------------

@pytest.fixture(scope="module")
async def embedded() -> AsyncIterator[EmbeddedBackend]:
    if MODEL_FILES.latest_version() is None:
        pytest.skip("no model.onnx")
    backend = EmbeddedBackend(MODEL_FILES, threads=2)
    await backend.start()
    yield backend
    await backend.close()


@requires_model
async def test_a_published_temperature_tempers_only_its_version(tmp_path: Path) -> None:
    """Version 4 (the same weights) publishes T = 2: its log-odds are half of version 3's, its labels the same."""
    repository = two_version_repository(tmp_path)
    (repository / "sentiment" / "4" / "calibration.json").write_text(json.dumps({"temperature": 2.0}))
    backend = EmbeddedBackend(ModelFiles.in_repository(repository), threads=2)
    try:
        raw = await backend.predict(AGREEMENT_TEXTS, timeout_s=60, version="3")
        tempered = await backend.predict(AGREEMENT_TEXTS, timeout_s=60, version="4")
    finally:
        await backend.close()
    for a, b in zip(raw, tempered, strict=True):
        assert (a.model_version, b.model_version) == ("3", "4")
        assert a.label == b.label and b.confidence <= a.confidence
        log_odds = [np.log(p.scores["positive"] / p.scores["negative"]) for p in (a, b)]
        assert log_odds[1] == pytest.approx(log_odds[0] / 2, rel=1e-4, abs=1e-6)


async def test_embedded_scores_in_order_and_independent_of_batching(embedded: EmbeddedBackend) -> None:
    together = await embedded.predict(AGREEMENT_TEXTS, timeout_s=60)
    alone = [(await embedded.predict([t], timeout_s=60))[0] for t in AGREEMENT_TEXTS]
    # Concurrent single-text calls are merged by the micro-batcher; results must not depend on it.
    concurrent = await asyncio.gather(*(embedded.predict([t], timeout_s=60) for t in AGREEMENT_TEXTS))
    for a, b, (c,) in zip(together, alone, concurrent, strict=True):
        check_score_invariants(a)
        assert a.label == b.label == c.label
        for k in a.scores:
            assert a.scores[k] == pytest.approx(b.scores[k], abs=1e-4)
            assert a.scores[k] == pytest.approx(c.scores[k], abs=1e-4)
    assert together[AGREEMENT_TEXTS.index("x" * 1500)].truncated
    assert not together[0].truncated and together[0].model_version == MODEL_FILES.latest_version()


async def test_on_demand_texts_overtake_the_workers_background_batch(embedded: EmbeddedBackend) -> None:
    background = asyncio.create_task(
        embedded.predict([f"background text number {i}" for i in range(64)], timeout_s=120, background=True)
    )
    await asyncio.sleep(0)  # let the background texts reach the queue first
    (answer,) = await embedded.predict(["an analyst is waiting for this one"], timeout_s=120)
    assert answer.model == "sentiment"
    assert not background.done(), "the interactive text waited for at most one background chunk"
    assert len(await background) == 64


async def test_embedded_deadline_becomes_inference_unavailable(embedded: EmbeddedBackend) -> None:
    with pytest.raises(InferenceUnavailable):
        await embedded.predict(["long text " * 100] * 64, timeout_s=0.000001)
    # The backend is still usable afterwards.
    assert len(await embedded.predict(["still here"], timeout_s=60)) == 1


async def test_embedded_without_model_is_unavailable(tmp_path: object) -> None:
    from pathlib import Path

    from insights.inference.repository import ModelFiles

    backend = EmbeddedBackend(ModelFiles(Path(str(tmp_path)) / "sentiment"))
    await backend.start()
    with pytest.raises(InferenceUnavailable):
        await backend.predict(["hello"], timeout_s=5)
    await backend.close()


async def test_long_review_is_scored_by_its_verdict_not_its_plot_summary(embedded: EmbeddedBackend) -> None:
    plot = ("The story follows a retired teacher who moves to a coastal town. She meets her neighbours. "
            "The second half takes place during the winter festival. ") * 3
    verdicts = {"positive": "I absolutely loved it, wonderful acting and a beautiful ending.",
                "negative": "It was awful, boring and a complete waste of money."}
    windowed = LongTextBackend(embedded)
    for label, verdict in verdicts.items():
        review = plot + verdict
        assert len(split_windows(review)) > 1
        (prediction,) = await windowed.predict([review], timeout_s=60)
        check_score_invariants(prediction)
        assert prediction.label == label, prediction.scores
        assert prediction.model == "sentiment" and not prediction.truncated
    # Short texts pass through untouched, in order, next to long ones.
    texts = [AGREEMENT_TEXTS[0], plot + verdicts["negative"], AGREEMENT_TEXTS[1], "x" * 1500]
    both = await windowed.predict(texts, timeout_s=60)
    plain = await embedded.predict([texts[0], texts[2]], timeout_s=60)
    assert [both[0].scores, both[2].scores] == [p.scores for p in plain]
    assert both[3].truncated


# --- the analysis service: score invariants on arbitrary text, validation, cache ----------------------

@pytest.fixture(scope="module")
async def service(embedded: EmbeddedBackend, database_url: str, redis_url: str) -> AsyncIterator[AnalysisService]:
    settings = inference_settings(database_url, redis_url, inference={"timeout_s": 30.0})
    redis = Redis.from_settings(settings)
    yield AnalysisService(settings.inference, LongTextBackend(embedded), redis)
    await redis.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=0, max_size=1500))
async def test_score_invariants_on_arbitrary_text(service: AnalysisService, text: str) -> None:
    if not text.strip():
        with pytest.raises(ValidationError) as failure:
            await service.analyze(CTX, text)
        assert [v.field for v in failure.value.violations] == ["text"]
        return
    result = await service.analyze(CTX, text)
    check_score_invariants(result.prediction)
    assert result.prediction.model == "sentiment"
    assert result.prediction.truncated or len(text) <= MAX_TEXT_CHARS
    assert result.processing_time_ms >= 0


async def test_batch_validation_names_each_field(service: AnalysisService) -> None:
    with pytest.raises(ValidationError) as failure:
        await service.analyze_batch(CTX, ["fine", "  ", "\n"])
    assert [v.field for v in failure.value.violations] == ["texts[1]", "texts[2]"]
    for texts in ([], ["x"] * 33):
        with pytest.raises(ValidationError) as failure:
            await service.analyze_batch(CTX, texts)
        assert [v.field for v in failure.value.violations] == ["texts"]


async def test_predictions_are_cached_per_model_version(service: AnalysisService, redis_url: str) -> None:
    import redis

    text = f"cache me {uuid.uuid4()}"
    first = await service.analyze(CTX, text)
    keys = redis.Redis.from_url(redis_url).keys(f"ml:{ORGANIZATION}:*")
    version = MODEL_FILES.latest_version()
    assert any(k.decode().startswith(f"ml:{ORGANIZATION}:sentiment-v{version}-") for k in keys)
    second = await service.analyze(CTX, "  " + text + "  ")  # same normalized text: a cache hit
    assert second.prediction.scores == first.prediction.scores


async def test_model_tier_failure_answers_rule_based_and_is_not_cached(
    database_url: str, redis_url: str
) -> None:
    # A backend whose model tier is down: an embedded backend with no model to load (a real failure).
    from pathlib import Path

    from insights.inference.repository import ModelFiles

    broken = EmbeddedBackend(ModelFiles(Path("/nonexistent") / "sentiment"))
    settings = inference_settings(database_url, redis_url)
    redis_client = Redis.from_settings(settings)
    service = AnalysisService(settings.inference, LongTextBackend(broken), redis_client)
    results = await service.analyze_batch(CTX, ["I love it", "I hate it"])
    assert [r.prediction.model for r in results] == [RULE_BASED, RULE_BASED]
    assert [r.prediction.label for r in results] == ["positive", "negative"]
    assert [(r.source, r.fallback_reason) for r in results] == [("fallback", "unavailable")] * 2
    for r in results:
        check_score_invariants(r.prediction)
    await broken.close()
    await redis_client.close()


class Slow:
    """A healthy tier that takes its time: the real embedded backend behind a fixed delay."""

    def __init__(self, inner: EmbeddedBackend, delay_s: float) -> None:
        self.inner, self.delay_s, self.name = inner, delay_s, "slow"
        self.timeouts: list[float | None] = []

    @property
    def model_version(self) -> str | None:
        return self.inner.model_version

    @property
    def versions(self) -> tuple[str, ...]:
        return self.inner.versions

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def predict(self, texts: list[str], *, timeout_s: float | None = None,
                      background: bool = False, version: str | None = None) -> list[Prediction]:
        self.timeouts.append(timeout_s)
        async with asyncio.timeout(timeout_s):
            await asyncio.sleep(self.delay_s)
            return await self.inner.predict(texts, timeout_s=timeout_s, background=background, version=version)


async def test_a_slow_healthy_tier_answers_with_the_model_and_misses_the_sla(
    embedded: EmbeddedBackend, database_url: str, redis_url: str
) -> None:
    from prometheus_client import REGISTRY

    from tests.inference_support import long_reviews

    settings = inference_settings(database_url, redis_url, inference={"sla_s": 0.01, "prediction_cache_ttl_s": 0})
    slow = Slow(embedded, delay_s=0.05)
    redis_client = Redis.from_settings(settings)
    service = AnalysisService(settings.inference, LongTextBackend(slow), redis_client)
    misses = REGISTRY.get_sample_value("insights_sentiment_sla_misses_total", {"call": "batch"}) or 0.0
    reviews = long_reviews(8)
    results = await service.analyze_batch(CTX, reviews)
    assert [(r.prediction.model, r.source) for r in results] == [("sentiment", "model")] * 8
    assert REGISTRY.get_sample_value("insights_sentiment_sla_misses_total", {"call": "batch"}) == misses + 1
    # The deadline grows with the work: texts and their sentence windows.
    windows = sum(len(split_windows(r)) for r in reviews)
    inference = settings.inference
    assert slow.timeouts == [pytest.approx(inference.timeout_s + 8 * inference.timeout_per_text_s
                                           + windows * inference.timeout_per_window_s)]
    planned = [deadline_s(inference, WindowPlan.of(texts)) for texts in (reviews, reviews[:1], ["short"])]
    assert planned[0] > planned[1] > planned[2]
    await redis_client.close()


async def test_redis_down_skips_the_cache(embedded: EmbeddedBackend, database_url: str) -> None:
    from tests.support import free_port

    # A real fault: nothing listens on this port.
    settings = inference_settings(database_url, f"redis://127.0.0.1:{free_port()}/0", inference={"timeout_s": 30.0})
    redis_client = Redis.from_settings(settings)
    service = AnalysisService(settings.inference, LongTextBackend(embedded), redis_client)
    result = await service.analyze(CTX, "Redis is down but the model is not")
    assert result.prediction.model == "sentiment"
    await redis_client.close()
