"""Classification metrics in plain numpy (macro-F1, accuracy, per-class recall): one definition for the training
package's evaluation (``insights_training.metrics`` re-exports it) and ``insights model compare``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from insights.inference.types import LABELS


def scores(y_true: Sequence[int] | npt.NDArray[Any], y_pred: Sequence[int] | npt.NDArray[Any],
           labels: Sequence[int] = (0, 1, 2)) -> dict[str, float]:
    """macro_f1 / accuracy / recall_<label> / f1_<label>, averaged over ``labels`` only.

    Restricting ``labels`` lets a 2-class reference corpus be scored on its own two classes while
    the model may still answer "neutral" (which then simply counts as a miss).
    """
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    out: dict[str, float] = {"accuracy": float((t == p).mean()) if len(t) else 0.0}
    f1s = []
    for c in labels:
        tp = float(((t == c) & (p == c)).sum())
        support = float((t == c).sum())
        predicted = float((p == c).sum())
        recall = tp / support if support else 0.0
        precision = tp / predicted if predicted else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[f"recall_{LABELS[c]}"] = recall
        out[f"f1_{LABELS[c]}"] = f1
        f1s.append(f1)
    out["macro_f1"] = float(np.mean(f1s))
    return out


def macro_f1(y_true: Sequence[int] | npt.NDArray[Any], y_pred: Sequence[int] | npt.NDArray[Any]) -> float:
    return scores(y_true, y_pred)["macro_f1"]
