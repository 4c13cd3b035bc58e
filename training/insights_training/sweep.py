"""Recipe sweep: several seeds of several recipes in parallel processes (on one GPU, or the CPU).

Chooses recipes the honest way: by mean validation macro-F1 over seeds (seeds alone move it by
about ±0.004 here); the test column is recorded, never used to choose. It also scores mean-probability
ensembles of the runs, the ceiling for distilling them into one model. A chosen recipe then becomes
TrainConfig's defaults and `make model` trains it reproducibly on the CPU. The model card's sweep rows:
    python -m insights_training.sweep --out build/sweep --workers 12 --seeds 1 2 3 --recipe v3: \
        --recipe lr8:lr=8e-5 --recipe ep3:epochs=3,lr=4e-5 --recipe bs16:batch_size=16,lr=4e-5
(an H100 ran those 12 runs at once in 4 minutes; ``--smoke`` checks the plumbing on a few hundred texts).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from itertools import combinations
from pathlib import Path
from typing import Any

from insights_training.data import Splits, load_splits


def parse_recipe(spec: str) -> tuple[str, dict[str, Any]]:
    """``name:key=value,key=value`` → (name, TrainConfig overrides typed like the defaults)."""
    from insights_training.train import TrainConfig

    name, _, body = spec.partition(":")
    defaults = TrainConfig()
    overrides: dict[str, Any] = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        if key not in {f.name for f in dataclasses.fields(TrainConfig)}:
            raise SystemExit(f"--recipe {spec}: TrainConfig has no field {key!r}")
        kind = type(getattr(defaults, key))
        overrides[key] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return name, overrides


def sweep_splits(smoke: bool) -> Splits:
    splits = load_splits()
    if not smoke:
        return splits
    return dataclasses.replace(splits, train=splits.train[:256], validation=splits.validation[:128],
                               test=splits.test[:128])


def run_one(out_dir: Path, recipe: str, overrides: dict[str, Any], seed: int, smoke: bool) -> dict[str, Any]:
    import numpy as np
    import torch

    from insights_training.metrics import macro_f1
    from insights_training.model import load_tokenizer, predict_logits
    from insights_training.train import META, TrainConfig, load_trained, train

    torch.set_num_threads(1)  # many runs share the machine's cores
    splits = sweep_splits(smoke)
    run_dir = out_dir / f"{recipe}-seed{seed}"
    cfg = TrainConfig(**{**overrides, "seed": seed})
    train(run_dir, cfg, splits)
    meta = json.loads((run_dir / META).read_text())
    model = load_trained(run_dir).to("cuda" if torch.cuda.is_available() else "cpu")
    tok = load_tokenizer(cfg.max_tokens)
    probs = {name: torch.softmax(torch.from_numpy(predict_logits(model, tok, [e.text for e in part])), -1).numpy()
             for name, part in (("validation", splits.validation), ("test", splits.test))}
    test_y = np.array([e.label for e in splits.test])
    return {"recipe": recipe, "overrides": overrides, "seed": seed, "val_raw": meta["val_macro_f1_raw"],
            "val": meta["val_macro_f1"], "test": macro_f1(test_y, probs["test"].argmax(1)),
            "history": cfg.history, "train_seconds": meta["train_seconds"], "device": meta["device"],
            "probs": probs}


def ensemble_f1(runs: list[dict[str, Any]], labels: dict[str, list[int]]) -> tuple[float, float]:
    """Validation and test macro-F1 of the runs' mean probabilities (an upper bound for distilling them)."""
    import numpy as np

    from insights_training.metrics import macro_f1

    val_f1, test_f1 = (macro_f1(labels[name], np.mean([r["probs"][name] for r in runs], axis=0).argmax(1))
                       for name in ("validation", "test"))
    return val_f1, test_f1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--recipe", action="append", required=True, help="name:key=value,... (TrainConfig fields)")
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="a few hundred examples: checks the plumbing only")
    args = parser.parse_args(argv)
    recipes = [parse_recipe(spec) for spec in args.recipe]
    jobs = [(name, overrides, seed) for name, overrides in recipes for seed in args.seeds]
    args.out.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    # spawn: CUDA cannot be shared with forked children.
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool, \
            (args.out / "sweep.jsonl").open("a") as log:
        futures = [pool.submit(run_one, args.out, name, overrides, seed, args.smoke) for name, overrides, seed in jobs]
        for future in as_completed(futures):  # each run is kept as it ends: a cut-short sweep still counts
            result = future.result()
            results.append(result)
            log.write(json.dumps({k: v for k, v in result.items() if k != "probs"}) + "\n")
            log.flush()
            print(f"{result['recipe']} seed {result['seed']}: validation {result['val']:.4f} "
                  f"test {result['test']:.4f} ({result['train_seconds']:.0f} s)", flush=True)
    print("| recipe | overrides | seeds | validation mean (each) | test mean (each) |")
    print("|---|---|---:|---|---|")
    for name, overrides in recipes:
        rows = [r for r in results if r["recipe"] == name]
        val = [r["val"] for r in rows]
        test = [r["test"] for r in rows]
        print(f"| {name} | {overrides or 'defaults'} | {len(rows)} | {statistics.mean(val):.4f} "
              f"({', '.join(f'{v:.4f}' for v in val)}) | {statistics.mean(test):.4f} "
              f"({', '.join(f'{t:.4f}' for t in test)}) |")
    names = [name for name, _ in recipes]
    groups = [[name] for name in names]
    if len(names) > 2:
        groups += [list(pair) for pair in combinations(names, 2)]
    if len(names) > 1:
        groups.append(names)
    splits = sweep_splits(args.smoke)
    labels = {"validation": [e.label for e in splits.validation], "test": [e.label for e in splits.test]}
    print("\n| ensemble (mean probability) | models | validation | test |\n|---|---:|---:|---:|")
    for group in groups:
        runs = [r for r in results if r["recipe"] in group]
        val_f1, test_f1 = ensemble_f1(runs, labels)
        print(f"| {' + '.join(group)} | {len(runs)} | {val_f1:.4f} | {test_f1:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
