"""Triton over gRPC (tritonclient.grpc.aio): deadlines, retries with back-off, a circuit breaker.

Works the same against stock Triton (onnxruntime backend, GPU) and the local python-backend Triton:
both receive the client-side tokenization as ``input_ids``/``attention_mask`` and return ``logits``.
Every transport error becomes :class:`InferenceUnavailable` here, at the boundary.

Triton serves every version folder (``version_policy: { all: {} }``); a call names the version it wants
(``model_version`` of the request) when Triton serves it, and otherwise asks for none, which Triton answers
with the latest: asking for a version Triton lacks would fail (and count against the breaker). The served
versions come from the model's metadata, re-read every :data:`VERSIONS_REFRESH_S` while calls arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from tritonclient.grpc import InferInput, InferRequestedOutput
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from insights.inference.breaker import CircuitBreaker
from insights.inference.repository import ModelFiles, TextEncoder, plan_buckets
from insights.inference.types import (
    DEADLINE,
    MODEL_NAME,
    UNAVAILABLE,
    InferenceUnavailable,
    Logits,
    Prediction,
    prediction_from_logits,
)
from insights.infra.logging import get_logger

log = get_logger(__name__)

#: The documented retry rule (docs/rules.md): three retries after 100, 200 and 400 ms.
RETRY_DELAYS_S = (0.1, 0.2, 0.4)
_RETRYABLE = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED", "INTERNAL", "UNKNOWN"}
_MAX_MESSAGE = 64 * 1024 * 1024
#: How old the list of served versions may get before a call re-reads it (in the background).
VERSIONS_REFRESH_S = 10.0


def _status_name(error: InferenceServerException) -> str:
    return str(error.status() or "").removeprefix("StatusCode.")


class TritonBackend:
    name = "triton"

    def __init__(
        self, url: str, files: ModelFiles, *, model_name: str = MODEL_NAME, max_batch: int = 32,
        default_timeout_s: float = 5.0, attempt_timeout_s: float = 2.0, attempt_per_text_s: float = 0.0,
        breaker: CircuitBreaker | None = None, retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
    ) -> None:
        self.url = url
        self._model_name = model_name
        self._max_batch = max_batch
        self._default_timeout_s = default_timeout_s
        self._attempt_timeout_s = attempt_timeout_s
        self._attempt_per_text_s = attempt_per_text_s
        self._retry_delays_s = retry_delays_s
        self.breaker = breaker or CircuitBreaker("triton")
        self._files = files
        self._encoder: TextEncoder | None = None
        self._served: tuple[str, ...] = ()
        self._served_at = float("-inf")
        self._client: InferenceServerClient | None = None
        self._version_task: asyncio.Task[None] | None = None
        self._temperatures: dict[str, float] = {}

    def _connect(self) -> InferenceServerClient:
        # Created inside the running event loop (grpc.aio channels belong to one loop).
        if self._client is None:
            self._client = InferenceServerClient(
                self.url,
                channel_args=[
                    ("grpc.max_send_message_length", _MAX_MESSAGE),
                    ("grpc.max_receive_message_length", _MAX_MESSAGE),
                    # gRPC's default reconnect back-off grows to 2 minutes: Triton coming back would go
                    # unnoticed that long. The breaker already limits how often a dead tier is tried.
                    ("grpc.initial_reconnect_backoff_ms", 100),
                    ("grpc.min_reconnect_backoff_ms", 100),
                    ("grpc.max_reconnect_backoff_ms", 1000),
                    ("grpc.keepalive_time_ms", 30_000),
                    ("grpc.keepalive_timeout_ms", 10_000),
                ],
            )
        return self._client

    def _temperature(self, version: str) -> float:
        """The calibration of a served version, from the client's copy of the repository (as the tokenizer
        is): Triton returns raw logits. A version the copy lacks is served uncalibrated (T = 1)."""
        if version not in self._temperatures:
            try:
                self._temperatures[version] = self._files.calibration(version).temperature
            except ValueError as exc:  # a malformed calibration.json: this tier is not usable for it
                raise InferenceUnavailable(str(exc), retry_after_s=5.0) from None
        return self._temperatures[version]

    def _get_encoder(self) -> TextEncoder:
        if self._encoder is None:
            try:
                self._encoder = TextEncoder(self._files.tokenizer_path)
            except Exception as exc:  # no tokenizer published: the model tier is not usable
                raise InferenceUnavailable(f"tokenizer not loadable: {exc}", retry_after_s=5.0) from None
        return self._encoder

    @property
    def model_version(self) -> str | None:
        return self._served[-1] if self._served else None

    @property
    def versions(self) -> tuple[str, ...]:
        return self._served

    async def start(self) -> None:
        # Learn the served versions for routing and the cache key; Triton being down now is not an error.
        self._refresh_versions()

    def _refresh_versions(self) -> None:
        if self._version_task is None or self._version_task.done():
            self._served_at = time.monotonic()
            self._version_task = asyncio.create_task(self._fetch_versions())

    async def _fetch_versions(self) -> None:
        with contextlib.suppress(InferenceServerException, OSError):
            metadata = await self._connect().get_model_metadata(self._model_name, client_timeout=2.0)
            if metadata.versions:
                self._served = tuple(sorted(metadata.versions, key=lambda v: int(v) if v.isdigit() else -1))

    async def predict(
        self, texts: list[str], *, timeout_s: float | None = None, background: bool = False,
        version: str | None = None,
    ) -> list[Prediction]:
        # ``background`` is not forwarded: Triton orders requests by its own scheduler (a deployment
        # that wants it configures priority_levels in the model's dynamic_batching).
        if not texts:
            return []
        if time.monotonic() - self._served_at > VERSIONS_REFRESH_S:
            self._refresh_versions()
        # A version Triton is not known to serve is not asked for: Triton's latest answers instead.
        wanted = version if version is not None and version in self._served else ""
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else self._default_timeout_s)
        encoded = self._get_encoder().encode(texts)
        # One call is one unit of work: every text (every window of an analysis) in length buckets of at
        # most max_batch rows (Triton's max_batch_size), sent at once; Triton's scheduler runs them
        # back to back. Short texts never pay for a long one's padding.
        buckets = plan_buckets([len(e.ids) for e in encoded], max_rows=self._max_batch)
        results = await asyncio.gather(
            *(self._infer([encoded[i].ids for i in bucket], deadline, wanted) for bucket in buckets),
            return_exceptions=True,
        )
        predictions: list[Prediction | None] = [None] * len(texts)
        for bucket, result in zip(buckets, results, strict=True):
            if isinstance(result, BaseException):
                if isinstance(result, InferenceUnavailable):
                    raise result.again()
                raise result
            logits, answered = result
            answers = prediction_from_logits(
                logits, model_version=answered, truncated=[encoded[i].truncated for i in bucket],
                temperature=self._temperature(answered),
            )
            for i, answer in zip(bucket, answers, strict=True):
                predictions[i] = answer
        return [p for p in predictions if p is not None]

    async def _infer(self, batch: list[list[int]], deadline: float, version: str) -> tuple[Logits, str]:
        input_ids, mask = TextEncoder.pad(batch)
        inputs = [InferInput("input_ids", list(input_ids.shape), "INT64"),
                  InferInput("attention_mask", list(mask.shape), "INT64")]
        inputs[0].set_data_from_numpy(input_ids)
        inputs[1].set_data_from_numpy(mask)
        outputs = [InferRequestedOutput("logits")]
        last_error = "deadline exceeded"
        reason = DEADLINE
        # A bigger request takes longer to run: the attempt's deadline grows with its rows.
        attempt_timeout_s = self._attempt_timeout_s + self._attempt_per_text_s * len(batch)
        for attempt in range(len(self._retry_delays_s) + 1):
            if attempt:
                delay = self._retry_delays_s[attempt - 1]
                if time.monotonic() + delay >= deadline:
                    break
                await asyncio.sleep(delay)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.breaker.acquire()
            verdict = False
            try:
                result = await self._connect().infer(
                    self._model_name, inputs, model_version=version, outputs=outputs,
                    client_timeout=min(remaining, attempt_timeout_s),
                )
                logits = result.as_numpy("logits")
                if logits is None or logits.shape != (len(batch), 3):
                    raise InferenceServerException(msg=f"unexpected logits shape {getattr(logits, 'shape', None)}",
                                                   status="StatusCode.INTERNAL")
                answered = result.get_response().model_version or version or self.model_version or ""
                self.breaker.success()
                verdict = True
                if answered and answered not in self._served:
                    self._refresh_versions()  # Triton serves a version this client has not seen yet
                return logits, answered
            except InferenceServerException as exc:
                self.breaker.failure()
                verdict = True
                last_error = f"{_status_name(exc)}: {exc.message()}"
                reason = DEADLINE if _status_name(exc) == "DEADLINE_EXCEEDED" else UNAVAILABLE
                log.warning("inference.triton.attempt_failed", attempt=attempt + 1, error=last_error)
                if _status_name(exc) not in _RETRYABLE:
                    break
            finally:
                if not verdict:
                    self.breaker.release()
        raise InferenceUnavailable(f"Triton at {self.url}: {last_error}", reason=reason)

    async def close(self) -> None:
        if self._version_task is not None:
            self._version_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._version_task
        if self._client is not None:
            await self._client.close()
            self._client = None
