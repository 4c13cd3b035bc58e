"""Domain types of inference: predictions, the backend protocol and its one error type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

#: Order of the model's three logits (model_repository/sentiment/labels.json says the same).
LABELS: tuple[str, str, str] = ("negative", "neutral", "positive")
#: Name of the transformer model, as Triton knows it and as results report it.
MODEL_NAME = "sentiment"


Logits = npt.NDArray[np.float32]
TokenArray = npt.NDArray[np.int64]


#: Why the model tier did not answer (``InferenceUnavailable.reason``; metrics and the API name it).
UNAVAILABLE = "unavailable"
"""Down, unreachable, no model to load, or the run failed."""
CIRCUIT_OPEN = "circuit_open"
"""The breaker stopped calling a tier that kept failing."""
DEADLINE = "deadline"
"""No answer within the deadline of the call, which grows with its texts and windows: a tier that
misses it is hung or far behind, not merely slow."""


class InferenceUnavailable(Exception):
    """The model tier cannot answer now (down, unreachable, circuit open, far past the deadline).

    The only exception a backend raises: transport errors are converted at the boundary, so callers
    choose their fallback (rule-based answer, leave rows pending) without knowing the transport.
    """

    def __init__(self, message: str, *, retry_after_s: float = 1.0, reason: str = UNAVAILABLE) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.reason = reason

    def again(self) -> InferenceUnavailable:
        """A copy to raise for another caller (one exception object is never raised twice)."""
        return InferenceUnavailable(str(self), retry_after_s=self.retry_after_s, reason=self.reason)


@dataclass(frozen=True)
class Prediction:
    label: str
    scores: dict[str, float]
    """Probability per label; they sum to 1."""
    model: str
    """``sentiment`` for the transformer, ``rule-based`` for the VADER fallback."""
    model_version: str
    truncated: bool = False
    """The text was cut (characters or tokens) before the model read it."""

    @property
    def confidence(self) -> float:
        return max(self.scores.values())


def softmax(logits: Logits) -> npt.NDArray[np.float64]:
    # float64 so that the three probabilities sum to 1 well inside the 0.01 that docs/rules.md allows.
    z = logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: npt.NDArray[np.float64] = e / e.sum(axis=-1, keepdims=True)
    return out


def prediction_from_logits(
    logits: Logits, *, model_version: str, truncated: list[bool], temperature: float = 1.0
) -> list[Prediction]:
    """``temperature``: the version's calibration (inference/calibration.py); it changes confidences, never labels."""
    probs = softmax(logits / temperature if temperature != 1.0 else logits)
    out = []
    for row, cut in zip(probs, truncated, strict=True):
        scores = {label: float(p) for label, p in zip(LABELS, row, strict=True)}
        out.append(
            Prediction(
                label=LABELS[int(row.argmax())], scores=scores, model=MODEL_NAME, model_version=model_version,
                truncated=cut,
            )
        )
    return out


class SentimentBackend(Protocol):
    """What the analysis service and the worker need from a model tier."""

    name: str
    """``embedded`` or ``triton``."""

    @property
    def model_version(self) -> str | None:
        """The version that answers a call naming none: the latest served (``None`` until the backend has
        learned it)."""

    @property
    def versions(self) -> tuple[str, ...]:
        """Every version the backend serves now, oldest first (empty until it has learned them)."""

    async def start(self) -> None:
        """Begin loading/connecting; never blocks on the model tier being up."""

    async def predict(
        self, texts: list[str], *, timeout_s: float | None = None, background: bool = False,
        version: str | None = None,
    ) -> list[Prediction]:
        """One prediction per text, in order. Raises :class:`InferenceUnavailable` only.

        ``background``: no caller is waiting (the worker); such texts yield to on-demand ones.
        ``version``: the model version to run (``None``: :attr:`model_version`). A version the backend does
        not serve is answered by the latest one it does; each prediction's ``model_version`` names the
        version that really answered.
        """

    async def close(self) -> None: ...
