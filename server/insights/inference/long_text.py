"""Long texts are scored sentence-window by sentence-window, then combined.

The model learned from tweets (at most 163 characters after normalization). Read whole, a
1,000-character review is out of its distribution and it answers "neutral" for most of them: plot
summaries and context drown the verdict. So a text longer than :data:`WINDOW_CHARS` is cut at
sentence ends into windows no longer than the texts the model was trained on, every window is
scored, and the window scores are averaged with weight (1 - p_neutral)²: opinionated windows
decide, neutral ones count little, and a text whose every window is neutral stays neutral.

A text of up to :data:`WINDOW_CHARS` characters is one window, so its prediction is exactly the
model's (every training, validation and test tweet is). Nothing in the rule is fitted to data: the
window size comes from the training texts; the squared weighting was picked among three weightings
by their out-of-domain scores, which the model card says next to those scores.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from insights.inference.text import MAX_TEXT_CHARS, normalize_text
from insights.inference.types import LABELS, Prediction, SentimentBackend

#: Longest normalized text in the training split is 163 characters (p99 143).
WINDOW_CHARS = 160

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def split_windows(text: str, limit: int = WINDOW_CHARS) -> list[str]:
    """Normalized ``text`` as consecutive windows of whole sentences, each at most ``limit`` characters
    (a single longer sentence is its own window; the tokenizer truncates it)."""
    normalized = normalize_text(text)
    if len(normalized) <= limit:
        return [normalized]
    windows: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(normalized):
        if current and len(current) + 1 + len(sentence) > limit:
            windows.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        windows.append(current)
    return windows


def combine(window_scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Scores of one text from its windows' scores (rows sum to 1, columns in LABELS order)."""
    if len(window_scores) == 1:
        only: npt.NDArray[np.float64] = window_scores[0]
        return only
    neutral = LABELS.index("neutral")
    weights = (1.0 - window_scores[:, neutral]) ** 2 + 1e-9
    combined: npt.NDArray[np.float64] = (window_scores * weights[:, None]).sum(axis=0) / weights.sum()
    return combined


@dataclass(frozen=True)
class WindowPlan:
    """A call's texts and the windows each is scored by: what :class:`LongTextBackend` runs for them.

    A caller that needs the windows before the call (the analysis sizes its deadline by them) plans it
    once and hands the plan to :meth:`LongTextBackend.predict_plan`, so no text is cut twice.
    """

    texts: tuple[str, ...]
    windows: tuple[tuple[str, ...], ...]
    """Per text, in order: its normalized windows (one for a text of up to :data:`WINDOW_CHARS` characters)."""

    @classmethod
    def of(cls, texts: Sequence[str]) -> WindowPlan:
        return cls(tuple(texts), tuple(tuple(split_windows(text)) for text in texts))

    @property
    def window_count(self) -> int:
        return sum(len(per_text) for per_text in self.windows)


class LongTextBackend:
    """A :class:`SentimentBackend` that applies the window rule around another backend.

    All windows of all texts go to the inner backend in one call, so its batching still applies.
    """

    def __init__(self, inner: SentimentBackend) -> None:
        self._inner = inner
        self.name = inner.name

    @property
    def model_version(self) -> str | None:
        return self._inner.model_version

    @property
    def versions(self) -> tuple[str, ...]:
        return self._inner.versions

    async def start(self) -> None:
        await self._inner.start()

    async def close(self) -> None:
        await self._inner.close()

    async def predict(
        self, texts: list[str], *, timeout_s: float | None = None, background: bool = False,
        version: str | None = None,
    ) -> list[Prediction]:
        return await self.predict_plan(WindowPlan.of(texts), timeout_s=timeout_s, background=background,
                                       version=version)

    async def predict_plan(
        self, plan: WindowPlan, *, timeout_s: float | None = None, background: bool = False,
        version: str | None = None,
    ) -> list[Prediction]:
        """:meth:`predict` of the planned texts, by the plan's windows."""
        texts = list(plan.texts)
        if plan.window_count == len(texts):  # no long text: nothing to combine
            return await self._inner.predict(texts, timeout_s=timeout_s, background=background, version=version)
        flat = [w for per_text in plan.windows for w in per_text]
        scored = await self._inner.predict(flat, timeout_s=timeout_s, background=background, version=version)
        out: list[Prediction] = []
        start = 0
        for text, per_text in zip(texts, plan.windows, strict=True):
            parts = scored[start : start + len(per_text)]
            start += len(per_text)
            truncated = len(text) > MAX_TEXT_CHARS or any(p.truncated for p in parts)
            if len(parts) == 1:
                out.append(replace(parts[0], truncated=truncated))
                continue
            scores = combine(np.array([[p.scores[label] for label in LABELS] for p in parts]))
            out.append(replace(
                parts[0],
                label=LABELS[int(scores.argmax())],
                scores={label: float(s) for label, s in zip(LABELS, scores, strict=True)},
                truncated=truncated,
            ))
        return out
