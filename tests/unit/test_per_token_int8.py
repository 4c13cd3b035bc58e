"""The per-token int8 rewrite of the published model: batch-invariant, close to the model it came from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from insights.inference.repository import ModelFiles, TextEncoder, is_batch_invariant
from insights.inference.session import open_session
from insights.inference.types import Logits, TokenArray

pytest.importorskip("onnx")  # a training dependency, not a server one
ROOT = Path(__file__).resolve().parents[2]
FILES = ModelFiles.in_repository(ROOT / "model_repository")
TEXTS = ["great service, thanks!", "the app keeps crashing since the update and nobody answers my emails",
         "ok", "Delivery was late again. Not impressed.", "I love it"]


@pytest.fixture(scope="module")
def rewritten(tmp_path_factory: pytest.TempPathFactory, training_module: Callable[[str], ModuleType]) -> Path:
    per_token = training_module("per_token_int8")
    dst = tmp_path_factory.mktemp("per_token") / "model.onnx"
    summary = per_token.rewrite(FILES.onnx_path("3"), dst)
    assert (summary.quantizers, summary.products, summary.attentions) == (25, 19, 6)
    return dst


def _run(path: Path, threads: int = 1) -> tuple[Any, TextEncoder]:
    return open_session(str(path), threads), TextEncoder(FILES.tokenizer_path)


def test_rewritten_model_is_batch_invariant(rewritten: Path) -> None:
    session, encoder = _run(rewritten, threads=2)

    def logits(input_ids: TokenArray, mask: TokenArray) -> Logits:
        out: Logits = session.run(["logits"], {"input_ids": input_ids, "attention_mask": mask})[0]
        return out

    assert is_batch_invariant(logits)
    ids = [e.ids for e in encoder.encode(TEXTS)]
    alone = np.concatenate([logits(*TextEncoder.pad([row])) for row in ids])
    together = logits(*TextEncoder.pad(ids))
    assert np.abs(together - alone).max() < 1e-4


def test_rewritten_model_agrees_with_the_published_one(rewritten: Path) -> None:
    new, encoder = _run(rewritten)
    old, _ = _run(FILES.onnx_path("3"))
    for e in encoder.encode(TEXTS):
        feed = dict(zip(("input_ids", "attention_mask"), TextEncoder.pad([e.ids]), strict=True))
        a = old.run(["logits"], feed)[0]
        b = new.run(["logits"], feed)[0]
        assert a.argmax() == b.argmax()
        assert np.abs(a - b).max() < 0.5


def test_version_4_is_version_3_with_its_layer_norms_split_byte_for_byte(
        tmp_path: Path, training_module: Callable[[str], ModuleType]) -> None:
    """The committed version 4 is what `make model-v4` makes of version 3: same weights, same quantization,
    only each SkipLayerNormalization written as Sum + LayerNormalization (no longer fused back at load)."""
    import hashlib

    import onnx

    per_token = training_module("per_token_int8")
    dst = tmp_path / "model.onnx"
    summary = per_token.rewrite(FILES.onnx_path("3"), dst, "per-tensor")
    assert (summary.quantizers, summary.layer_norms) == (0, 12)
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(FILES.onnx_path("4").read_bytes()).digest()
    ops = {n.op_type for n in onnx.load(str(dst)).graph.node}
    assert "SkipLayerNormalization" not in ops and {"Sum", "LayerNormalization", "MatMulInteger"} <= ops
