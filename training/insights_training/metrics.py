"""Classification metrics (macro-F1, accuracy, per-class recall), defined in the serving package
(``insights.inference.metrics``) so that ``insights model compare`` scores versions exactly as the evaluation does."""

from __future__ import annotations

from insights.inference.metrics import macro_f1, scores

__all__ = ["macro_f1", "scores"]
