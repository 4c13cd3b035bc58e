"""ONNX Runtime in process, with asyncio micro-batching.

A ``predict`` call is one job: all its texts (for an analysis, every sentence window of its texts) go
to the model in one worker-thread run, which plans them into length buckets. Jobs that arrive while a
run is busy are merged into the next run, so batches grow with load without delaying a lone request
(``window_ms`` optionally waits for more jobs once the first has arrived). On-demand jobs run whole and
first; the worker's background jobs run in chunks of ``background_chunk`` texts, so an on-demand call
waits for one chunk at most. A batch-invariant model runs in length buckets of at most ``max_batch``
texts, one bucket at a time on ``threads`` intra-op threads, so a long review does not make short tweets
pay for its padding; an int8 dynamic one runs text by text, unpadded (see is_batch_invariant), so that a
text's scores never depend on what else was in the run, with ``threads`` such runs at once on one intra-op
thread each (one short text is too small a product to split across cores).

Every version folder of the repository is loaded (one session each: the models are small), so that a
candidate version can answer next to the stable one; a call names its version (``version=``), and texts of
several versions merged into one run go to their own sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from insights.inference.repository import ModelFiles, TextEncoder, is_batch_invariant, plan_buckets
from insights.inference.session import open_session
from insights.inference.types import (
    DEADLINE,
    InferenceUnavailable,
    Logits,
    Prediction,
    TokenArray,
    prediction_from_logits,
)
from insights.infra.logging import get_logger

log = get_logger(__name__)
RELOAD_AFTER_S = 5.0


@dataclass
class _Job:
    """One ``predict`` call: its texts, the answers so far (background jobs run in chunks), its future."""

    texts: list[str]
    future: asyncio.Future[list[Prediction]] = field(repr=False)
    version: str | None = None
    """The version asked for (``None``: the latest loaded)."""
    done: list[Prediction] = field(default_factory=list, repr=False)

    @property
    def live(self) -> bool:
        return not self.future.done()


class _Model:
    """The loaded session, its tokenizer and the version it came from (used from the worker thread)."""

    def __init__(self, files: ModelFiles, version: str, threads: int, overhead_tokens: int, max_rows: int) -> None:
        path = str(files.onnx_path(version))
        self.session = open_session(path, 1)
        self.encoder = TextEncoder(files.tokenizer_path)
        self.version = version
        self.temperature = files.calibration(version).temperature
        self._overhead = overhead_tokens
        self._max_rows = max_rows
        self.batch_invariant = is_batch_invariant(self._logits)
        # A batch-invariant model runs its length buckets one after another, each on every core (a bucket
        # is a large matrix product: intra-op threads split it well). A batch-variant one runs text by text,
        # and a single short text is too small to split across cores (two threads run it no faster than
        # one): its runs go to ``threads`` runners at once instead, one intra-op thread each.
        if self.batch_invariant and threads > 1:
            self.session = open_session(path, threads)
        self._runners = ThreadPoolExecutor(max_workers=1 if self.batch_invariant else threads,
                                           thread_name_prefix="onnx-run")

    def _logits(self, input_ids: TokenArray, mask: TokenArray) -> Logits:
        out: Logits = self.session.run(["logits"], {"input_ids": input_ids, "attention_mask": mask})[0]
        return out

    def plan(self, lengths: list[int]) -> list[list[int]]:
        """Model runs for texts of these token lengths: length buckets, or one text per run for a
        batch-variant (int8 dynamic) model, so that a text's scores never depend on its batch-mates."""
        if not self.batch_invariant:
            return [[i] for i in range(len(lengths))]
        return plan_buckets(lengths, self._overhead, self._max_rows)

    def run(self, texts: list[str]) -> list[Prediction]:
        encoded = self.encoder.encode(texts)
        lengths = [len(e.ids) for e in encoded]
        logits = np.zeros((len(texts), 3), dtype=np.float32)
        # Longest runs first, so that parallel runners finish together.
        runs = sorted(self.plan(lengths), key=lambda b: len(b) * max(lengths[i] for i in b), reverse=True)

        def one(bucket: list[int]) -> Logits:
            return self._logits(*TextEncoder.pad([encoded[i].ids for i in bucket]))

        for bucket, out in zip(runs, self._runners.map(one, runs), strict=True):
            logits[bucket] = out
        return prediction_from_logits(logits, model_version=self.version, truncated=[e.truncated for e in encoded],
                                      temperature=self.temperature)

    def close(self) -> None:
        self._runners.shutdown(wait=False, cancel_futures=True)


