"""Protobuf ⇄ domain for the analysis service. Its servicer calls these and nothing else does."""

from __future__ import annotations

from insights.analysis import ModelInfoView, SentimentResult
from insights.v1 import analysis_pb2, common_pb2


def sentiment_result(result: SentimentResult) -> analysis_pb2.SentimentResult:
    p = result.prediction
    return analysis_pb2.SentimentResult(
        sentiment=p.label,
        confidence=p.confidence,
        scores=common_pb2.SentimentScores(
            negative=p.scores["negative"], neutral=p.scores["neutral"], positive=p.scores["positive"]
        ),
        processing_time_ms=round(result.processing_time_ms, 3),
        model=p.model,
        model_version=p.model_version,
        truncated=p.truncated,
    )


def model_info(view: ModelInfoView) -> analysis_pb2.ModelInfo:
    return analysis_pb2.ModelInfo(
        name=view.name,
        version=view.version,
        labels=view.labels,
        metrics=view.metrics,
        backend=view.backend,
        max_text_length=view.max_text_length,
    )
