"""Protobuf <-> domain for AnalysisService."""

from __future__ import annotations

from typing import Protocol, TypeVar

from insights.sentiment.analysis import ModelInfoView, SentimentResult
from insights.v1 import analysis_pb2, common_pb2


class _Answer(Protocol):
    def __init__(
        self, *, sentiment: str, confidence: float, scores: common_pb2.SentimentScores, processing_time_ms: float,
        model: str, model_version: str, truncated: bool, source: str, fallback_reason: str,
    ) -> None: ...


Answer = TypeVar("Answer", bound=_Answer)


def sentiment_result(response: type[Answer], result: SentimentResult) -> Answer:
    """A single text's answer (AnalyzeSentimentResponse) and a batch item (SentimentResult) share fields."""
    p = result.prediction
    return response(
        sentiment=p.label,
        confidence=p.confidence,
        scores=common_pb2.SentimentScores(
            negative=p.scores["negative"], neutral=p.scores["neutral"], positive=p.scores["positive"]
        ),
        processing_time_ms=round(result.processing_time_ms, 3),
        model=p.model,
        model_version=p.model_version,
        truncated=p.truncated,
        source=result.source,
        fallback_reason=result.fallback_reason,
    )


def model_info(view: ModelInfoView) -> analysis_pb2.GetModelInfoResponse:
    return analysis_pb2.GetModelInfoResponse(
        name=view.name, version=view.version, labels=view.labels, metrics=view.metrics, backend=view.backend,
        max_text_length=view.max_text_length,
        versions=[analysis_pb2.ModelVersion(version=v.version, role=v.role, traffic_share=v.traffic_share)
                  for v in view.versions],
    )