class _Models:
    """The loaded sessions by version; answers a version it lacks with the latest one (the predictions say so)."""

    def __init__(self, models: dict[str, _Model]) -> None:
        self.by_version = dict(sorted(models.items(), key=lambda item: int(item[0])))
        self.latest = next(reversed(self.by_version.values()))

    def pick(self, version: str | None) -> _Model:
        return self.by_version.get(version, self.latest) if version is not None else self.latest

    def run(self, texts: list[str], versions: list[str | None]) -> list[Prediction]:
        """One run of texts that may ask for different versions: each group of one version on its session."""
        groups: dict[str, list[int]] = {}
        for i, version in enumerate(versions):
            groups.setdefault(self.pick(version).version, []).append(i)
        out: list[Prediction | None] = [None] * len(texts)
        for version, indices in groups.items():
            for i, p in zip(indices, self.by_version[version].run([texts[i] for i in indices]), strict=True):
                out[i] = p
        return [p for p in out if p is not None]


def _load(files: ModelFiles, versions: list[str], threads: int, overhead_tokens: int, max_rows: int) -> _Models:
    """Every version that loads; one that does not is logged and left out (the others still serve)."""
    models: dict[str, _Model] = {}
    for version in versions:
        try:
            models[version] = _Model(files, version, threads, overhead_tokens, max_rows)
        except Exception as exc:
            log.error("inference.embedded.version_load_failed", version=version, error=str(exc))
    if not models:
        raise InferenceUnavailable(f"no model version under {files.directory} could be loaded",
                                   retry_after_s=RELOAD_AFTER_S)
    return _Models(models)


