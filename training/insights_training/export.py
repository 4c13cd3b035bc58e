"""Export the fine-tuned model to ONNX, optimize it, quantize it to int8 and check it.

Pipeline (all files under the work dir except the published ones):
1. ``model.fp32.onnx``: opset 17, inputs ``input_ids``/``attention_mask`` int64 [batch, seq],
   output ``logits`` float32 [batch, 3] (negative, neutral, positive), dynamic batch and seq axes.
2. ``model.opt.onnx``: ONNX Runtime's transformer optimizer (model_type bert) fuses attention,
   LayerNorm/SkipLayerNorm and GELU; level-0 python fusions only, so the graph stays portable
   across execution providers.
3. ``model.int8.*.onnx``: ``quantize_dynamic`` (int8 weights, dynamic uint8 activations) in four
   variants (per_channel x reduce_range), all scored for the card. The int8 candidate is fixed:
   per channel, reduced range (:data:`INT8_CANDIDATE`); it is served if it loses at most 1 point of
   validation macro-F1 against fp32.
Every step is scored on validation and test, and each ONNX model is compared with PyTorch on the
test texts (identical argmax share, max |probability difference|).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from insights.dev.machine import cpu_model
from insights.inference.calibration import FILE_NAME as CALIBRATION_FILE
from insights.inference.text import MAX_TOKENS
from insights_training import LABELS, MODEL_VERSION
from insights_training.data import Splits, load_splits
from insights_training.metrics import scores
from insights_training.model import SentimentClassifier, load_tokenizer, predict_logits
from insights_training.ort_model import OnnxSentiment, softmax
from insights_training.per_token_int8 import rewrite
from insights_training.train import load_trained

log = logging.getLogger(__name__)

OPSET = 17
NUM_HEADS = 12
HIDDEN = 384
MAX_INT8_VAL_DROP = 0.01
# Reduced range (7-bit weights) keeps int8 products clear of the u8 x s8 saturation of CPUs without VNNI,
# so the served file answers alike on every x86 server. Picking the variant by its validation score instead
# made the choice a coin toss between near-equal variants: `make model` on an Intel Xeon and on an AMD EPYC
# (whose float kernels leave the trained weights a few bits apart) picked int8_pc1_rr1 and int8_pc1_rr0,
# 0.001-0.002 of validation macro-F1 apart.
INT8_CANDIDATE = "int8_pc1_rr1"
EXPORT_REPORT = "export_report.json"
TORCH_TEST_LOGITS = "torch_test_logits.npy"
TORCH_VAL_LOGITS = "torch_val_logits.npy"


def export_fp32(model: SentimentClassifier, path: Path) -> None:
    model.eval()
    ids = torch.tensor([[101, 2023, 2003, 2307, 102], [101, 2919, 102, 0, 0]], dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    # The TorchScript exporter yields the MatMul/Softmax attention pattern that ORT's BERT
    # optimizer recognises; dynamo's output is not reliably fused by it.
    torch.onnx.export(
        model,
        (ids, mask),
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "sequence"},
            "logits": {0: "batch"},
        },
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )


def optimize(src: Path, dst: Path) -> dict[str, int]:
    from onnxruntime.transformers import optimizer

    opt = optimizer.optimize_model(
        str(src), model_type="bert", num_heads=NUM_HEADS, hidden_size=HIDDEN, opt_level=0
    )
    opt.save_model_to_file(str(dst))
    stats: dict[str, int] = {k: int(v) for k, v in opt.get_fused_operator_statistics().items() if v}
    return stats


def quantize(src: Path, dst: Path, per_channel: bool, reduce_range: bool) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        src,
        dst,
        per_channel=per_channel,
        reduce_range=reduce_range,
        weight_type=QuantType.QInt8,
        # Shape inference cannot type the outputs of ORT's fused (com.microsoft) ops.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def compare(ref_logits: npt.NDArray[Any], logits: npt.NDArray[Any]) -> dict[str, float]:
    return {
        "argmax_agreement": float((ref_logits.argmax(1) == logits.argmax(1)).mean()),
        "max_abs_prob_diff": float(np.abs(softmax(ref_logits) - softmax(logits)).max()),
        "mean_abs_prob_diff": float(np.abs(softmax(ref_logits) - softmax(logits)).mean()),
    }


def write_tokenizer(path: Path) -> None:
    """The served tokenizer: the base WordPiece tokenizer, truncating to MAX_TOKENS, no padding."""
    load_tokenizer(MAX_TOKENS).save(str(path))


def export_all(work_dir: Path, repo_dir: Path, splits: Splits | None = None) -> dict[str, Any]:
    splits = splits or load_splits()
    torch.set_num_threads(2)
    work_dir.mkdir(parents=True, exist_ok=True)
    publish_dir = repo_dir / MODEL_VERSION  # other versions stay: they are served beside it for A/B rollouts
    publish_dir.mkdir(parents=True, exist_ok=True)
    tok_path = repo_dir / "tokenizer.json"
    write_tokenizer(tok_path)
    (repo_dir / "labels.json").write_text(json.dumps(list(LABELS)) + "\n")

    val_texts = [e.text for e in splits.validation]
    val_y = np.array([e.label for e in splits.validation])
    test_texts = [e.text for e in splits.test]
    test_y = np.array([e.label for e in splits.test])

    model = load_trained(work_dir)
    tok = load_tokenizer(MAX_TOKENS)
    t0 = time.monotonic()
    torch_val = predict_logits(model, tok, val_texts, batch_size=32)
    torch_test = predict_logits(model, tok, test_texts, batch_size=32)
    np.save(work_dir / TORCH_VAL_LOGITS, torch_val)
    np.save(work_dir / TORCH_TEST_LOGITS, torch_test)
    report: dict[str, Any] = {
        "opset": OPSET,
        "max_tokens": MAX_TOKENS,
        "inputs": ["input_ids", "attention_mask"],
        "output": "logits",
        "models": {
            "pytorch": {
                "validation": scores(val_y, torch_val.argmax(1)),
                "test": scores(test_y, torch_test.argmax(1)),
            }
        },
    }
    log.info("pytorch: val %.4f test %.4f (%.0fs)", report["models"]["pytorch"]["validation"]["macro_f1"],
             report["models"]["pytorch"]["test"]["macro_f1"], time.monotonic() - t0)

    fp32 = work_dir / "model.fp32.onnx"
    opt = work_dir / "model.opt.onnx"
    export_fp32(model, fp32)
    report["fused_ops"] = optimize(fp32, opt)
    log.info("fused operators: %s", report["fused_ops"])

    candidates: dict[str, Path] = {"fp32": fp32, "fp32_optimized": opt}
    for per_channel in (False, True):
        for reduce_range in (False, True):
            name = f"int8_pc{int(per_channel)}_rr{int(reduce_range)}"
            path = work_dir / f"model.{name}.onnx"
            quantize(opt, path, per_channel, reduce_range)
            candidates[name] = path

    for name, path in candidates.items():
        sess = OnnxSentiment(path, tok_path)
        # Texts in the splits are already normalized; normalize_text is idempotent on them.
        val_logits = sess.predict_logits(val_texts)
        test_logits = sess.predict_logits(test_texts)
        np.save(work_dir / f"{name}_test_logits.npy", test_logits)
        report["models"][name] = {
            "file": path.name,
            "size_mb": round(path.stat().st_size / 2**20, 1),
            "validation": scores(val_y, val_logits.argmax(1)),
            "test": scores(test_y, test_logits.argmax(1)),
            "agreement_vs_pytorch_test": compare(torch_test, test_logits),
        }
        m = report["models"][name]
        log.info("%s: %.1f MB val %.4f test %.4f agree %.4f maxdiff %.4f", name, m["size_mb"],
                 m["validation"]["macro_f1"], m["test"]["macro_f1"],
                 m["agreement_vs_pytorch_test"]["argmax_agreement"],
                 m["agreement_vs_pytorch_test"]["max_abs_prob_diff"])

    best_int8 = INT8_CANDIDATE
    fp32_val = report["models"]["fp32_optimized"]["validation"]["macro_f1"]
    int8_val = report["models"][best_int8]["validation"]["macro_f1"]
    served = best_int8 if fp32_val - int8_val <= MAX_INT8_VAL_DROP else "fp32_optimized"
    report["best_int8"] = best_int8
    report["served"] = served
    report["served_reason"] = (
        f"{best_int8} is the int8 candidate (reduced range: the same answers on CPUs with and without VNNI); "
        f"validation macro-F1 {int8_val:.4f} against optimized fp32's {fp32_val:.4f}; int8 is served when it "
        f"loses <= {MAX_INT8_VAL_DROP} of it"
    )
    if served.startswith("int8"):
        # The graph version 4 introduced: each SkipLayerNormalization as Sum + LayerNormalization (same weights
        # and quantization, ~1.4x faster on the CPU). What is published is what evaluate.py then measures.
        rewrite(candidates[served], publish_dir / "model.onnx", "per-tensor")
        report["served_graph"] = "SkipLayerNormalization written as Sum + LayerNormalization"
    else:
        shutil.copyfile(candidates[served], publish_dir / "model.onnx")
    # What this run built, so that the card can say whether the published file is it (``make model`` rebuilds
    # it bit for bit on the CPU model it was built on, not across CPU families: see the card).
    report["published_sha256"] = hashlib.sha256((publish_dir / "model.onnx").read_bytes()).hexdigest()
    report["machine"] = f"{cpu_model()}, {os.cpu_count()} cores"
    # New weights: the previous run's temperature does not describe them (``insights model calibrate --write``,
    # the next step of ``make model``, fits theirs from scratch, so the card's "before" error is theirs too).
    (publish_dir / CALIBRATION_FILE).unlink(missing_ok=True)
    (work_dir / EXPORT_REPORT).write_text(json.dumps(report, indent=2))
    log.info("served: %s -> %s", served, publish_dir / "model.onnx")
    return report
