"""Sentiment inference: one client interface, two backends (Triton over gRPC, ONNX Runtime in process).

The core (analysis service, worker) only sees :class:`SentimentBackend`; which backend runs is a
deployment choice (``TRITON_URL`` set or not), see :func:`build_backend`.
"""

from insights.inference.types import (
    LABELS,
    MODEL_NAME,
    InferenceUnavailable,
    Prediction,
    SentimentBackend,
    prediction_from_logits,
)

__all__ = [
    "LABELS",
    "MODEL_NAME",
    "InferenceUnavailable",
    "Prediction",
    "SentimentBackend",
    "prediction_from_logits",
]
