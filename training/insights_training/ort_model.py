"""ONNX Runtime wrapper used by export checks, evaluation and the benchmark.

It reproduces what the server does: normalize_text → tokenizer.json (truncating) → right
padding to the longest text of the batch → int64 ``input_ids``/``attention_mask`` → logits, and
(:meth:`OnnxSentiment.predict_scores`) the long-text window rule on top.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from insights.inference.long_text import combine, split_windows
from insights.inference.repository import TextEncoder, is_batch_invariant
from insights.inference.session import open_session


class OnnxSentiment:
    def __init__(self, model_path: Path, tokenizer_path: Path, threads: int = 2) -> None:
        # The server's own options (insights.inference.session), so timings measure what it runs.
        self.session = open_session(str(model_path), threads)
        self.encoder = TextEncoder(tokenizer_path)
        self.input_names = {i.name for i in self.session.get_inputs()}
        # As in the server: an int8 dynamic graph is run text by text (see is_batch_invariant).
        self.batch_invariant = is_batch_invariant(self.run_arrays)

    def run_arrays(self, input_ids: npt.NDArray[Any], mask: npt.NDArray[Any]) -> npt.NDArray[Any]:
        logits: npt.NDArray[Any] = self.session.run(["logits"], {"input_ids": input_ids, "attention_mask": mask})[0]
        return logits

    def encode(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.encoder.encode(texts)]

    def run_ids(self, ids: list[list[int]]) -> npt.NDArray[Any]:
        return self.run_arrays(*TextEncoder.pad(ids))

    def predict_logits(self, texts: list[str], batch_size: int = 32) -> npt.NDArray[Any]:
        """Logits in input order; texts are grouped by token length to keep padding small."""
        ids = self.encode(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.zeros((len(ids), 3), dtype=np.float32)
        step = batch_size if self.batch_invariant else 1
        for start in range(0, len(order), step):
            chunk = order[start : start + step]
            out[chunk] = self.run_ids([ids[i] for i in chunk])
        return out

    def predict_scores(self, texts: list[str], batch_size: int = 32) -> npt.NDArray[Any]:
        """Probabilities in input order, long texts scored by windows exactly as the server does."""
        windows = [split_windows(t) for t in texts]
        probs = softmax(self.predict_logits([w for per_text in windows for w in per_text], batch_size))
        bounds = np.cumsum([0] + [len(w) for w in windows])
        return np.stack([combine(probs[a:b]) for a, b in itertools.pairwise(bounds)])


def softmax(logits: npt.NDArray[Any]) -> npt.NDArray[Any]:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: npt.NDArray[Any] = e / e.sum(axis=1, keepdims=True)
    return out
