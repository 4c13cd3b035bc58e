"""ONNX Runtime in process, with asyncio micro-batching.

Concurrent ``predict`` calls put their texts on one queue; a single batcher task takes up to
``max_batch`` texts and runs them in one worker thread. Texts that arrive while a run is busy queue
up and form the next batch, so batches grow with load without delaying a lone request
(``window_ms`` optionally waits for more texts once the first has arrived). One ORT run at a time,
each using ``threads`` intra-op threads: on a 2-core machine two concurrent runs would only fight
over the cores. A batch-invariant (fp32) model runs in length buckets, so a long review does not make
31 short tweets pay for its padding; an int8 dynamic one runs text by text (see is_batch_invariant).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from insights.inference.repository import ModelFiles, TextEncoder, is_batch_invariant, plan_buckets
from insights.inference.session import open_session
from insights.inference.types import InferenceUnavailable, Logits, Prediction, TokenArray, prediction_from_logits
from insights.infra.logging import get_logger

log = get_logger(__name__)
RELOAD_AFTER_S = 5.0


@dataclass
class _Item:
    text: str
    future: asyncio.Future[Prediction] = field(repr=False)


class _Model:
    """The loaded session, its tokenizer and the version it came from (used from the worker thread)."""

    def __init__(self, files: ModelFiles, version: str, threads: int, overhead_tokens: int) -> None:
        self.session = open_session(str(files.onnx_path(version)), threads)
        self.encoder = TextEncoder(files.tokenizer_path)
        self.version = version
        self._overhead = overhead_tokens
        self.batch_invariant = is_batch_invariant(self._logits)

    def _logits(self, input_ids: TokenArray, mask: TokenArray) -> Logits:
        out: Logits = self.session.run(["logits"], {"input_ids": input_ids, "attention_mask": mask})[0]
        return out

    def run(self, texts: list[str]) -> list[Prediction]:
        encoded = self.encoder.encode(texts)
        logits = np.zeros((len(texts), 3), dtype=np.float32)
        lengths = [len(e.ids) for e in encoded]
        # A batch-variant (int8 dynamic) model runs each text alone, so that a text's scores never
        # depend on what else was in the queue; others run in length buckets.
        buckets = plan_buckets(lengths, self._overhead) if self.batch_invariant else [[i] for i in range(len(texts))]
        for bucket in buckets:
            logits[bucket] = self._logits(*TextEncoder.pad([encoded[i].ids for i in bucket]))
        return prediction_from_logits(logits, model_version=self.version, truncated=[e.truncated for e in encoded])


class EmbeddedBackend:
    name = "embedded"

    def __init__(
        self, files: ModelFiles, *, threads: int = 2, max_batch: int = 32, window_ms: float = 0.0,
        bucket_overhead_tokens: int = 48, background_chunk: int = 8,
    ) -> None:
        self._files = files
        self._threads = threads
        self._max_batch = max_batch
        self._window_s = window_ms / 1000
        self._overhead = bucket_overhead_tokens
        # Two priority levels (requests queue by priority): on-demand analysis first,
        # the worker's background texts in chunks of ``background_chunk``, so an API call queued behind
        # a worker batch waits for one chunk at most, not for 32 texts.
        self._background_chunk = background_chunk
        self._interactive: asyncio.Queue[_Item] = asyncio.Queue()
        self._background: asyncio.Queue[_Item] = asyncio.Queue()
        self._work = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx")
        self._model: _Model | None = None
        self._loading: asyncio.Future[_Model] | None = None
        self._failed_at = 0.0
        self._batcher: asyncio.Task[None] | None = None
        self._version = files.latest_version()

    @property
    def model_version(self) -> str | None:
        return self._model.version if self._model else self._version

    async def start(self) -> None:
        if self._batcher is None:
            self._batcher = asyncio.create_task(self._batch_loop(), name="embedded-batcher")
            # Load now, in the background: the first request should not pay for it.
            with contextlib.suppress(InferenceUnavailable):
                self._begin_load()

    def _begin_load(self) -> asyncio.Future[_Model]:
        if self._loading is None or (self._loading.done() and self._loading.exception() is not None):
            if self._loading is not None and time.monotonic() - self._failed_at < RELOAD_AFTER_S:
                raise InferenceUnavailable("sentiment model could not be loaded", retry_after_s=RELOAD_AFTER_S)
            version = self._files.latest_version()
            if version is None:
                self._failed_at = time.monotonic()
                raise InferenceUnavailable(f"no model.onnx under {self._files.directory}", retry_after_s=RELOAD_AFTER_S)
            loop = asyncio.get_running_loop()
            self._loading = loop.run_in_executor(
                self._executor, _Model, self._files, version, self._threads, self._overhead
            )
            self._loading.add_done_callback(self._loaded)
        return self._loading

    def _loaded(self, future: asyncio.Future[_Model]) -> None:
        if future.cancelled():
            return
        if future.exception() is not None:
            self._failed_at = time.monotonic()
            log.error("inference.embedded.load_failed", error=str(future.exception()))
            return
        self._model = future.result()
        log.info("inference.embedded.loaded", version=self._model.version, threads=self._threads,
                 batch_invariant=self._model.batch_invariant)

    async def _get_model(self) -> _Model:
        if self._model is not None:
            return self._model
        try:
            return await asyncio.shield(self._begin_load())
        except InferenceUnavailable:
            raise
        except Exception as exc:
            raise InferenceUnavailable(f"sentiment model could not be loaded: {exc}") from None

    async def predict(
        self, texts: list[str], *, timeout_s: float | None = None, background: bool = False
    ) -> list[Prediction]:
        if self._batcher is None:
            await self.start()
        if not texts:
            return []
        loop = asyncio.get_running_loop()
        items = [_Item(text, loop.create_future()) for text in texts]
        queue = self._background if background else self._interactive
        for item in items:
            queue.put_nowait(item)
        self._work.set()
        futures = [item.future for item in items]
        try:
            async with asyncio.timeout(timeout_s):
                results = await asyncio.gather(*futures, return_exceptions=True)
        except TimeoutError:
            raise InferenceUnavailable("sentiment model deadline exceeded") from None
        finally:
            for fut in futures:
                fut.cancel()  # no-op when done; otherwise the batcher skips the text
        for result in results:
            if isinstance(result, InferenceUnavailable):
                raise InferenceUnavailable(str(result), retry_after_s=result.retry_after_s)
            if isinstance(result, BaseException):
                raise InferenceUnavailable(f"inference failed: {result!r}")
        return [r for r in results if isinstance(r, Prediction)]

    async def _next_batch(self) -> list[_Item]:
        while self._interactive.empty() and self._background.empty():
            self._work.clear()
            await self._work.wait()
        if not self._interactive.empty() and self._window_s > 0:
            await asyncio.sleep(self._window_s)  # optional: let more interactive texts join
        batch: list[_Item] = []
        while len(batch) < self._max_batch and not self._interactive.empty():
            batch.append(self._interactive.get_nowait())
        if not batch:
            while len(batch) < self._background_chunk and not self._background.empty():
                batch.append(self._background.get_nowait())
        return batch

    async def _batch_loop(self) -> None:
        while True:
            live = [item for item in await self._next_batch() if not item.future.done()]
            if live:
                await self._run(live)

    async def _run(self, items: list[_Item]) -> None:
        try:
            model = await self._get_model()
            loop = asyncio.get_running_loop()
            predictions = await loop.run_in_executor(self._executor, model.run, [i.text for i in items])
        except InferenceUnavailable as exc:
            for item in items:
                if not item.future.done():
                    item.future.set_exception(InferenceUnavailable(str(exc), retry_after_s=exc.retry_after_s))
            return
        except Exception as exc:  # an ORT failure is this tier failing, never a crash of the batcher
            log.exception("inference.embedded.run_failed")
            for item in items:
                if not item.future.done():
                    item.future.set_exception(InferenceUnavailable(f"inference failed: {exc}"))
            return
        for item, prediction in zip(items, predictions, strict=True):
            if not item.future.done():
                item.future.set_result(prediction)

    async def close(self) -> None:
        if self._batcher is not None:
            self._batcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._batcher
            self._batcher = None
        for queue in (self._interactive, self._background):
            while not queue.empty():
                item = queue.get_nowait()
                if not item.future.done():
                    item.future.set_exception(InferenceUnavailable("inference backend closed"))
        self._executor.shutdown(wait=False, cancel_futures=True)
