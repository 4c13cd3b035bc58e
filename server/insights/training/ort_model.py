"""ONNX Runtime wrapper used by export checks, evaluation and the benchmark.

It reproduces what the server does: normalize_text → tokenizer.json (truncating) → right
padding to the longest text of the batch → int64 ``input_ids``/``attention_mask`` → logits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

from insights.text import normalize_text


def session_options(threads: int = 2) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads  # 2-core machine: one thread per core
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return opts


class OnnxSentiment:
    def __init__(self, model_path: Path, tokenizer_path: Path, threads: int = 2) -> None:
        self.session = ort.InferenceSession(
            str(model_path), session_options(threads), providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.input_names = {i.name for i in self.session.get_inputs()}

    def encode(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch([normalize_text(t) for t in texts])]

    def run_ids(self, ids: list[list[int]]) -> npt.NDArray[Any]:
        width = max(len(x) for x in ids)
        input_ids = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, seq in enumerate(ids):
            input_ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        logits: npt.NDArray[Any] = self.session.run(["logits"], feeds)[0]
        return logits

    def predict_logits(self, texts: list[str], batch_size: int = 32) -> npt.NDArray[Any]:
        """Logits in input order; texts are grouped by token length to keep padding small."""
        ids = self.encode(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.zeros((len(ids), 3), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            out[chunk] = self.run_ids([ids[i] for i in chunk])
        return out


def softmax(logits: npt.NDArray[Any]) -> npt.NDArray[Any]:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: npt.NDArray[Any] = e / e.sum(axis=1, keepdims=True)
    return out
