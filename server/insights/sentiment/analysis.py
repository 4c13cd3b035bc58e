"""Sentiment on demand: the model through the inference backend, a Redis prediction cache, and VADER
as the flagged fallback when the model tier fails or is too slow.

Transport-agnostic: plain values in, domain objects out, ``insights.errors`` raised.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prometheus_client import Counter

from insights.context import CallContext
from insights.errors import FieldViolation, ValidationError
from insights.inference.repository import ModelFiles
from insights.inference.text import MAX_TEXT_CHARS, normalize_text
from insights.inference.types import LABELS, MODEL_NAME, InferenceUnavailable, Prediction, SentimentBackend
from insights.infra.logging import get_logger
from insights.infra.redis import Redis
from insights.sentiment.cache import PredictionCache
from insights.sentiment.fallback import RULE_BASED, RuleBased
from insights.settings import InferenceSettings

log = get_logger(__name__)

MAX_BATCH = 32

PREDICTIONS = Counter("insights_sentiment_predictions_total", "Texts analysed on demand, by source",
                      ["source"])
FALLBACKS = Counter("insights_sentiment_fallbacks_total", "Analyses answered by the rule-based fallback")


@dataclass(frozen=True)
class SentimentResult:
    prediction: Prediction
    processing_time_ms: float


@dataclass(frozen=True)
class ModelInfoView:
    name: str
    version: str
    labels: list[str]
    metrics: dict[str, float]
    backend: str
    max_text_length: int


def _validate_text(violations: list[FieldViolation], field: str, text: str) -> None:
    if not normalize_text(text):
        violations.append(FieldViolation(field, "must contain text (empty or only whitespace)"))


class AnalysisService:
    def __init__(self, settings: InferenceSettings, backend: SentimentBackend, redis: Redis) -> None:
        self._settings = settings
        self._backend = backend
        self._files = ModelFiles.in_repository(settings.model_repository, settings.model_name)
        self._fingerprint = self._files.fingerprint()
        self._cache = PredictionCache(redis, settings.prediction_cache_ttl_s)
        self._rules = RuleBased()

    @property
    def backend(self) -> SentimentBackend:
        return self._backend

    async def analyze(self, ctx: CallContext, text: str) -> SentimentResult:
        violations: list[FieldViolation] = []
        _validate_text(violations, "text", text)
        if violations:
            raise ValidationError(violations)
        return (await self._analyze(ctx.require_principal().organization_id, [text]))[0]

    async def analyze_batch(self, ctx: CallContext, texts: list[str]) -> list[SentimentResult]:
        violations: list[FieldViolation] = []
        if not 1 <= len(texts) <= MAX_BATCH:
            violations.append(FieldViolation("texts", f"must hold between 1 and {MAX_BATCH} texts"))
        else:
            for i, text in enumerate(texts):
                _validate_text(violations, f"texts[{i}]", text)
        if violations:
            raise ValidationError(violations)
        return await self._analyze(ctx.require_principal().organization_id, texts)

    def _model_key(self, version: str) -> str:
        return f"{MODEL_NAME}-v{version}-{self._fingerprint}"

    async def _analyze(self, organization_id: UUID, texts: list[str]) -> list[SentimentResult]:
        started = time.perf_counter()
        normalized = [normalize_text(t) for t in texts]
        results: list[Prediction | None] = [None] * len(texts)

        version = self._backend.model_version
        if version is not None:
            keys = [self._cache.key(organization_id, self._model_key(version), n) for n in normalized]
            for i, hit in enumerate(await self._cache.get_many(keys)):
                if hit is not None and isinstance(hit.get("s"), list) and len(hit["s"]) == len(LABELS):
                    scores = {label: float(p) for label, p in zip(LABELS, hit["s"], strict=True)}
                    results[i] = Prediction(
                        label=max(LABELS, key=lambda k: scores[k]), scores=scores, model=MODEL_NAME,
                        model_version=str(hit.get("v", version)),
                        truncated=bool(hit.get("t")) or len(texts[i]) > MAX_TEXT_CHARS,
                    )
            PREDICTIONS.labels("cache").inc(sum(r is not None for r in results))

        misses = [i for i, r in enumerate(results) if r is None]
        if misses:
            try:
                predicted = await self._backend.predict(
                    [texts[i] for i in misses], timeout_s=self._settings.timeout_s
                )
            except InferenceUnavailable as exc:
                # Seed, error scenario 2: answer with the rule-based model, flagged as such, and
                # never cache it as a model answer.
                FALLBACKS.inc(len(misses))
                log.warning("analysis.fallback", reason=str(exc), texts=len(misses), backend=self._backend.name)
                predicted = await asyncio.to_thread(self._rules.predict, [texts[i] for i in misses])
                PREDICTIONS.labels(RULE_BASED).inc(len(misses))
            else:
                PREDICTIONS.labels("model").inc(len(misses))
                await self._cache.put_many({
                    self._cache.key(organization_id, self._model_key(p.model_version), normalized[i]): {
                        "s": [p.scores[label] for label in LABELS], "v": p.model_version, "t": p.truncated,
                    }
                    for i, p in zip(misses, predicted, strict=True)
                })
            for i, p in zip(misses, predicted, strict=True):
                results[i] = p

        elapsed_ms = (time.perf_counter() - started) * 1000
        return [SentimentResult(prediction=r, processing_time_ms=elapsed_ms) for r in results if r is not None]

    async def model_info(self, ctx: CallContext) -> ModelInfoView:
        metrics_file = await asyncio.to_thread(self._files.metrics)
        return ModelInfoView(
            name=MODEL_NAME,
            version=self._backend.model_version or self._files.latest_version() or "",
            labels=self._files.labels(),
            metrics=flatten_metrics(metrics_file),
            backend=self._backend.name,
            max_text_length=MAX_TEXT_CHARS,
        )


def flatten_metrics(data: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric entries of metrics.json; nested objects become ``outer_inner`` keys."""
    out: dict[str, float] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            out[name] = float(value)
        elif isinstance(value, dict):
            out.update(flatten_metrics(value, f"{name}_"))
    return out
