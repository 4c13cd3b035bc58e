"""Which backend runs: Triton when ``TRITON_URL`` is set, else ONNX Runtime in process; either way
behind the long-text window rule."""

from __future__ import annotations

from insights.inference.breaker import CircuitBreaker
from insights.inference.embedded import EmbeddedBackend
from insights.inference.long_text import LongTextBackend
from insights.inference.repository import ModelFiles
from insights.inference.triton import TritonBackend
from insights.inference.types import SentimentBackend
from insights.settings import InferenceSettings


def build_backend(settings: InferenceSettings, triton_url: str | None, *,
                  background_chunk: int | None = None) -> LongTextBackend:
    """``background_chunk``: texts per run of a background job in process (default: the embedded
    backend's, small, so that on-demand calls wait little behind the worker)."""
    return LongTextBackend(_model_tier(settings, triton_url, background_chunk))


def _model_tier(settings: InferenceSettings, triton_url: str | None, background_chunk: int | None) -> SentimentBackend:
    files = ModelFiles.in_repository(settings.model_repository, settings.model_name)
    if triton_url:
        return TritonBackend(
            triton_url, files, model_name=settings.model_name, max_batch=settings.max_batch,
            default_timeout_s=settings.timeout_s, attempt_timeout_s=settings.triton_attempt_timeout_s,
            attempt_per_text_s=settings.timeout_per_window_s,
            breaker=CircuitBreaker("triton", threshold=settings.triton_breaker_threshold,
                                   reset_after_s=settings.triton_breaker_reset_s),
        )
    chunk = {"background_chunk": background_chunk} if background_chunk is not None else {}
    return EmbeddedBackend(
        files, threads=settings.threads, max_batch=settings.max_batch, window_ms=settings.batch_window_ms, **chunk,
    )
