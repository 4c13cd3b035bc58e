"""CLI: ``python -m insights_training {all,data,train,export,calibrate,evaluate,card,bench,gpu,per-token-int8}``.

``all`` is train, export, calibrate (the temperature, published next to the weights), evaluate (through the
server's own backend) and the model card; ``card`` rewrites the card alone from the saved reports.

``gpu`` and ``per-token-int8`` need neither torch nor the checkpoint: they rewrite the published int8 file,
into the fp16 GPU repository (insights_training.gpu_export; ``make gpu-model``) or into another CPU graph
of the same weights (insights_training.per_token_int8).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]  # training/insights_training/__main__.py
DEFAULT_WORK = REPO_ROOT / "build" / "sentiment"
DEFAULT_REPO = REPO_ROOT / "model_repository" / "sentiment"
DEFAULT_GPU = REPO_ROOT / "deploy" / "triton-fp16" / "sentiment"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m insights_training", description=__doc__)
    parser.add_argument("step", choices=["all", "data", "train", "export", "calibrate", "evaluate", "card", "bench",
                                         "gpu", "per-token-int8"])
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK,
                        help="checkpoints and fp32 exports (gitignored)")
    parser.add_argument("--repo-dir", type=Path, default=DEFAULT_REPO, help="Triton model folder to publish to")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--gpu-dir", type=Path, default=DEFAULT_GPU,
                        help="gpu: the fp16 Triton model folder to write <version>/model.onnx into")
    parser.add_argument("--version", action="append", default=None,
                        help="gpu: a version of --repo-dir to convert (repeatable; default: every version)")
    parser.add_argument("--keep-fp32", action="store_true",
                        help="gpu: also write the fp32 graphs to <work-dir>/gpu/<version>/ for checks")
    parser.add_argument("--source", type=Path, default=None,
                        help="per-token-int8: the int8 dynamic model to rewrite (default: the published one)")
    parser.add_argument("--output", type=Path, default=None,
                        help="per-token-int8: where the rewritten model goes (default: var/per_token_int8/model.onnx)")
    parser.add_argument("--scheme", choices=["symmetric", "asymmetric", "float", "per-tensor"], default="symmetric",
                        help="per-token-int8: how each row is quantized")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)

    if args.step == "data":
        from insights_training.data import load_splits

        s = load_splits()
        print(f"train={len(s.train)} validation={len(s.validation)} test={len(s.test)} {s.fingerprint()}")
        return 0
    if args.step in ("all", "train"):
        from insights_training.train import TrainConfig, train

        cfg = TrainConfig()
        if args.epochs is not None:
            cfg.epochs = args.epochs
        if args.lr is not None:
            cfg.lr = args.lr
        train(args.work_dir, cfg)
    if args.step in ("all", "export"):
        from insights_training.export import export_all

        export_all(args.work_dir, args.repo_dir)
    if args.step in ("all", "calibrate"):
        from insights_training.evaluate import calibrate

        print(calibrate(args.repo_dir).markdown(), end="")
    if args.step in ("all", "evaluate"):
        from insights_training.evaluate import evaluate_all

        evaluate_all(args.work_dir, args.repo_dir)
    if args.step == "card":
        from insights_training.card import write_card
        from insights_training.data import load_splits

        write_card(args.work_dir, args.repo_dir, load_splits())
    if args.step == "per-token-int8":
        from insights_training.per_token_int8 import DEFAULT_OUTPUT, SERVED, rewrite

        source, output = args.source or SERVED, args.output or DEFAULT_OUTPUT
        summary = rewrite(source, output, args.scheme)
        print(f"{output}: {summary.quantizers} activations quantized per row ({summary.products} products, "
              f"{summary.attentions} attentions), {summary.layer_norms} LayerNorms split, from {source}")
        return 0
    if args.step == "bench":
        from insights_training.bench import run_bench

        run_bench(args.work_dir, args.repo_dir)
    if args.step == "gpu":
        from insights_training.gpu_export import export_gpu_repository

        for done in export_gpu_repository(args.repo_dir, args.gpu_dir, args.version,
                                          args.work_dir / "gpu" if args.keep_fp32 else None):
            print(f"{done.output}: sha256 {done.sha256}, replaced {done.replaced}, fused operators {done.fusions} "
                  f"(new: {done.new_fusions or 'none'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
