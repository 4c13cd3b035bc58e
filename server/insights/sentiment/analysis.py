"""Sentiment on demand: the model through the inference backend, a Redis prediction cache, and VADER
as the flagged fallback when the model tier is down, unreachable or its circuit open.

Each text is routed to a model version by the rollouts (``sentiment/rollout.py``: by organization and
normalized text, so that a retry and the cache agree); the cache is keyed by that version.

A slow answer of a healthy tier is still the model's: the deadline grows with the work (per text and
per sentence window), and a call slower than the response-time target is logged and counted instead.

Transport-agnostic: plain values in, domain objects out, ``insights.errors`` raised.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from prometheus_client import Counter, Histogram

from insights.context import CallContext
from insights.errors import FieldViolation, ValidationError
from insights.inference.long_text import LongTextBackend, WindowPlan
from insights.inference.repository import ModelFiles
from insights.inference.text import MAX_TEXT_CHARS, normalize_text
from insights.inference.types import LABELS, MODEL_NAME, InferenceUnavailable, Prediction, SentimentBackend
from insights.infra.logging import get_logger
from insights.infra.redis import Redis
from insights.sentiment.cache import PredictionCache
from insights.sentiment.fallback import RuleBased
from insights.sentiment.rollout import RolloutStore, traffic_shares
from insights.settings import InferenceSettings

log = get_logger(__name__)

MAX_BATCH = 32

#: Where an answer came from (``SentimentResult.source``, the API's ``source``).
SOURCE_MODEL = "model"
"""The transformer answered this call."""
SOURCE_CACHE = "cache"
"""The transformer's earlier answer for the same normalized text."""
SOURCE_FALLBACK = "fallback"
"""The rule-based model, because the model tier could not answer (``fallback_reason`` says why)."""

PREDICTIONS = Counter("insights_sentiment_predictions_total", "Texts analysed on demand, by source",
                      ["source"])
FALLBACKS = Counter("insights_sentiment_fallbacks_total", "Texts answered by the rule-based fallback, by reason",
                    ["reason"])
ANALYSIS_SECONDS = Histogram(
    "insights_sentiment_analysis_seconds", "Server-side time of an analysis call (single text or batch)", ["call"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0),
)
SLA_MISSES = Counter("insights_sentiment_sla_misses_total",
                     "Analysis calls slower than the response-time target (INSIGHTS_INFERENCE__SLA_S)", ["call"])


@dataclass(frozen=True)
class SentimentResult:
    prediction: Prediction
    processing_time_ms: float
    source: str = SOURCE_MODEL
    """``model``, ``cache`` or ``fallback``."""
    fallback_reason: str = ""
    """Why the fallback answered (``unavailable``, ``circuit_open``, ``deadline``); empty otherwise."""


@dataclass(frozen=True)
class VersionShare:
    """A model version answering the caller's organization, and its share of the traffic."""

    version: str
    role: str
    """``production`` (the stable version) or ``candidate``."""
    traffic_share: float


@dataclass(frozen=True)
class ModelInfoView:
    name: str
    version: str
    """The production version: the caller's rollout's stable version, else the latest served."""
    labels: list[str]
    metrics: dict[str, float]
    backend: str
    max_text_length: int
    versions: list[VersionShare] = field(default_factory=list)


def deadline_s(settings: InferenceSettings, plan: WindowPlan) -> float:
    """The model tier's deadline for a planned call: a fixed part, plus a part per text and per sentence
    window (what the backend runs), so that a batch of long reviews is given the time it needs."""
    return (settings.timeout_s + settings.timeout_per_text_s * len(plan.texts)
            + settings.timeout_per_window_s * plan.window_count)


def _validate_text(violations: list[FieldViolation], field: str, text: str) -> None:
    if not normalize_text(text):
        violations.append(FieldViolation(field, "must contain text (empty or only whitespace)"))


