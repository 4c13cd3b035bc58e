"""AnalysisService conversions (api/converters/analysis.py): sentiment answers and model information."""

from __future__ import annotations

from typing import Any

import pytest

from insights.api.converters.analysis import model_info, sentiment_result
from insights.inference.types import Prediction
from insights.sentiment.analysis import ModelInfoView, SentimentResult, VersionShare
from insights.v1 import analysis_pb2

PREDICTION = Prediction(label="positive", scores={"negative": 0.05, "neutral": 0.15, "positive": 0.8},
                        model="sentiment", model_version="3", truncated=True)


@pytest.mark.parametrize("response", [analysis_pb2.AnalyzeSentimentResponse, analysis_pb2.SentimentResult])
def test_sentiment_result_for_a_single_text_and_a_batch_item(response: Any) -> None:
    """A single answer and a batch item share fields; the time is rounded to microseconds."""
    message = sentiment_result(response, SentimentResult(PREDICTION, processing_time_ms=1.23456))
    assert type(message) is response
    assert (message.sentiment, message.confidence, message.model, message.model_version, message.truncated) == (
        "positive", 0.8, "sentiment", "3", True)
    assert (message.scores.negative, message.scores.neutral, message.scores.positive) == (0.05, 0.15, 0.8)
    assert message.processing_time_ms == 1.235
    assert (message.source, message.fallback_reason) == ("model", "")
    fallback = sentiment_result(response, SentimentResult(PREDICTION, 2.0, source="fallback",
                                                          fallback_reason="circuit_open"))
    assert (fallback.source, fallback.fallback_reason) == ("fallback", "circuit_open")


def test_model_info_lists_the_versions_with_their_roles_and_shares_or_none() -> None:
    """The production version and a candidate with their shares; no model (fallback): none."""
    view = ModelInfoView(name="sentiment", version="3", labels=["negative", "neutral", "positive"],
                         metrics={"test_macro_f1": 0.797}, backend="embedded", max_text_length=10_000,
                         versions=[VersionShare("3", "production", 0.75), VersionShare("4", "candidate", 0.25)])
    message = model_info(view)
    assert (message.name, message.version, list(message.labels), dict(message.metrics), message.backend,
            message.max_text_length) == ("sentiment", "3", ["negative", "neutral", "positive"],
                                         {"test_macro_f1": 0.797}, "embedded", 10_000)
    assert [(v.version, v.role, v.traffic_share) for v in message.versions] == [
        ("3", "production", 0.75), ("4", "candidate", 0.25)]
    assert list(model_info(ModelInfoView("sentiment", "", [], {}, "rule-based", 10_000)).versions) == []