class EmbeddedBackend:
    name = "embedded"

    def __init__(
        self, files: ModelFiles, *, threads: int = 2, max_batch: int = 32, window_ms: float = 0.0,
        bucket_overhead_tokens: int = 48, background_chunk: int = 8, max_run_texts: int = 1024,
    ) -> None:
        self._files = files
        self._threads = threads
        self._max_batch = max_batch
        self._window_s = window_ms / 1000
        self._overhead = bucket_overhead_tokens
        # Two priority levels: on-demand jobs first, whole; the worker's background jobs in chunks of
        # ``background_chunk`` texts, so an API call queued behind a worker batch waits for one chunk at
        # most, not for the whole batch.
        self._background_chunk = background_chunk
        self._max_run_texts = max_run_texts
        self._interactive: deque[_Job] = deque()
        self._background: deque[_Job] = deque()
        self._work = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx")
        self._models: _Models | None = None
        self._loading: asyncio.Future[_Models] | None = None
        self._failed_at = 0.0
        self._batcher: asyncio.Task[None] | None = None
        self._on_disk = tuple(files.versions())

    @property
    def model_version(self) -> str | None:
        if self._models is not None:
            return self._models.latest.version
        return self._on_disk[-1] if self._on_disk else None

    @property
    def versions(self) -> tuple[str, ...]:
        """The loaded versions; before loading has finished, the folders it is loading."""
        return tuple(self._models.by_version) if self._models is not None else self._on_disk

    async def start(self) -> None:
        if self._batcher is None:
            self._batcher = asyncio.create_task(self._batch_loop(), name="embedded-batcher")
            # Load now, in the background: the first request should not pay for it.
            with contextlib.suppress(InferenceUnavailable):
                self._begin_load()

    def _begin_load(self) -> asyncio.Future[_Models]:
        if self._loading is None or (self._loading.done() and self._loading.exception() is not None):
            if self._loading is not None and time.monotonic() - self._failed_at < RELOAD_AFTER_S:
                raise InferenceUnavailable("sentiment model could not be loaded", retry_after_s=RELOAD_AFTER_S)
            self._on_disk = tuple(self._files.versions())
            if not self._on_disk:
                self._failed_at = time.monotonic()
                raise InferenceUnavailable(f"no model.onnx under {self._files.directory}", retry_after_s=RELOAD_AFTER_S)
            loop = asyncio.get_running_loop()
            self._loading = loop.run_in_executor(
                self._executor, _load, self._files, list(self._on_disk), self._threads, self._overhead,
                self._max_batch,
            )
            self._loading.add_done_callback(self._loaded)
        return self._loading

    def _loaded(self, future: asyncio.Future[_Models]) -> None:
        if future.cancelled():
            return
        if future.exception() is not None:
            self._failed_at = time.monotonic()
            log.error("inference.embedded.load_failed", error=str(future.exception()))
            return
        self._models = future.result()
        log.info("inference.embedded.loaded", versions=list(self._models.by_version), threads=self._threads,
                 batch_invariant={v: m.batch_invariant for v, m in self._models.by_version.items()})

    async def _get_models(self) -> _Models:
        if self._models is not None:
            return self._models
        try:
            return await asyncio.shield(self._begin_load())
        except InferenceUnavailable:
            raise
        except Exception as exc:
            raise InferenceUnavailable(f"sentiment model could not be loaded: {exc}") from None

    async def predict(
        self, texts: list[str], *, timeout_s: float | None = None, background: bool = False,
        version: str | None = None,
    ) -> list[Prediction]:
        if self._batcher is None:
            await self.start()
        if not texts:
            return []
        job = _Job(list(texts), asyncio.get_running_loop().create_future(), version)
        (self._background if background else self._interactive).append(job)
        self._work.set()
        try:
            async with asyncio.timeout(timeout_s):
                return await job.future
        except TimeoutError:
            raise InferenceUnavailable(
                f"sentiment model deadline of {timeout_s:.3g} s exceeded ({len(texts)} texts)", reason=DEADLINE
            ) from None
        finally:
            job.future.cancel()  # no-op when done; otherwise the batcher skips the job

    async def _next_run(self) -> tuple[list[_Job], list[str], bool]:
        """The next model run: every queued on-demand job whole, else a chunk of the oldest background job.
        Returns the jobs, the texts of the run, and whether it is a background chunk (the versions asked for
        follow from the jobs, see ``_versions_of``)."""
        while True:
            while not self._interactive and not self._background:
                self._work.clear()
                await self._work.wait()
            if self._interactive and self._window_s > 0:
                await asyncio.sleep(self._window_s)  # optional: let more on-demand jobs join
            jobs = self._take_interactive()
            if jobs:
                return jobs, [t for job in jobs for t in job.texts], False
            while self._background and not self._background[0].live:
                self._background.popleft()
            if self._background:
                job = self._background[0]
                start = len(job.done)
                return [job], job.texts[start : start + self._background_chunk], True

    def _take_interactive(self) -> list[_Job]:
        """Queued on-demand jobs, oldest first, whole, up to ``max_run_texts`` texts (at least one job)."""
        jobs: list[_Job] = []
        total = 0
        while self._interactive:
            job = self._interactive[0]
            if job.live and jobs and total + len(job.texts) > self._max_run_texts:
                break
            self._interactive.popleft()
            if job.live:
                jobs.append(job)
                total += len(job.texts)
        return jobs

    @staticmethod
    def _drain(queue: deque[_Job]) -> list[_Job]:
        jobs = list(queue)
        queue.clear()
        return jobs

    async def _batch_loop(self) -> None:
        while True:
            jobs, texts, chunk = await self._next_run()
            try:
                predictions = await self._run(texts, self._versions_of(jobs, len(texts), chunk))
            except InferenceUnavailable as exc:
                for job in jobs:
                    if job.live:
                        job.future.set_exception(exc.again())
                if chunk:
                    self._background.popleft()
                continue
            if chunk:
                job = jobs[0]
                job.done += predictions
                if len(job.done) == len(job.texts):
                    self._background.popleft()
                    if job.live:
                        job.future.set_result(job.done)
                continue
            start = 0
            for job in jobs:
                answer = predictions[start : start + len(job.texts)]
                start += len(job.texts)
                if job.live:
                    job.future.set_result(answer)

    @staticmethod
    def _versions_of(jobs: list[_Job], n_texts: int, chunk: bool) -> list[str | None]:
        """The version asked for, per text of a run (a chunk is all one job's)."""
        if chunk:
            return [jobs[0].version] * n_texts
        return [job.version for job in jobs for _ in job.texts]

    async def _run(self, texts: list[str], versions: list[str | None]) -> list[Prediction]:
        models = await self._get_models()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, models.run, texts, versions)
        except Exception as exc:  # an ORT failure is this tier failing, never a crash of the batcher
            log.exception("inference.embedded.run_failed")
            raise InferenceUnavailable(f"inference failed: {exc}") from None

    async def close(self) -> None:
        if self._batcher is not None:
            self._batcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._batcher
            self._batcher = None
        for queue in (self._interactive, self._background):
            for job in self._drain(queue):
                if job.live:
                    job.future.set_exception(InferenceUnavailable("inference backend closed"))
        self._executor.shutdown(wait=False, cancel_futures=True)
        for model in self._models.by_version.values() if self._models is not None else ():
            model.close()
