"""The canonical model repository (``model_repository/sentiment``): versions, tokenizer, labels, metrics.

Both backends read the tokenizer from here (tokenization is client side, so stock Triton and the
python-backend Triton receive the same ``input_ids``/``attention_mask``); the embedded backend and
the local Triton also read the weights from here, so there is one copy of them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from insights.inference.calibration import FILE_NAME as CALIBRATION_FILE
from insights.inference.calibration import Calibration
from insights.inference.text import MAX_TEXT_CHARS, MAX_TOKENS, normalize_text
from insights.inference.types import LABELS, MODEL_NAME, Logits, TokenArray


@dataclass(frozen=True)
class ModelFiles:
    directory: Path
    """``<repository>/sentiment``"""

    @classmethod
    def in_repository(cls, repository: Path, name: str = MODEL_NAME) -> ModelFiles:
        return cls(repository / name)

    @property
    def tokenizer_path(self) -> Path:
        return self.directory / "tokenizer.json"

    def versions(self) -> list[str]:
        """Numeric version folders that hold a model.onnx, oldest first (Triton's layout)."""
        if not self.directory.is_dir():
            return []
        found = [p.name for p in self.directory.iterdir() if p.name.isdigit() and (p / "model.onnx").is_file()]
        return sorted(found, key=int)

    def latest_version(self) -> str | None:
        versions = self.versions()
        return versions[-1] if versions else None

    def onnx_path(self, version: str) -> Path:
        return self.directory / version / "model.onnx"

    def calibration(self, version: str) -> Calibration:
        """The temperature published with a version's weights (T = 1 without one)."""
        return Calibration.read(self.directory / version / CALIBRATION_FILE)

    def labels(self) -> list[str]:
        path = self.directory / "labels.json"
        return list(json.loads(path.read_text())) if path.is_file() else list(LABELS)

    def metrics(self) -> dict[str, Any]:
        path = self.directory / "metrics.json"
        return dict(json.loads(path.read_text())) if path.is_file() else {}

    def fingerprint(self) -> str:
        """Short hash of the published metadata: a retrained model under the same version folder
        gets new metrics.json, and a recalibrated one a new calibration.json, so cached predictions of
        the old weights or the old temperature are never served for it."""
        digest = hashlib.sha256()
        paths = [self.directory / name for name in ("metrics.json", "labels.json", "tokenizer.json")]
        paths += [self.directory / version / CALIBRATION_FILE for version in self.versions()]
        for path in paths:
            if path.is_file():
                digest.update(path.read_bytes())
        return digest.hexdigest()[:8]


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    truncated: bool


class TextEncoder:
    """normalize_text → WordPiece (tokenizer.json, truncating to MAX_TOKENS) → right-padded int64 arrays."""

    def __init__(self, tokenizer_path: Path) -> None:
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.no_padding()  # padding is per batch, to the longest text in it
        if self._tokenizer.truncation is None:
            self._tokenizer.enable_truncation(max_length=MAX_TOKENS)

    def encode(self, texts: list[str]) -> list[Encoded]:
        encodings = self._tokenizer.encode_batch([normalize_text(t) for t in texts])
        return [
            Encoded(ids=list(e.ids), truncated=len(t) > MAX_TEXT_CHARS or bool(e.overflowing))
            for t, e in zip(texts, encodings, strict=True)
        ]

    @staticmethod
    def pad(batch: list[list[int]]) -> tuple[TokenArray, TokenArray]:
        """Right-pad with [PAD] (id 0) to the longest sequence; the mask marks real tokens."""
        width = max(len(ids) for ids in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        return input_ids, mask


def plan_buckets(lengths: list[int], overhead_tokens: int = 48, max_rows: int | None = None) -> list[list[int]]:
    """Split a batch into length buckets that minimise padded work.

    Cost of running a bucket ≈ rows x longest + a fixed per-run overhead (in token equivalents).
    Dynamic programming over the texts sorted by length finds the cheapest split, with at most
    ``max_rows`` texts per bucket (one model run's batch); with a few hundred texts it costs
    milliseconds. Returns lists of indices into ``lengths``.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    n = len(order)
    widest = n if max_rows is None else max(1, max_rows)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        longest = lengths[order[end - 1]]
        for start in range(max(0, end - widest), end):
            cost = best[start] + (end - start) * longest + overhead_tokens
            if cost < best[end]:
                best[end], cut[end] = cost, start
    buckets: list[list[int]] = []
    end = n
    while end > 0:
        buckets.append(order[cut[end] : end])
        end = cut[end]
    return buckets[::-1]


# Two token sequences for the batch-invariance probe ("hello world" and a longer one, [CLS]…[SEP]).
_PROBE_SHORT = [101, 7592, 2088, 102]
_PROBE_LONG = [101, *([2307, 2326] * 12), 102]


def is_batch_invariant(run: Callable[[TokenArray, TokenArray], Logits], tolerance: float = 1e-3) -> bool:
    """Whether a text's logits stay the same when it shares a (padded) batch with another text.

    True for fp32 graphs (padding is masked). False for int8 ``quantize_dynamic`` graphs: their
    activation scales are computed per tensor, over the whole batch and its padding, so a text's
    scores would depend on its batch-mates. Such models are run one text at a time (on this CPU
    that is also the faster way to run them).
    """
    alone = run(*TextEncoder.pad([_PROBE_SHORT]))[0]
    together = run(*TextEncoder.pad([_PROBE_SHORT, _PROBE_LONG]))[0]
    return bool(np.abs(alone - together).max() < tolerance)
