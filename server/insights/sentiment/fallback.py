"""The rule-based fallback (VADER), shaped like the model's answer and flagged as such."""

from __future__ import annotations

from insights.inference.text import MAX_TEXT_CHARS
from insights.inference.types import LABELS, Prediction

RULE_BASED = "rule-based"
RULE_BASED_VERSION = "vader-3.3.2"


class RuleBased:
    """VADER, shaped like the model's answer: three scores summing to 1, confidence = top score.

    The label follows VADER's documented rule (compound >= 0.05 positive, <= -0.05 negative); the
    scores put (1 + |compound|)/2 on that label and the rest on neutral, so the label is the top score.
    """

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()

    def predict_one(self, text: str) -> Prediction:
        compound = float(self._analyzer.polarity_scores(text[:MAX_TEXT_CHARS])["compound"])
        strength = abs(compound)
        if compound >= 0.05:
            scores = {"negative": 0.0, "neutral": (1 - strength) / 2, "positive": (1 + strength) / 2}
        elif compound <= -0.05:
            scores = {"negative": (1 + strength) / 2, "neutral": (1 - strength) / 2, "positive": 0.0}
        else:
            scores = {"negative": max(-compound, 0.0), "neutral": 1 - strength, "positive": max(compound, 0.0)}
        label = max(LABELS, key=lambda k: scores[k])
        return Prediction(label=label, scores=scores, model=RULE_BASED, model_version=RULE_BASED_VERSION,
                          truncated=len(text) > MAX_TEXT_CHARS)

    def predict(self, texts: list[str]) -> list[Prediction]:
        return [self.predict_one(t) for t in texts]
