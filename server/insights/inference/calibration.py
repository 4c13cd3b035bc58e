"""Confidence calibration: one temperature per model version, so that "confidence 0.9" means right about
9 times in 10.

A fine-tuned classifier is overconfident (its softmax top score is higher than its accuracy). Dividing
the logits by a temperature T > 1 before the softmax fixes most of that without changing any label (the
arg-max of z/T is the arg-max of z). T is fitted on the validation split by minimising the negative log
likelihood (``insights model calibrate``) and published next to the weights it belongs to, in
``<version>/calibration.json``; a version without the file is served with T = 1 (its raw softmax).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FILE_NAME = "calibration.json"
ECE_BINS = 15


@dataclass(frozen=True)
class Calibration:
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a positive number, not {self.temperature!r}")

    @classmethod
    def read(cls, path: Path) -> Calibration:
        """The calibration published at ``path``; T = 1 when there is none. A malformed file raises
        ``ValueError``: the version is not served with a guessed calibration."""
        if not path.is_file():
            return cls()
        try:
            data: Any = json.loads(path.read_text())
            return cls(temperature=float(data["temperature"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a calibration ({exc})") from None


def expected_calibration_error(
    probabilities: npt.NDArray[np.float64], labels: npt.NDArray[np.int64], bins: int = ECE_BINS
) -> float:
    """ECE: the gap between confidence (top probability) and accuracy, averaged over equal-width
    confidence bins weighted by how many predictions fall in each."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in itertools.pairwise(edges):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            total += float(in_bin.mean()) * abs(float(correct[in_bin].mean()) - float(confidence[in_bin].mean()))
    return total


def fit_temperature(logits: npt.NDArray[np.float64], labels: npt.NDArray[np.int64]) -> float:
    """The temperature that minimises the negative log likelihood of ``labels`` (bounded search over
    0.05 to 20; the likelihood is unimodal in T)."""
    from scipy.optimize import minimize_scalar  # the local extra: fitting is offline, serving needs none

    rows = np.arange(len(labels))

    def nll(temperature: float) -> float:
        z = logits / temperature
        z = z - z.max(axis=1, keepdims=True)
        log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-log_probs[rows, labels].mean())

    result = minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded", options={"xatol": 1e-4})
    return float(result.x)