class AnalysisService:
    def __init__(
        self, settings: InferenceSettings, backend: LongTextBackend, redis: Redis, rollouts: RolloutStore | None = None
    ) -> None:
        self._settings = settings
        # The window rule's backend, not any SentimentBackend: a call's deadline is sized by the windows it runs.
        self._backend = backend
        self._rollouts = rollouts
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
        return (await self._analyze(ctx.require_principal().organization_id, [text], "single"))[0]

    async def analyze_batch(self, ctx: CallContext, texts: list[str]) -> list[SentimentResult]:
        violations: list[FieldViolation] = []
        if not 1 <= len(texts) <= MAX_BATCH:
            violations.append(FieldViolation("texts", f"must hold between 1 and {MAX_BATCH} texts"))
        else:
            for i, text in enumerate(texts):
                _validate_text(violations, f"texts[{i}]", text)
        if violations:
            raise ValidationError(violations)
        return await self._analyze(ctx.require_principal().organization_id, texts, "batch")

    def _model_key(self, version: str) -> str:
        return f"{MODEL_NAME}-v{version}-{self._fingerprint}"

    async def _versions(self, organization_id: UUID, normalized: list[str]) -> list[str | None]:
        """The model version each text is routed to (``None``: the backend's latest)."""
        if self._rollouts is None:
            return [None] * len(normalized)
        return await self._rollouts.versions([organization_id] * len(normalized), normalized, self._backend.versions)

    async def _analyze(self, organization_id: UUID, texts: list[str], call: str) -> list[SentimentResult]:
        started = time.perf_counter()
        normalized = [normalize_text(t) for t in texts]
        results: list[Prediction | None] = [None] * len(texts)
        sources = [SOURCE_CACHE] * len(texts)
        reason = ""
        routed = await self._versions(organization_id, normalized)

        # The cache is keyed by the routed version: two versions never share an answer.
        versions = [v or self._backend.model_version for v in routed]
        cached = [(i, v) for i, v in enumerate(versions) if v is not None]
        keys = [self._cache.key(organization_id, self._model_key(v), normalized[i]) for i, v in cached]
        for (i, version), hit in zip(cached, await self._cache.get_many(keys), strict=True):
            if hit is not None and isinstance(hit.get("s"), list) and len(hit["s"]) == len(LABELS):
                scores = {label: float(p) for label, p in zip(LABELS, hit["s"], strict=True)}
                results[i] = Prediction(
                    label=max(LABELS, key=lambda k: scores[k]), scores=scores, model=MODEL_NAME,
                    model_version=str(hit.get("v", version)),
                    truncated=bool(hit.get("t")) or len(texts[i]) > MAX_TEXT_CHARS,
                )
        PREDICTIONS.labels(SOURCE_CACHE).inc(sum(r is not None for r in results))

        # The misses, one backend call per routed version, side by side.
        groups: dict[str | None, list[int]] = {}
        for i, r in enumerate(results):
            if r is None:
                groups.setdefault(routed[i], []).append(i)
        # Each call is planned once: its windows size the deadline and are what the backend runs.
        batches = [(version, indices, WindowPlan.of([texts[i] for i in indices]))
                   for version, indices in groups.items()]
        answers = await asyncio.gather(*(
            self._backend.predict_plan(plan, timeout_s=deadline_s(self._settings, plan), version=version)
            for version, _, plan in batches
        ), return_exceptions=True)
        for (_, indices, plan), answer in zip(batches, answers, strict=True):
            if isinstance(answer, InferenceUnavailable):
                # docs/rules.md: a tier that cannot answer gets the rule-based model's answer, flagged as
                # such, and never cached as a model answer.
                reason = answer.reason
                FALLBACKS.labels(reason).inc(len(indices))
                log.warning("analysis.fallback", reason=reason, error=str(answer), texts=len(indices),
                            backend=self._backend.name)
                predicted = await asyncio.to_thread(self._rules.predict, list(plan.texts))
                PREDICTIONS.labels(SOURCE_FALLBACK).inc(len(indices))
                source = SOURCE_FALLBACK
            elif isinstance(answer, BaseException):
                raise answer
            else:
                predicted = answer
                PREDICTIONS.labels(SOURCE_MODEL).inc(len(indices))
                source = SOURCE_MODEL
                await self._cache.put_many({
                    self._cache.key(organization_id, self._model_key(p.model_version), normalized[i]): {
                        "s": [p.scores[label] for label in LABELS], "v": p.model_version, "t": p.truncated,
                    }
                    for i, p in zip(indices, predicted, strict=True)
                })
            for i, p in zip(indices, predicted, strict=True):
                results[i] = p
                sources[i] = source
        misses = [i for indices in groups.values() for i in indices]

        elapsed = time.perf_counter() - started
        ANALYSIS_SECONDS.labels(call).observe(elapsed)
        if elapsed > self._settings.sla_s:
            SLA_MISSES.labels(call).inc()
            log.warning("analysis.slow", call=call, seconds=round(elapsed, 3), sla_s=self._settings.sla_s,
                        texts=len(texts), computed=len(misses), backend=self._backend.name,
                        fallback_reason=reason or None)
        elapsed_ms = elapsed * 1000
        return [
            SentimentResult(prediction=r, processing_time_ms=elapsed_ms, source=source,
                            fallback_reason=reason if source == SOURCE_FALLBACK else "")
            for r, source in zip(results, sources, strict=True) if r is not None
        ]

    async def model_info(self, ctx: CallContext) -> ModelInfoView:
        metrics_file = await asyncio.to_thread(self._files.metrics)
        versions = await self._served_versions(ctx.require_principal().organization_id)
        return ModelInfoView(
            name=MODEL_NAME,
            version=versions[0].version if versions else "",
            labels=self._files.labels(),
            metrics=flatten_metrics(metrics_file),
            backend=self._backend.name,
            max_text_length=MAX_TEXT_CHARS,
            versions=versions,
        )

    async def _served_versions(self, organization_id: UUID) -> list[VersionShare]:
        """What answers the organization's texts: its rollout as far as the backend serves it (the fallback
        rule of sentiment/rollout.py), else the latest served version."""
        rollout = (await self._rollouts.current()).of(organization_id) if self._rollouts is not None else None
        latest = self._backend.model_version or self._files.latest_version()
        shares = traffic_shares(rollout, self._backend.versions, latest)
        return [VersionShare(version, "production" if i == 0 else "candidate", share)
                for i, (version, share) in enumerate(shares)]


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
