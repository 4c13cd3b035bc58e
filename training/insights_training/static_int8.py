"""Experiment: static int8 (QDQ) quantization, for a model that is batch-invariant and still int8.

The served int8 model is ``quantize_dynamic``: activation scales are computed per tensor over the whole
batch and its padding, so a text's scores depend on its batch-mates and the server runs it one text at a
time. Static quantization fixes the activation scales at calibration, so a padded batch gives every text
the scores it gets alone, and the server could run real length-bucketed batches.

Steps (``python -m insights_training.static_int8 WORK_DIR``):
1. fp32 from the published int8 file (``int8_weights.classifier_from_int8_onnx``: the weights dequantized,
   so re-quantizing them per channel is nearly exact and mostly the activations' quantization is measured),
   exported and optimized as ``make model`` does (``export.export_fp32``, ``export.optimize``);
2. ``quantize_static`` of the plain export (QDQ around every MatMul, int8 weights per channel, uint8
   activations) with a calibration reader over ``--calibration`` training texts, one text per batch, for
   each calibration method;
3. each candidate: batch invariance (is_batch_invariant, and 64 test texts alone vs in padded batches of
   32), validation and test macro-F1 next to the served model, and texts/s on 1,024 test texts: one text
   per run (how the served model runs) and length-sorted batches of 32 (how an invariant model runs).
The report is ``WORK_DIR/static_int8.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from insights.inference.repository import TextEncoder, is_batch_invariant, plan_buckets
from insights_training.data import load_splits
from insights_training.metrics import scores
from insights_training.ort_model import OnnxSentiment

ROOT = Path(__file__).resolve().parents[2]
SERVED = ROOT / "model_repository" / "sentiment" / "3" / "model.onnx"
TOKENIZER = ROOT / "model_repository" / "sentiment" / "tokenizer.json"


class _Calibration:
    """onnxruntime.quantization's CalibrationDataReader: one training text per batch, unpadded."""

    def __init__(self, ids: list[list[int]]) -> None:
        self._rows: Iterator[list[int]] = iter(ids)

    def get_next(self) -> dict[str, npt.NDArray[np.int64]] | None:
        row = next(self._rows, None)
        if row is None:
            return None
        input_ids = np.array([row], dtype=np.int64)
        return {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids)}


def build_fp32(work: Path) -> tuple[Path, Path]:
    """The plain fp32 export (standard ONNX ops, which the static quantizer can type) and its fused form."""
    from insights_training.export import export_fp32, optimize
    from insights_training.int8_weights import classifier_from_int8_onnx

    fp32, opt = work / "static.fp32.onnx", work / "static.opt.onnx"
    if not opt.exists():
        export_fp32(classifier_from_int8_onnx(SERVED, attn_implementation="eager"), fp32)
        optimize(fp32, opt)
    return fp32, opt


def quantize(fp32: Path, dst: Path, ids: list[list[int]], method: str) -> None:
    """QDQ around every MatMul of the plain graph; ONNX Runtime fuses Q/DQ pairs into integer kernels at
    load (ORT_ENABLE_ALL). The fused graph cannot be used: shape inference cannot type ORT's fused ops."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    quantize_static(
        str(fp32), str(dst), _Calibration(ids), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        calibrate_method=getattr(CalibrationMethod, method), op_types_to_quantize=["MatMul"],
        extra_options={"CalibMovingAverage": method == "MinMax"},
    )


def batched_vs_alone(engine: OnnxSentiment, ids: list[list[int]]) -> float:
    """Largest |logit difference| of a text in padded batches of 32 (split order) against alone."""
    alone = np.concatenate([engine.run_ids([row]) for row in ids])
    together = np.concatenate([engine.run_ids(ids[i : i + 32]) for i in range(0, len(ids), 32)])
    return float(np.abs(alone - together).max())


def throughput(engine: OnnxSentiment, ids: list[list[int]], batched: bool) -> float:
    runs = plan_buckets([len(r) for r in ids], max_rows=32) if batched else [[i] for i in range(len(ids))]
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        for run in runs:
            engine.run_arrays(*TextEncoder.pad([ids[i] for i in run]))
        best = min(best, time.perf_counter() - start)
    return len(ids) / best


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("work", type=Path)
    parser.add_argument("--calibration", type=int, default=1024)
    parser.add_argument("--methods", default="MinMax,Percentile")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    splits = load_splits()
    served = OnnxSentiment(SERVED, TOKENIZER)
    rng = np.random.default_rng(20261202)
    train = [splits.train[i].text for i in rng.choice(len(splits.train), args.calibration, replace=False)]
    calibration = served.encode(train)
    val_texts, val_y = [e.text for e in splits.validation], np.array([e.label for e in splits.validation])
    test_texts, test_y = [e.text for e in splits.test], np.array([e.label for e in splits.test])
    bench = served.encode(test_texts[:1024])
    probe = served.encode(test_texts[:64])

    fp32, opt = build_fp32(args.work)
    candidates = {"served int8 dynamic": SERVED, "fp32 (dequantized, optimized)": opt}
    for method in args.methods.split(","):
        dst = args.work / f"static.{method}.onnx"
        if not dst.exists():
            quantize(fp32, dst, calibration, method)
        candidates[f"int8 static QDQ ({method})"] = dst

    report: dict[str, Any] = {"machine_load_before": os.getloadavg(), "calibration_texts": args.calibration,
                              "models": {}}
    for name, path in candidates.items():
        engine = OnnxSentiment(path, TOKENIZER)
        val = engine.predict_logits(val_texts)
        test = engine.predict_logits(test_texts)
        entry = {
            "file": path.name, "size_mb": round(path.stat().st_size / 2**20, 1),
            "batch_invariant_probe": is_batch_invariant(engine.run_arrays),
            "max_logit_diff_batched_vs_alone": batched_vs_alone(engine, probe),
            "validation_macro_f1": scores(val_y, val.argmax(1))["macro_f1"],
            "test_macro_f1": scores(test_y, test.argmax(1))["macro_f1"],
            "texts_per_s_one_per_run": throughput(engine, bench, batched=False),
            "texts_per_s_bucketed_32": throughput(engine, bench, batched=True),
        }
        report["models"][name] = entry
        print(name, json.dumps(entry), flush=True)
    report["machine_load_after"] = os.getloadavg()
    (args.work / "static_int8.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
