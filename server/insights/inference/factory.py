"""Which backend runs: Triton when ``TRITON_URL`` is set, else ONNX Runtime in process; either way
behind the long-text window rule."""

from __future__ import annotations

from insights.inference.breaker import CircuitBreaker
from insights.inference.embedded import EmbeddedBackend
from insights.inference.long_text import LongTextBackend
from insights.inference.repository import ModelFiles
from insights.inference.triton import TritonBackend
from insights.inference.types import SentimentBackend
from insights.settings import Settings


def build_backend(settings: Settings) -> SentimentBackend:
    return LongTextBackend(_model_tier(settings))


def _model_tier(settings: Settings) -> SentimentBackend:
    files = ModelFiles.in_repository(settings.model_repository, settings.triton_model_name)
    if settings.triton_url:
        return TritonBackend(
            settings.triton_url, files, model_name=settings.triton_model_name, max_batch=settings.inference_max_batch,
            default_timeout_s=settings.inference_timeout_s, attempt_timeout_s=settings.triton_attempt_timeout_s,
            breaker=CircuitBreaker("triton", threshold=settings.triton_breaker_threshold,
                                   reset_after_s=settings.triton_breaker_reset_s),
        )
    return EmbeddedBackend(
        files, threads=settings.inference_threads, max_batch=settings.inference_max_batch,
        window_ms=settings.inference_batch_window_ms,
    )
