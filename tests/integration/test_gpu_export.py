"""The fp16 GPU export (insights_training.gpu_export) of the published int8 model, checked on the CPU."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from insights.inference.repository import ModelFiles, TextEncoder, is_batch_invariant
from insights.inference.session import open_session
from tests.support import REPO_ROOT

FILES = ModelFiles.in_repository(REPO_ROOT / "model_repository")
TEXTS = ["I love this, thank you!", "worst service ever, never again", "the parcel arrived on tuesday",
         "not bad at all", "I waited two hours and nobody called back. Terrible.", "ok"]


def gpu_export() -> Any:
    pytest.importorskip("onnx")
    with pytest.MonkeyPatch.context() as patch:  # the training package is not installed without its extras
        patch.syspath_prepend(str(REPO_ROOT / "training"))
        return importlib.import_module("insights_training.gpu_export")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    version = FILES.latest_version()
    if version is None:
        pytest.skip("model_repository/sentiment/<version>/model.onnx does not exist yet")
    work = tmp_path_factory.mktemp("gpu")
    return gpu_export().export_gpu(FILES.onnx_path(version), work / "model.onnx", fp32_dir=work), work


def logits(path: Path, texts: list[str]) -> Any:
    session = open_session(str(path), 1)
    encoder = TextEncoder(FILES.tokenizer_path)
    rows = []
    for e in encoder.encode(texts):
        ids, mask = TextEncoder.pad([e.ids])
        rows.append(session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0])
    return np.concatenate(rows)


def test_every_int8_operator_is_replaced_and_the_fp32_graph_is_batch_invariant(exported: tuple[Any, Path]) -> None:
    import onnx

    done, work = exported
    ops = {n.op_type for n in onnx.load(str(work / "dequantized.onnx")).graph.node}
    assert not ops & {"MatMulInteger", "DynamicQuantizeLinear", "QAttention", "QEmbedLayerNormalization"}
    assert {"Attention", "EmbedLayerNormalization"} <= ops and done.replaced["MatMulInteger"] > 0
    assert (done.num_heads, done.hidden_size) == (12, 384)
    session = open_session(str(work / "optimized.onnx"), 1)
    assert is_batch_invariant(lambda i, m: session.run(["logits"], {"input_ids": i, "attention_mask": m})[0])


def test_fp32_and_fp16_agree_with_the_int8_model(exported: tuple[Any, Path]) -> None:
    _, work = exported
    version = FILES.latest_version()
    assert version is not None
    int8, fp32, fp16 = (logits(p, TEXTS) for p in (FILES.onnx_path(version), work / "dequantized.onnx",
                                                   work / "model.onnx"))
    assert fp16.dtype == np.float32 and fp16.shape == (len(TEXTS), 3)
    assert (fp32.argmax(1) == int8.argmax(1)).all()
    assert np.abs(fp16 - fp32).max() < 0.05  # fp16 rounding only


def test_the_export_is_deterministic(exported: tuple[Any, Path], tmp_path: Path) -> None:
    done, _ = exported
    again = gpu_export().export_gpu(done.source, tmp_path / "model.onnx")
    assert again.sha256 == done.sha256


def test_the_export_serves_under_the_stock_gpu_config(exported: tuple[Any, Path]) -> None:
    """What `make gpu-model` writes into the GPU folder has the tensors its Triton config declares (the
    static deploy checks see a generated file only where one was made)."""
    from tests.integration.test_deploy_static import GPU_MODEL_DIR, assert_onnx_matches_config, model_config

    _, work = exported
    assert_onnx_matches_config(work / "model.onnx", model_config(GPU_MODEL_DIR))
